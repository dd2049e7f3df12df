"""Differentially private fine-tuning (issue 15): clipping, noise, accounting, refusals, resume, audit."""

from __future__ import annotations

import json
import math
import signal
from pathlib import Path

import pytest
import torch
from opacus import GradSampleModule
from torch import nn
from training_helpers import (
    assert_bitwise_equal,
    cli_env,
    hubtune_cmd,
    mlp_recipe,
    run_until_checkpoint,
    train_in_process,
)

from hubtune.errors import RecipeError
from hubtune.privacy_schema import PrivacyConfig
from hubtune.training.privacy import dp_optimizer, eval_frozen_batchnorm, prepare_private_model
from hubtune.validation import recipe_from_dict
from tiny_recipes import TINY_MLP

DP = {"noise_multiplier": 1.1, "max_grad_norm": 1.0, "accountant": "rdp"}


def _linear_step(x: torch.Tensor, t: torch.Tensor, cfg: PrivacyConfig, sigma: float) -> torch.Tensor:
    """One DP step of y = w·x (w = 0) under squared loss; returns the gradient the optimizer applied."""
    model = nn.Linear(x.shape[1], 1, bias=False)
    nn.init.zeros_(model.weight)
    gsm = GradSampleModule(model, loss_reduction="mean")
    opt = dp_optimizer(torch.optim.SGD(model.parameters(), lr=0.0), cfg, sigma, expected_batch_size=len(x))
    loss = 0.5 * ((gsm(x).squeeze(1) - t) ** 2).mean()
    with pytest.warns(UserWarning, match="Full backward hook"):  # x needs no grad: expected, harmless
        loss.backward()
    opt.step()
    return model.weight.grad.detach().clone().squeeze(0)


@pytest.mark.parametrize("clipping", ["flat", "per_layer"])
def test_per_sample_clipping_bounds_each_example(clipping: str) -> None:
    # with w = 0 each example's gradient is -t·x: (-3, -4) (norm 5) and (-0.3, -0.4) (norm 0.5)
    x, t = torch.tensor([[3.0, 4.0], [0.3, 0.4]]), torch.ones(2)
    cfg = PrivacyConfig(noise_multiplier=1.0, max_grad_norm=1.0, clipping=clipping)
    applied = _linear_step(x, t, cfg, sigma=0.0)
    # clipped to norm 1: (-0.6, -0.8); the small one is unchanged; mean over the batch of 2
    assert torch.allclose(applied, torch.tensor([-0.45, -0.6]), atol=1e-5)
    unclipped = -(t[:, None] * x).mean(0)
    assert not torch.allclose(applied, unclipped, atol=1e-2)


@pytest.mark.parametrize("clipping", ["flat", "per_layer"])
def test_noise_std_is_sigma_times_clip(clipping: str) -> None:
    torch.manual_seed(0)
    sigma, clip, batch = 0.7, 2.5, 8
    cfg = PrivacyConfig(noise_multiplier=sigma, max_grad_norm=clip, clipping=clipping)
    x, t = torch.randn(batch, 2000), torch.zeros(batch)  # w = 0, target 0: every per-sample gradient is zero
    noise = torch.cat([_linear_step(x, t, cfg, sigma) * batch for _ in range(10)])
    assert abs(float(noise.mean())) < 0.05 * sigma * clip
    assert float(noise.std()) == pytest.approx(sigma * clip, rel=0.03)


def _tiny(**privacy) -> dict:
    return {**TINY_MLP, "privacy": privacy}


@pytest.mark.parametrize(("patch", "key"), [
    ({"strategy": {"type": "lp_ft"}}, "strategy.type"),
    ({"train": {"group_by_length": True}}, "train.group_by_length"),
    ({"train": {"precision": "fp16"}}, "train.precision"),
    ({"train": {"compile": True}}, "train.compile"),
    ({"strategy": {"type": "linear_probe", "freeze_bn": False}}, "strategy.freeze_bn"),
    ({"adaptation": {"method": "mmd", "target": {"format": "digits"}}}, "adaptation"),
    ({"data": {"validation": "train"}, "eval": {"early_stopping": {"metric": "loss"}}}, "eval.early_stopping"),
])
def test_refused_combinations(patch: dict, key: str) -> None:
    from hubtune.recipe_yaml import deep_merge

    def problems(data: dict) -> set[str]:
        try:
            recipe_from_dict(data)
        except RecipeError as e:
            return {p for p in e.problems if p.startswith(key)}
        return set()

    plain = deep_merge(TINY_MLP, patch)
    assert problems({**plain, "privacy": DP}) - problems(plain), "refused only because of the privacy block"


def test_privacy_block_schema() -> None:
    with pytest.raises(RecipeError, match=r"exactly one of privacy\.target_epsilon"):
        recipe_from_dict(_tiny(max_grad_norm=1.0))
    with pytest.raises(RecipeError, match="exactly one"):
        recipe_from_dict(_tiny(target_epsilon=3, noise_multiplier=1.0))
    with pytest.raises(RecipeError, match=r"privacy\.clipping"):
        recipe_from_dict(_tiny(target_epsilon=3, clipping="ghostly"))
    assert recipe_from_dict(_tiny(target_epsilon=3)).privacy.poisson_sampling is True
    with pytest.raises(RecipeError, match=r"privacy\.target_epsilon 80 with the prv accountant.*accountant: rdp"):
        recipe_from_dict(_tiny(target_epsilon=80))
    assert recipe_from_dict(_tiny(target_epsilon=80, accountant="rdp")).privacy.target_epsilon == 80


def test_a_noise_multiplier_the_prv_accountant_cannot_account_is_refused(tmp_path: Path, capsys) -> None:
    """σ = 0.05 over 20 steps at q = 0.1: ε in the thousands, where Opacus's PRV accountant stalls for
    minutes; the run stops at once (exit 2) naming the fix, and the same σ runs with the RDP accountant."""
    out = tmp_path / "out"
    path = mlp_recipe(tmp_path, out, train={"epochs": 1, "checkpoint_every": None, "batch_size": 32},
                      privacy={"noise_multiplier": 0.05, "accountant": "prv"})
    assert train_in_process(str(path)) == 2
    err = capsys.readouterr().err
    assert "privacy.noise_multiplier 0.05" in err and "set privacy.accountant: rdp" in err
    assert not any(out.glob("*"))  # nothing written
    assert train_in_process(str(path), "privacy.accountant=rdp") == 0
    assert _privacy(out)["epsilon"] > 500


def test_refusal_exits_2_before_any_weight_loads(tmp_path: Path, capsys) -> None:
    from hubtune.cli import main

    out = tmp_path / "out"
    # a timm name that cannot load offline: validation must stop first, naming the privacy problem
    path = mlp_recipe(tmp_path, out, backbone={"source": "timm", "name": "no_such_model_anywhere", "kwargs": {}},
                      strategy={"type": "layer_decay"}, privacy=DP)
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert "strategy.type: 'layer_decay' is not supported with privacy" in err
    assert not out.exists()


def test_trainable_batchnorm_is_frozen_at_its_statistics_or_refused() -> None:
    import timm

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=2, drop_rate=0.0)
    x = torch.randn(2, 3, 32, 32)
    bns = [n for n, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    with pytest.raises(RecipeError, match=r"privacy\.batchnorm"):
        prepare_private_model(model, PrivacyConfig(noise_multiplier=1, batchnorm="refuse"))
    assert prepare_private_model(model, PrivacyConfig(noise_multiplier=1)) == bns and len(bns) > 10
    assert not any(p.requires_grad for n in bns for p in model.get_submodule(n).parameters())
    assert model.conv_stem.weight.requires_grad
    other = torch.cat([x[:1], torch.randn(3, 3, 32, 32)])  # the same first example among other companions
    model.train()
    assert not torch.allclose(model(x)[:1], model(other)[:1], atol=1e-3)  # train-mode BatchNorm mixes the batch
    eval_frozen_batchnorm(model)
    assert torch.allclose(model(x)[:1], model(other)[:1], rtol=1e-4, atol=1e-4)  # now each example stands alone


def test_frozen_batchnorm_stays_and_runs_in_eval_mode() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(2))
    model(torch.randn(2, 3, 8, 8))
    for p in model[:2].parameters():
        p.requires_grad_(False)
    assert prepare_private_model(model, PrivacyConfig(noise_multiplier=1)) == []
    model.train()
    eval_frozen_batchnorm(model)
    assert not model[1].training and model[3].training


def _privacy(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())["privacy"]


def test_reported_epsilon_is_the_accountants(tmp_path: Path) -> None:
    from opacus.accountants import PRVAccountant
    from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent

    path = mlp_recipe(tmp_path, tmp_path / "out", train={"epochs": 2, "grad_accum": 2, "batch_size": 16,
                                                         "checkpoint_every": None, "deterministic": False,
                                                         "trackers": ["tensorboard"]},
                      privacy={"target_epsilon": 2.0, "accountant": "rdp"})
    assert train_in_process(str(path)) == 0
    p = _privacy(tmp_path / "out")
    history = json.loads((tmp_path / "out" / "metrics.json").read_text())["history"]
    steps = max(r["step"] for r in history)
    assert p["steps"] == steps == 2 * math.ceil(math.ceil(p["num_examples"] / 16) / 2)
    assert p["num_examples"] == 320 and p["sample_rate"] == pytest.approx(32 / 320)  # max_train_samples
    assert p["delta"] == pytest.approx(1 / 3200)
    orders = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))
    rdp = compute_rdp(q=32 / 320, noise_multiplier=p["noise_multiplier"], steps=steps, orders=orders)
    eps, _ = get_privacy_spent(orders=orders, rdp=rdp, delta=1 / 3200)
    assert p["epsilon"] == pytest.approx(eps, rel=1e-9)
    assert 1.95 <= p["epsilon"] <= 2.0  # σ was solved for the target over the whole run
    per_epoch = [r["epsilon"] for r in history if r.get("split") == "privacy"]
    assert len(per_epoch) == 2 and 0 < per_epoch[0] < per_epoch[1] == pytest.approx(p["epsilon"])
    assert _tensorboard_epsilons(tmp_path / "out") == pytest.approx(per_epoch, rel=1e-6)
    prv = PRVAccountant()
    prv.history = [(p["noise_multiplier"], 32 / 320, steps)]
    assert prv.get_epsilon(delta=1 / 3200) < eps  # the PRV bound is the tighter one, as expected
    card = (tmp_path / "out" / "README.md").read_text()
    assert f"ε = {p['epsilon']:.3g}" in card and "does not cover the public pretraining data" in card


def _tensorboard_epsilons(out: Path) -> list[float]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    values = []
    for events in sorted(out.glob("runs/**/events.out.tfevents.*")):
        acc = EventAccumulator(str(events))
        acc.Reload()
        if "privacy/epsilon" in acc.Tags()["scalars"]:
            values += [e.value for e in acc.Scalars("privacy/epsilon")]
    return values


def test_sigkill_then_resume_gives_the_same_epsilon(tmp_path: Path) -> None:
    common = {"train": {"epochs": 3, "checkpoint_every": 3, "batch_size": 16}, "privacy": DP}
    ref = mlp_recipe(tmp_path, tmp_path / "ref", **common)
    assert train_in_process(str(ref)) == 0
    path = mlp_recipe(tmp_path, tmp_path / "killed", **common)
    done = run_until_checkpoint(hubtune_cmd("train", str(path)), tmp_path / "killed" / "checkpoints", 22,
                                signal.SIGKILL, tmp_path, env=cli_env())
    assert done.returncode == -signal.SIGKILL and done.signalled_at % 20 != 0  # killed; resumed mid-epoch
    assert train_in_process(str(path), "--resume") == 0
    a, b = _privacy(tmp_path / "ref"), _privacy(tmp_path / "killed")
    assert b["accountant_history"] == a["accountant_history"] and b["steps"] == a["steps"] == 60
    assert b["epsilon"] == a["epsilon"]
    assert_bitwise_equal(tmp_path / "ref" / "model.safetensors", tmp_path / "killed" / "model.safetensors")


def test_resume_refuses_changed_data(tmp_path: Path, capsys) -> None:
    path = mlp_recipe(tmp_path, tmp_path / "out", train={"epochs": 1, "checkpoint_every": None}, privacy=DP)
    assert train_in_process(str(path)) == 0
    assert train_in_process(str(path), "data.max_train_samples=200", "train.epochs=2", "--resume") == 2
    assert "num_examples was 320 in the checkpoint" in capsys.readouterr().err


def test_audit_separates_an_overfitted_model_from_a_random_one(tmp_path: Path) -> None:
    from hubtune.privacy_audit import REPORT, ROC_IMAGE, audit_privacy

    base = {"data": {"max_train_samples": 30, "validation_size": 0.5, "augment": False},
            "train": {"checkpoint_every": None, "lr": 0.01, "weight_decay": 0.0, "scheduler": "constant",
                      "batch_size": 10, "epochs": 150}, "eval": {"early_stopping": None, "keep_best": False},
            "backbone": {"kwargs": {"in_features": 64, "hidden": [256], "dropout": 0.0}}}
    over = mlp_recipe(tmp_path, tmp_path / "over", **base)
    rand = mlp_recipe(tmp_path, tmp_path / "rand", **{**base, "train": {**base["train"], "lr": 1e-9, "epochs": 1}})
    assert train_in_process(str(over)) == 0 and train_in_process(str(rand)) == 0
    hi, lo = audit_privacy(tmp_path / "over"), audit_privacy(tmp_path / "rand")
    assert hi["members"] == hi["nonmembers"] == 30
    assert hi["auc"] > 0.8 and hi["member_loss_mean"] < hi["nonmember_loss_mean"]
    assert abs(lo["auc"] - 0.5) < 0.15
    assert json.loads((tmp_path / "over" / REPORT).read_text())["auc"] == hi["auc"]
    assert (tmp_path / "over" / ROC_IMAGE).read_bytes()[:4] == b"\x89PNG"


def test_audit_command(tmp_path: Path, capsys) -> None:
    from hubtune.cli import main

    path = mlp_recipe(tmp_path, tmp_path / "out", train={"epochs": 1, "checkpoint_every": None}, privacy=DP)
    assert train_in_process(str(path)) == 0
    assert main(["audit-privacy", str(tmp_path / "out"), "--max-samples", "20", "--out", str(tmp_path / "a")]) == 0
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "a" / "privacy_audit.json").read_text())
    assert report["members"] == 20 and f"AUC={report['auc']:.4f}" in printed and "model ε = " in printed
    assert report["privacy"]["epsilon"] == _privacy(tmp_path / "out")["epsilon"]
    assert main(["audit-privacy", str(tmp_path / "nothing-here")]) == 2
    assert "has no recipe.yaml" in capsys.readouterr().err


@pytest.mark.parametrize(("family", "strategy"), [
    ("text", {"type": "peft", "method": "lora", "target_modules": ["query", "value"]}),
    ("text", {"type": "full"}),
    ("text", {"type": "bitfit"}),
    ("vision", {"type": "full"}),
    ("vision", {"type": "linear_probe"}),
])
def test_strategies_train_privately(tmp_path: Path, family: str, strategy: dict, tiny_text_recipe,
                                    tiny_vision_recipe) -> None:
    import yaml
    from safetensors.torch import load_file

    make = tiny_text_recipe if family == "text" else tiny_vision_recipe
    recipe = make(tmp_path / "out", strategy=strategy, privacy={"noise_multiplier": 1.0},
                  train={"epochs": 1, "batch_size": 8, "grad_accum": 2},
                  data={"max_train_samples": 32, "max_eval_samples": 16})
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert train_in_process(str(path)) == 0
    p = _privacy(tmp_path / "out")
    assert p["epsilon"] > 0 and p["steps"] == 2 and p["logical_batch"] == 16
    if family == "text":  # the embeddings stay as pretrained (frozen by default); the encoder trains under full
        base = load_file(str(Path(recipe["backbone"]["name"]) / "model.safetensors"))
        out = load_file(str(tmp_path / "out" / "model.safetensors"))
        emb, query = "embeddings.word_embeddings.weight", "encoder.layer.0.attention.self.query.weight"
        assert torch.equal(out[f"bert.{emb}"], base[emb])
        assert torch.equal(out[f"bert.{query}"], base[query]) == (strategy["type"] == "bitfit")


def test_empty_poisson_batches_still_add_noise_and_count(tmp_path: Path) -> None:
    # q = 1/100: about a third of the 100 logical batches are empty; each is a noise-only step
    path = mlp_recipe(tmp_path, tmp_path / "out", train={"epochs": 1, "batch_size": 1, "checkpoint_every": None,
                                                         "log_every": 1000}, data={"max_train_samples": 100},
                      privacy=DP)
    assert train_in_process(str(path)) == 0
    p = _privacy(tmp_path / "out")
    assert p["steps"] == 100 and p["accountant_history"] == [[1.1, 0.01, 100]]


def test_readme_privacy_snippet_is_the_schema() -> None:
    import re

    import yaml

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    snippet = next(b for b in re.findall(r"```yaml\n(.*?)```", readme, flags=re.S) if b.startswith("privacy:"))
    block = yaml.safe_load(snippet)["privacy"]
    assert set(block) == set(PrivacyConfig.model_fields)  # every key documented, none invented
    assert PrivacyConfig(**block) == PrivacyConfig(target_epsilon=3.0)  # the documented values are the defaults


def test_shuffled_batches_are_allowed_and_the_card_says_so(tmp_path: Path) -> None:
    path = mlp_recipe(tmp_path, tmp_path / "out", train={"epochs": 1, "checkpoint_every": None},
                      privacy={**DP, "poisson_sampling": False})
    assert train_in_process(str(path)) == 0
    p = _privacy(tmp_path / "out")
    assert p["steps"] == 10 and p["poisson_sampling"] is False
    assert "not Poisson-sampled" in (tmp_path / "out" / "README.md").read_text()


@pytest.mark.parametrize("poisson", [True, False])
def test_a_resumed_epoch_skips_its_done_batches_and_keeps_a_length(poisson: bool) -> None:
    """Mid-epoch resume drops the batches already taken; Opacus's batch memory manager still gets a length
    (Accelerate's ``SkipBatchSampler`` has no ``batch_size``, which it reads)."""
    from opacus.utils.batch_memory_manager import BatchSplittingSampler

    from hubtune.training.privacy_data import Skip, logical_batches

    def epoch() -> list[list[int]]:
        return list(logical_batches(100, 0.1, 10, 5, seed=0, epoch=1, poisson=poisson))

    full, sampler = epoch(), Skip(logical_batches(100, 0.1, 10, 5, seed=0, epoch=1, poisson=poisson), 2)
    assert [list(b) for b in sampler] == [list(b) for b in full[2:]] and len(full) == 5 + 5 * (not poisson)
    assert len(BatchSplittingSampler(sampler=sampler, max_batch_size=4, optimizer=None)) == len(full) - 2
