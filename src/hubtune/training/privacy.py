"""Differentially private fine-tuning (DP-SGD) on Opacus, attached to the :class:`Trainer`.

:func:`prepare_private_model` runs before the optimizer is built (BatchNorm → GroupNorm,
frozen transformer embeddings); :func:`attach_privacy` wraps the trainer's optimizer in an
Opacus ``DPOptimizer`` (per-sample clipping, Gaussian noise) with per-sample-gradient hooks
(``GradSampleModule``) and an accountant, and :class:`PrivateTraining` runs the epochs:
Poisson-sampled logical batches of ``batch_size × grad_accum`` (expected) examples, split into
physical batches by Opacus's ``BatchMemoryManager`` so the noise is added once per logical
batch. Each epoch's batches are a function of ``(seed, epoch)``, and the accountant's history
and the noise generator are saved in checkpoints: a resumed run continues the same batches and
noise and reports the same ε. In a multi-process run every process takes its share of the same
logical batches and Opacus's distributed DP optimizer adds the noise once (rank 0) and averages:
the same ε and, up to float summation order, the same weights as one process. ``clipping: ghost``
uses Opacus's ghost clipping (per-sample gradient norms, no per-sample gradients).
"""

from __future__ import annotations

import base64
import contextlib
import math
import time
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from opacus import GradSampleModule
from opacus.accountants import create_accountant
from opacus.accountants.utils import get_noise_multiplier
from opacus.grad_sample import GradSampleModuleFastGradientClipping
from opacus.optimizers import get_optimizer_class
from opacus.utils.batch_memory_manager import BatchMemoryManager
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import DataLoader

from hubtune.errors import CheckpointError, RecipeError
from hubtune.privacy_schema import PrivacyConfig
from hubtune.training.privacy_data import AllowEmpty, RankShare, Skip, collate_or_none, logical_batches

# ------------------------------------------------------------------ model surgery


def _trainable(module: nn.Module) -> bool:
    return any(p.requires_grad for p in module.parameters(recurse=False))


def prepare_private_model(model: nn.Module, cfg: PrivacyConfig) -> list[str]:
    """Make ``model`` fit DP-SGD in place; returns the names of the BatchNorm layers frozen.

    A training-mode BatchNorm normalises with the batch's statistics, so each example's output
    depends on the others. With ``batchnorm: freeze`` (default) trainable BatchNorm layers are
    frozen and run in eval mode (their pretrained statistics: a fixed per-example affine map),
    which keeps the exported model native; ``refuse`` stops the run instead. (Opacus's GroupNorm
    replacement is not used: plain timm could not load the result.) Transformer embeddings
    freeze unless ``train_embeddings``."""
    if getattr(model, "family", None) == "transformers" and not cfg.train_embeddings:
        for name, p in model.named_parameters():
            if ".embeddings." in name:
                p.requires_grad_(False)
    targets = [(n, m) for n, m in model.named_modules() if isinstance(m, _BatchNorm) and _trainable(m)]
    if targets and cfg.batchnorm == "refuse":
        raise RecipeError(f"privacy.batchnorm: the model has {len(targets)} trainable BatchNorm layer(s) "
                          f"({targets[0][0]}, ...), which mix the examples of a batch; set privacy.batchnorm: "
                          "freeze (pretrained statistics, frozen affine) or use linear_probe / peft")
    for _, bn in targets:
        for p in bn.parameters(recurse=False):
            p.requires_grad_(False)
    return [n for n, _ in targets]


def eval_frozen_batchnorm(model: nn.Module) -> None:
    """Frozen BatchNorm layers use their running statistics (a per-example function) in training.

    Buffers are not parameters: without this, train mode would also update the running statistics
    from the private batches outside the DP accounting."""
    for m in model.modules():
        if isinstance(m, _BatchNorm) and not _trainable(m):
            m.eval()


@contextlib.contextmanager
def _quiet_rdp() -> Iterator[None]:
    """Silence Opacus's 'optimal order is the largest/smallest alpha' (a looser but valid RDP bound)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order is the (largest|smallest) alpha")
        yield


def _solve_noise(cfg: PrivacyConfig, delta: float, sample_rate: float, steps: int) -> float:
    """σ that spends ``cfg.target_epsilon`` in ``steps`` steps (Opacus's search, within 0.01 of ε)."""
    with _quiet_rdp():
        return float(get_noise_multiplier(target_epsilon=cfg.target_epsilon, target_delta=delta,
                                          sample_rate=sample_rate, steps=steps, accountant=cfg.accountant,
                                          epsilon_tolerance=0.01))


PRV_MAX_RDP_EPSILON = 500.0  # beyond this RDP bound Opacus's PRV accountant slows to minutes (σ ≈ 0.1: > 2 min)


def check_accountable(cfg: PrivacyConfig, noise_multiplier: float, sample_rate: float, steps: int,
                      delta: float) -> None:
    """Refuse a given ``noise_multiplier`` so small that the PRV accountant would stall on its ε."""
    from opacus.accountants import RDPAccountant

    if cfg.accountant != "prv" or cfg.noise_multiplier is None:
        return
    rdp = RDPAccountant()
    rdp.history = [(noise_multiplier, sample_rate, steps)]
    with _quiet_rdp():
        bound = float(rdp.get_epsilon(delta=delta))
    if bound > PRV_MAX_RDP_EPSILON:
        raise RecipeError(f"privacy.noise_multiplier {noise_multiplier:g} over {steps} steps at sample rate "
                          f"{sample_rate:.3g} spends ε ≈ {bound:.0f} (RDP bound): no meaningful guarantee, and "
                          "Opacus's PRV accountant takes minutes on an ε this large; raise "
                          "privacy.noise_multiplier or set privacy.accountant: rdp")


def grad_sample_module(module: nn.Module, cfg: PrivacyConfig) -> nn.Module:
    """Opacus's per-sample-gradient hooks on ``module``: per-sample gradients (``flat``, ``per_layer``),
    or only per-sample gradient norms (``ghost``: ghost clipping, no per-sample gradient is stored)."""
    if cfg.clipping != "ghost":
        return GradSampleModule(module, batch_first=True, loss_reduction="mean", strict=False)
    return GradSampleModuleFastGradientClipping(module, batch_first=True, loss_reduction="mean", strict=False,
                                                max_grad_norm=cfg.max_grad_norm, use_ghost_clipping=True)


def dp_optimizer(inner: torch.optim.Optimizer, cfg: PrivacyConfig, noise_multiplier: float,
                 expected_batch_size: int, *, distributed: bool = False, generator: Any = None) -> Any:
    """Opacus's DP optimizer around ``inner``: clip each example's gradient to C (``flat``, ``ghost``),
    or each of the k trainable tensors to C/sqrt(k) (``per_layer``, so the whole stays within C), sum,
    add N(0, (σC)²) noise (drawn from ``generator``), divide by the expected batch size. Needs
    :func:`grad_sample_module` hooks (``loss_reduction="mean"``). ``distributed``: this process holds
    ``expected_batch_size`` of the logical batch; the noise is added on rank 0 only and the gradients
    are averaged over the processes (Opacus's ``DistributedDPOptimizer``)."""
    params = [p for g in inner.param_groups for p in g["params"] if p.requires_grad]
    norm: Any = cfg.max_grad_norm
    if cfg.clipping == "per_layer":
        norm = [norm / math.sqrt(len(params))] * len(params)
    ghost = cfg.clipping == "ghost"
    cls = get_optimizer_class(clipping="flat" if ghost else cfg.clipping, distributed=distributed,
                              grad_sample_mode="ghost" if ghost else "hooks")
    return cls(inner, noise_multiplier=noise_multiplier, max_grad_norm=norm,
               expected_batch_size=expected_batch_size, loss_reduction="mean", generator=generator)


def per_sample_losses(loss: Any, logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    """Each example's loss (``loss`` is a head's batch-mean loss): the DP step's per-example objective."""
    return torch.stack([loss(logits[i:i + 1], labels[i:i + 1], label_smoothing) for i in range(len(labels))])


def ghost_backward(gsm: nn.Module, optimizer: Any, losses: torch.Tensor) -> None:
    """Opacus's ghost-clipping backward of the mean of per-sample ``losses``: a first pass for the
    per-sample gradient norms, a second for the clipped gradient (summed into ``p.grad``)."""
    from opacus.utils.fast_gradient_clipping_utils import DPTensorFastGradientClipping

    DPTensorFastGradientClipping(gsm, optimizer, losses, loss_reduction="mean").backward()


def _rng_state(generator: torch.Generator) -> str:
    return base64.b64encode(generator.get_state().numpy().tobytes()).decode()


def _set_rng_state(generator: torch.Generator, state: str) -> None:
    raw = bytearray(base64.b64decode(state))
    generator.set_state(torch.frombuffer(raw, dtype=torch.uint8).clone())


# ------------------------------------------------------------------ training


class PrivateTraining:
    """The DP parts of one run: per-sample gradients, the DP optimizer, sampler and accountant."""

    def __init__(self, trainer: Any) -> None:
        cfg: PrivacyConfig = trainer.recipe.privacy
        acc, train = trainer.accelerator, trainer.recipe.train
        self.trainer, self.cfg = trainer, cfg
        if acc.distributed_type.name in ("FSDP", "DEEPSPEED", "MEGATRON_LM", "XLA"):
            raise RecipeError(f"privacy: {acc.distributed_type.name} is not supported with DP-SGD (per-sample "
                              "gradients need whole parameters); launch plain data-parallel processes (DDP)")
        # train.batch_size is per process (Accelerate's convention): the logical batch spans the processes
        self.world, self.rank = acc.num_processes, acc.process_index
        self.num_examples = len(trainer.train_set)
        self.logical_batch = train.batch_size * train.grad_accum * self.world
        self.sample_rate = min(1.0, self.logical_batch / self.num_examples)
        self.steps_per_epoch = trainer.steps_per_epoch
        self.delta = cfg.delta if cfg.delta is not None else 1.0 / (10 * self.num_examples)
        self.noise_multiplier = cfg.noise_multiplier or _solve_noise(cfg, self.delta, self.sample_rate,
                                                                     trainer.total_steps)
        check_accountable(cfg, self.noise_multiplier, self.sample_rate, trainer.total_steps, self.delta)
        self.accountant = create_accountant(mechanism=cfg.accountant)
        self.module = acc.unwrap_model(trainer.model)
        self.gsm = grad_sample_module(self.module, cfg)
        # the noise has its own seeded generator (saved in checkpoints): the same draws in 1 or N processes
        self.noise_rng = torch.Generator(device=acc.device).manual_seed(trainer.recipe.seed * 1_000_003 + 17)
        self.optimizer = dp_optimizer(trainer.optimizer.optimizer, cfg, self.noise_multiplier,
                                      self.logical_batch // self.world, distributed=self.world > 1,
                                      generator=self.noise_rng)
        self.optimizer.attach_step_hook(self.accountant.get_optimizer_hook_fn(sample_rate=self.sample_rate))
        self.scheduler = trainer.scheduler.scheduler  # built for num_processes calls per step

    # -------------------------------------------------------------- data
    def _loader(self, epoch: int, skip: int) -> DataLoader:
        t = self.trainer
        t.train_set.set_epoch(epoch)
        sampler = logical_batches(self.num_examples, self.sample_rate, self.logical_batch, self.steps_per_epoch,
                                  t.recipe.seed, epoch, self.cfg.poisson_sampling)
        if self.world > 1:
            sampler = RankShare(sampler, self.rank, self.world)
        return DataLoader(AllowEmpty(t.train_set), batch_sampler=Skip(sampler, skip) if skip else sampler,
                          collate_fn=collate_or_none(t.data.collate_fn), num_workers=t.recipe.data.num_workers,
                          generator=torch.Generator().manual_seed(t.recipe.seed))  # not the global RNG: exact resume

    # -------------------------------------------------------------- loop
    def train_epoch(self, bar: Any) -> None:
        """One epoch of DP-SGD; logs ε at its end (progress bar, trackers, history)."""
        t = self.trainer
        # processes draw different numbers of physical batches: forward the bare module (no DDP
        # gradient hooks); the DP optimizer averages the clipped, noised sums once per logical batch
        wrapped, t.model = t.model, self.module
        try:
            self._epoch(bar)
        finally:
            t.model = wrapped
        self._log_epsilon(bar)

    def _epoch(self, bar: Any) -> None:
        t, st = self.trainer, self.trainer.state
        t.model.train()
        eval_frozen_batchnorm(t.model)
        loader = self._loader(st.epoch, st.batch_in_epoch)
        seen, t0 = 0, time.perf_counter()
        with BatchMemoryManager(data_loader=loader, max_physical_batch_size=t.cfg.batch_size,
                                optimizer=self.optimizer) as batches:
            for batch in batches:
                seen += self._physical_step(batch)
                if self.optimizer._is_last_step_skipped:
                    continue
                st.batch_in_epoch += 1
                st.global_step += 1
                for _ in range(self.world):
                    self.scheduler.step()
                bar.update(1)
                if st.global_step % t.cfg.log_every == 0:
                    t._log_train(bar, seen, t0)
                    seen, t0 = 0, time.perf_counter()
                t._checkpoint_or_stop(end_of_epoch=st.batch_in_epoch >= self.steps_per_epoch)
                if st.global_step >= t.total_steps:
                    break
        st.batch_in_epoch = 0

    def _physical_step(self, batch: Any) -> int:
        t, ghost = self.trainer, self.cfg.clipping == "ghost"
        if batch is None:
            for p in self.optimizer.params:
                if ghost:
                    p.grad = torch.zeros_like(p)
                else:
                    p.grad_sample = torch.zeros((0, *p.shape), device=p.device, dtype=p.dtype)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            return 0
        batch = {k: v.to(t.accelerator.device) if torch.is_tensor(v) else v for k, v in batch.items()}
        with t.accelerator.autocast():  # each example's own loss: a batch-wide token mean would make one
            # example's gradient depend on the others' token counts, outside the per-example sensitivity bound
            losses = per_sample_losses(t.spec.loss, t.model(batch), batch["labels"], t.cfg.label_smoothing)
            loss = losses.mean()
        with warnings.catch_warnings():  # torch warns when the first trainable layer's input needs no grad
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            if ghost:
                ghost_backward(self.gsm, self.optimizer, losses)
            else:
                loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        t._loss_sum += loss.detach()
        t._loss_batches += 1
        return int(next(iter(batch.values())).shape[0])

    def epsilon(self) -> float:
        """ε spent so far at this run's δ (0 before the first step)."""
        if not self.accountant.history:
            return 0.0
        with _quiet_rdp():
            return float(self.accountant.get_epsilon(delta=self.delta))

    def _log_epsilon(self, bar: Any) -> None:
        t, st = self.trainer, self.trainer.state
        eps = self.epsilon()
        st.history.append({"epoch": st.epoch + 1, "step": st.global_step, "split": "privacy", "epsilon": eps})
        t.accelerator.log({"privacy/epsilon": eps}, step=st.global_step)
        bar.set_postfix(epsilon=f"{eps:.3f}")
        t.accelerator.print(f"epoch {st.epoch + 1}: epsilon={eps:.4f} (delta={self.delta:.2g})")

    # -------------------------------------------------------------- state
    def summary(self) -> dict[str, Any]:
        """What the card and ``metrics.json`` state about the guarantee."""
        return {"epsilon": self.epsilon(), "delta": self.delta, "accountant": self.cfg.accountant,
                "noise_multiplier": self.noise_multiplier, "max_grad_norm": self.cfg.max_grad_norm,
                "clipping": self.cfg.clipping, "sample_rate": self.sample_rate,
                "steps": sum(int(h[2]) for h in self.accountant.history), "epochs": self.trainer.state.epoch,
                "logical_batch": self.logical_batch, "processes": self.world, "num_examples": self.num_examples,
                "poisson_sampling": self.cfg.poisson_sampling, "target_epsilon": self.cfg.target_epsilon,
                "accountant_history": [list(h) for h in self.accountant.history]}

    def state_dict(self) -> dict[str, Any]:
        return {**self.summary(), "noise_rng": _rng_state(self.noise_rng)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the accountant; refuse a resume whose data or sampling changed."""
        if not state:
            raise CheckpointError("the checkpoint has no privacy state: it was not written by a DP run; "
                                  "start again without --resume")
        for key in ("num_examples", "sample_rate", "noise_multiplier"):
            if not math.isclose(float(state[key]), float(getattr(self, key)), rel_tol=1e-9):
                raise CheckpointError(f"privacy: {key} was {state[key]} in the checkpoint and is "
                                      f"{getattr(self, key)} now (data.max_train_samples, batch size or privacy "
                                      "settings changed); resume with the original recipe or start again")
        self.accountant.history = [tuple(h) for h in state["accountant_history"]]
        if state.get("noise_rng"):
            _set_rng_state(self.noise_rng, state["noise_rng"])


def attach_privacy(trainer: Any) -> PrivateTraining:
    """Wrap the trainer's model and optimizer for DP-SGD (call after its optimizer is built)."""
    return PrivateTraining(trainer)
