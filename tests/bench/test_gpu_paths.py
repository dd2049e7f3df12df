"""The GPU code paths of hubtune's training loop (bf16 autocast, torch.compile, channels_last,
fused AdamW), each run through ``hubtune.training.trainer.Trainer``.

Every test runs on the CPU with CPU settings (fp32 or CPU bf16 autocast, compile of a tiny
model) and again on CUDA with the GPU settings; the CUDA cases are marked ``gpu`` and skipped
with the reason "needs CUDA" where no GPU exists.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.hubtune_engine import LoopSettings, build_trainer, run_hubtune  # noqa: E402
from bench.synthetic import make_batch, synthetic_bundle  # noqa: E402
from bench.workloads import Workload  # noqa: E402

CUDA = pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(),
                                                                         reason="needs CUDA")])
DEVICES = ["cpu", CUDA]
TINY_CNN = Workload("tiny_cnn", "vision", "test_resnet", batch_size=4, image_size=32)
TINY_VIT = Workload("tiny_vit", "vision", "test_vit", batch_size=4, image_size=32, timm_kwargs={"img_size": 32})


def settings(**kw) -> LoopSettings:
    base = {"precision": "no", "compile": False, "channels_last": False, "steps": 2, "windows": 1}
    return LoopSettings(**{**base, **kw})


def trainer_for(w: Workload, s: LoopSettings, device: str, tmp_path: Path):
    return build_trainer(w, s, synthetic_bundle(w, s.total_steps), tmp_path, torch.device(device))


def device_batch(w: Workload, trainer) -> dict[str, torch.Tensor]:
    return {k: v.to(trainer.accelerator.device) for k, v in make_batch(w).items()}


@pytest.mark.parametrize("device", DEVICES)
def test_bf16_autocast_training_step(device: str, tmp_path: Path) -> None:
    """``train.precision: bf16``: the prepared model computes in bf16 and a step trains finitely."""
    trainer = trainer_for(TINY_VIT, settings(precision="bf16"), device, tmp_path)
    seen = []
    head = trainer.accelerator.unwrap_model(trainer.model).head
    handle = head.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    trainer.model(device_batch(TINY_VIT, trainer))  # Accelerate casts the returned logits back to fp32
    handle.remove()
    assert seen == [torch.bfloat16]
    before = [p.detach().clone() for p in trainer.model.parameters()]
    state = trainer.fit()
    assert state.global_step == 4
    assert all(torch.isfinite(torch.tensor(row["train_loss"])) for row in state.history if "train_loss" in row)
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, trainer.model.parameters(), strict=True))
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())  # master weights stay fp32


@pytest.mark.parametrize("device", DEVICES)
def test_channels_last_model(device: str, tmp_path: Path) -> None:
    """``train.channels_last``: 4-d conv weights are channels_last and training runs."""
    trainer = trainer_for(TINY_CNN, settings(channels_last=True), device, tmp_path)
    convs = [p for p in trainer.model.parameters() if p.ndim == 4 and p.shape[-1] > 1]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    assert trainer.fit().global_step == 4


def test_compile_tiny_model_cpu(tmp_path: Path) -> None:
    """``train.compile`` on the CPU (hubtune's tiny digits MLP compiles in seconds)."""
    w = Workload("tiny_mlp", "vision", "mlp", batch_size=8, image_size=8, channels=1,
                 backbone={"source": "custom", "name": "hubtune.backbones.small:mlp", "kwargs": {"in_features": 64, "hidden": [16]}})
    trainer = trainer_for(w, settings(compile=True), "cpu", tmp_path)
    assert hasattr(trainer.accelerator.unwrap_model(trainer.model), "_compiled_call_impl")
    assert trainer.fit().global_step == 4


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_compile_channels_last_bf16_cuda(tmp_path: Path) -> None:
    """The full GPU setting on a CNN: compile + channels_last + bf16, through hubtune's Trainer."""
    s = settings(precision="bf16", compile=True, channels_last=True, steps=3)
    result = run_hubtune(TINY_CNN, s, torch.device("cuda"), synthetic_bundle(TINY_CNN, s.total_steps))
    assert result.samples_per_s > 0 and result.peak_mem_mib and result.peak_mem_mib > 0


@pytest.mark.parametrize("device", DEVICES)
def test_fused_adamw_on_cuda_and_cpu(device: str, tmp_path: Path) -> None:
    """hubtune builds torch's fused AdamW on CUDA and on the CPU (where it is ~8× the foreach step)."""
    trainer = trainer_for(TINY_CNN, settings(), device, tmp_path)
    optimizer = trainer.optimizer.optimizer  # under Accelerate's wrapper
    assert isinstance(optimizer, torch.optim.AdamW)
    assert optimizer.defaults.get("fused") is True


@pytest.mark.parametrize("name", ["adamw", "adam", "sgd"])
def test_every_optimizer_is_fused_on_cpu_and_steps_like_the_reference(name: str) -> None:
    """The fused step gives the same update as torch's reference (for-loop) implementation."""
    from hubtune.recipe import TrainConfig
    from hubtune.training.optim import build_optimizer

    torch.manual_seed(0)
    start, grad = torch.randn(64), torch.randn(64)
    fused_p, ref_p = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
    fused = build_optimizer([{"params": [fused_p]}], TrainConfig(optimizer=name, lr=0.1), torch.device("cpu"))
    ref_cls = type(fused)
    skip = ("fused", "foreach", "decoupled_weight_decay")
    ref = ref_cls([ref_p], foreach=False, **{k: v for k, v in fused.defaults.items() if k not in skip})
    assert fused.defaults["fused"] is True
    for _ in range(3):
        for p, opt in ((fused_p, fused), (ref_p, ref)):
            p.grad = grad.clone()
            opt.step()
    assert not torch.equal(fused_p.detach(), start)
    torch.testing.assert_close(fused_p.detach(), ref_p.detach(), rtol=1e-5, atol=1e-6)
