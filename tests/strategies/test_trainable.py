"""Which parameters train, per backbone × strategy (and phase)."""

from __future__ import annotations

import pytest

from hubtune.strategies import build_strategy, strategy_problems
from hubtune.strategies.bitfit import is_bias

BACKBONES = ["resnet18", "vit", "effnet", "bert"]


def trainable(model) -> tuple[set[str], set[str]]:
    bb = {n for n, p in model.backbone_parameters() if p.requires_grad}
    head = {n for n, p in model.head_parameters() if p.requires_grad}
    return bb, head


@pytest.mark.parametrize("kind", BACKBONES)
@pytest.mark.parametrize("strategy", ["full", "layer_decay", "l2_sp", "wise_ft"])
def test_everything_trains(make_model, kind, strategy):
    """Every parameter is in exactly one optimizer group, the head at ``lr * head_lr_mult``, the backbone at most at
    ``lr`` and never at zero; the card's summary counts them all (a fresh model trains everything, so the groups are
    what is checked here, not ``requires_grad``)."""
    model = make_model(kind)
    s = build_strategy(strategy, {})
    s.setup(model)
    groups = s.param_groups(model, 1e-3, 0.01, 10.0)
    lr_of = {}
    for g in groups:
        for p in g["params"]:
            assert id(p) not in lr_of, "a parameter is in two groups"
            lr_of[id(p)] = g["lr"]
    assert set(lr_of) == {id(p) for p in model.parameters()}
    assert [lr_of[id(p)] for _, p in model.head_parameters()] == pytest.approx([1e-2] * len(list(model.head_parameters())))
    assert all(0 < lr_of[id(p)] <= 1e-3 + 1e-12 for _, p in model.backbone_parameters())
    assert s.describe()["trainable_share"] == pytest.approx(1.0)


@pytest.mark.parametrize("kind", BACKBONES)
@pytest.mark.parametrize("strategy", ["linear_probe", "lp_ft", "gradual_unfreeze"])
def test_head_only_at_start(make_model, kind, strategy):
    model = make_model(kind)
    s = build_strategy(strategy, {})
    s.setup(model)
    bb, head = trainable(model)
    assert not bb and head == {n for n, _ in model.head_parameters()}
    groups = s.param_groups(model, 1e-3, 0.01, 1.0)
    assert sum(p.numel() for g in groups for p in g["params"]) == model.count_parameters()[0]
    info = s.describe()
    assert info["frozen_blocks"].startswith(f"{len(model.blocks)} of {len(model.blocks)}")
    assert 0 < info["trainable_share"] < 0.5 and info["head_trainable"]


@pytest.mark.parametrize("kind", BACKBONES)
def test_bitfit_biases_and_head(make_model, kind):
    model = make_model(kind)
    s = build_strategy("bitfit", {})
    s.setup(model)
    bb, head = trainable(model)
    assert bb and all(is_bias(n) for n in bb)
    assert bb == {n for n, _ in model.backbone_parameters() if is_bias(n)}
    assert head == {n for n, _ in model.head_parameters()}
    s.param_groups(model, 1e-3, 0.0, 1.0)
    assert s.describe()["trainable_share"] < 0.05


def test_options_are_validated():
    assert strategy_problems("lp_ft", {"probe_epochs": 1, "layer_decay": 0.75}) == []
    assert "did you mean 'alpha'" in strategy_problems("l2_sp", {"alpah": 1})[0]
    assert strategy_problems("layer_decay", {"decay": 1.5})
    assert strategy_problems("gradual_unfreeze", {"milestones": [3, 1]})
    assert strategy_problems("wise_ft", {"alphas": [2.0]})
    assert "unknown PEFT method" in strategy_problems("peft", {"method": "lorra"})[0]
