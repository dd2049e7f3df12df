"""Ghost clipping (``privacy.clipping: ghost``, Opacus's fast gradient clipping): the same clipped,
noised update as flat clipping, from per-sample gradient norms only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from training_helpers import mlp_recipe, train_in_process, weights

from hubtune.privacy_schema import PrivacyConfig
from hubtune.training import privacy
from hubtune.training.privacy import dp_optimizer, ghost_backward, grad_sample_module, per_sample_losses

pytestmark = pytest.mark.filterwarnings("ignore:Full backward hook is firing")


def _ce(logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    return F.cross_entropy(logits, labels, label_smoothing=label_smoothing)


def _update(clipping: str | None, sigma: float) -> list[torch.Tensor]:
    """The gradient one DP step applies to a 2-layer MLP (clipping None: plain mean gradient)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    x, y = torch.randn(10, 6) * 3, torch.randint(0, 3, (10,))
    if clipping is None:
        _ce(model(x), y).backward()
        return [p.grad.clone() for p in model.parameters()]
    cfg = PrivacyConfig(noise_multiplier=1.0, max_grad_norm=0.5, clipping=clipping)
    gsm = grad_sample_module(model, cfg)
    opt = dp_optimizer(torch.optim.SGD(model.parameters(), lr=0.0), cfg, sigma, expected_batch_size=10,
                       generator=torch.Generator().manual_seed(3))
    losses = per_sample_losses(_ce, model(x), y, 0.0)
    if clipping == "ghost":
        ghost_backward(gsm, opt, losses)
    else:
        losses.mean().backward()
    opt.step()
    return [p.grad.clone() for p in model.parameters()]


def _close(a: list[torch.Tensor], b: list[torch.Tensor], atol: float) -> bool:
    return all(torch.allclose(x, y, atol=atol, rtol=0) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("sigma", [0.0, 0.7])
def test_ghost_clipping_applies_the_flat_clipped_noised_update(sigma: float) -> None:
    ghost, flat = _update("ghost", sigma), _update("flat", sigma)
    assert _close(ghost, flat, atol=1e-6), max(float((g - f).abs().max()) for g, f in zip(ghost, flat, strict=True))
    assert not _close(ghost, _update(None, 0.0), atol=1e-3)  # the clip (C = 0.5) changed the gradient
    if sigma:
        assert not _close(ghost, _update("ghost", 0.0), atol=1e-3)  # and the noise is there


def test_ghost_clipping_takes_examples_whose_tokens_are_all_ignored() -> None:
    """Token classification: a sentence whose every label is -100 has no loss of its own; it must add
    nothing (not NaN) while the other examples still train."""
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    x, y = torch.randn(3, 5, 4), torch.randint(0, 3, (3, 5))
    y[1] = -100

    from hubtune.heads import HEADS

    token_ce = HEADS.get("token_classification").loss
    cfg = PrivacyConfig(noise_multiplier=1.0, max_grad_norm=1.0, clipping="ghost")
    gsm = grad_sample_module(model, cfg)
    opt = dp_optimizer(torch.optim.SGD(model.parameters(), lr=0.0), cfg, 0.0, expected_batch_size=3)
    losses = per_sample_losses(token_ce, model(x), y, 0.0)
    values = losses.detach()
    assert values[1] == 0 and bool(torch.isfinite(values).all()) and float(values[0]) > 0
    ghost_backward(gsm, opt, losses)
    opt.step()
    assert all(bool(torch.isfinite(p.grad).all()) and float(p.grad.abs().sum()) > 0 for p in model.parameters())


def _run(tmp_path: Path, name: str, clipping: str, data: dict | None = None, **train) -> Path:
    path = mlp_recipe(tmp_path, tmp_path / name, backbone={"kwargs": {"dropout": 0.0}}, data=data or {},
                      train={"epochs": 1, "batch_size": 16, "grad_accum": 2, "checkpoint_every": None, **train},
                      privacy={"noise_multiplier": 1.0, "clipping": clipping, "max_grad_norm": 0.5})
    assert train_in_process(str(path)) == 0
    return tmp_path / name


def test_ghost_clipping_takes_empty_poisson_batches(tmp_path: Path) -> None:
    # q = 1/100: about a third of the 100 logical batches are empty (noise-only steps)
    out = _run(tmp_path, "empty", "ghost", data={"max_train_samples": 100}, batch_size=1, grad_accum=1,
               log_every=1000)
    p = json.loads((out / "metrics.json").read_text())["privacy"]
    assert p["steps"] == 100 and p["accountant_history"] == [[1.0, 0.01, 100]]


def test_ghost_training_matches_flat_on_a_transformer(tmp_path: Path, tiny_text_recipe, monkeypatch) -> None:
    """Tiny BERT, full fine-tuning (LayerNorm, attention; embeddings frozen), logical batches of 16 in
    physical batches of 8: ghost clipping trains to the weights flat clipping does."""
    import yaml

    outs, calls = {}, []
    monkeypatch.setattr(privacy, "ghost_backward", lambda *a: calls.append(1) or ghost_backward(*a))
    for clipping in ("flat", "ghost"):
        recipe = tiny_text_recipe(tmp_path / clipping, strategy={"type": "full"},
                                  privacy={"noise_multiplier": 1.0, "clipping": clipping, "max_grad_norm": 0.1},
                                  train={"epochs": 1, "batch_size": 8, "grad_accum": 2},
                                  data={"max_train_samples": 48, "max_eval_samples": 8})
        path = tmp_path / f"{clipping}.yaml"
        path.write_text(yaml.safe_dump(recipe))
        assert train_in_process(str(path)) == 0
        outs[clipping] = weights(tmp_path / clipping / "model.safetensors")
    base = weights(Path(recipe["backbone"]["name"]) / "model.safetensors")
    query = "encoder.layer.0.attention.self.query.weight"
    assert len(calls) >= 3  # the ghost run took the ghost path (3 steps, >= 1 physical batch each)
    assert not torch.equal(outs["ghost"][f"bert.{query}"], base[query])  # it trained
    diff = max(float((outs["flat"][k] - outs["ghost"][k]).abs().max()) for k in outs["flat"])
    assert diff < 1e-5, diff


def test_flat_and_ghost_weight_each_sentence_alike_in_token_classification(tmp_path: Path, tiny_text_recipe,
                                                                           data_root) -> None:
    """Token classification on real SST-2 sentences (tags: punctuation vs word), sentences of different
    lengths: each example's gradient is the gradient of its own loss in both modes (a batch-wide token mean
    would tie one example's gradient to the others' token counts), so flat and ghost train alike."""
    import csv

    import yaml

    from hubtune.shared_data import shared_data

    with open(shared_data("sst2") / "train.tsv", newline="") as f:
        sentences = [r["sentence"].split() for r in csv.DictReader(f, delimiter="\t")][:48]
    rows = [{"tokens": words, "ner_tags": ["PUNCT" if not w.isalnum() else "WORD" for w in words]}
            for words in sentences]
    (tmp_path / "tags.json").write_text(json.dumps(rows))
    outs = {}
    for clipping in ("flat", "ghost"):
        # C = 100 clips nothing (a clip to C would hide how each example's gradient is scaled); SGD, so the
        # same noise (same seed) cannot hide a difference in the summed gradients either
        recipe = tiny_text_recipe(tmp_path / clipping, strategy={"type": "full"}, head={"type": "token_classification"},
                                  privacy={"noise_multiplier": 0.5, "clipping": clipping, "max_grad_norm": 100.0},
                                  train={"epochs": 1, "batch_size": 8, "grad_accum": 2, "optimizer": "sgd", "lr": 0.1},
                                  eval={"metrics": ["token_accuracy"]})
        recipe["data"] = {"format": "json", "path": str(tmp_path / "tags.json"), "validation": None,
                          "validation_size": 0.25, "max_length": 32, "num_workers": 0}
        path = tmp_path / f"{clipping}.yaml"
        path.write_text(yaml.safe_dump(recipe))
        assert train_in_process(str(path)) == 0
        outs[clipping] = weights(tmp_path / clipping / "model.safetensors")
    assert len({len(s) for s in sentences}) > 5  # the sentences' token counts differ
    diff = max(float((outs["flat"][k] - outs["ghost"][k]).abs().max()) for k in outs["flat"])
    assert diff < 1e-5, diff

