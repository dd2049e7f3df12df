"""LP-FT and gradual unfreezing: phases by epoch, idempotence, resume, frozen BatchNorm."""

from __future__ import annotations

import pytest
from torch import nn

from hubtune.strategies import build_strategy


def backbone_trainable(model) -> int:
    return sum(p.requires_grad for _, p in model.backbone_parameters())


@pytest.mark.parametrize("kind", ["resnet18", "bert"])
def test_lp_ft_switches_once(make_model, kind):
    model = make_model(kind)
    s = build_strategy("lp_ft", {"probe_epochs": 2})
    s.setup(model)
    assert [s.on_epoch_start(e, model) for e in (0, 0, 1)] == [False, False, False]
    assert backbone_trainable(model) == 0 and model.frozen_backbone_eval
    probe_head_lr = s.param_groups(model, 1e-3, 0.0, 1.0)[0]["lr"]
    assert probe_head_lr == pytest.approx(1e-2)  # probe_lr_mult 10
    assert s.on_epoch_start(2, model) is True
    assert [s.on_epoch_start(e, model) for e in (2, 3)] == [False, False]
    assert all(p.requires_grad for p in model.parameters()) and not model.frozen_backbone_eval
    assert s.describe()["phase"] == "finetune"


def test_lp_ft_resume_is_a_function_of_the_epoch(make_model):
    model = make_model("resnet18")
    s = build_strategy("lp_ft", {"probe_epochs": 1})
    s.setup(model)  # a fresh run resumed at epoch 3
    s.load_state_dict({"phase": "finetune"})
    assert s.on_epoch_start(3, model) is True and backbone_trainable(model) > 0


@pytest.mark.parametrize("kind", ["resnet18", "effnet", "vit", "bert"])
def test_gradual_unfreeze_from_the_top(make_model, kind):
    model = make_model(kind)
    s = build_strategy("gradual_unfreeze", {"milestones": [1, 3], "blocks_per_stage": 2})
    s.setup(model)
    n = len(model.blocks)
    params = dict(model.named_parameters())

    def frozen_blocks():
        return [all(not params[name].requires_grad for name in block) for block in model.blocks]

    assert all(frozen_blocks()) and s.on_epoch_start(0, model) is False
    assert s.on_epoch_start(1, model) is True
    assert frozen_blocks() == [True] * (n - 2) + [False, False]
    assert s.on_epoch_start(2, model) is False
    assert s.on_epoch_start(3, model) is True
    assert frozen_blocks() == [True] * (n - 4) + [False] * 4
    assert s.state_dict()["unfrozen_blocks"] == 4


def test_gradual_unfreeze_keeps_frozen_bn_in_eval(make_model, batch_for):
    model = make_model("resnet18")
    s = build_strategy("gradual_unfreeze", {"every": 1})
    s.setup(model)
    s.on_epoch_start(1, model)  # the top block (layer4 + ...) trains
    model.train()
    bns = {n: m for n, m in model.backbone.named_modules() if isinstance(m, nn.BatchNorm2d)}
    before = {n: m.running_mean.clone() for n, m in bns.items()}
    model(batch_for(model))
    changed = {n for n, m in bns.items() if not (m.running_mean == before[n]).all()}
    assert changed and all(n.startswith("layer4") for n in changed)
    s.on_epoch_start(10, model)  # everything unfrozen: hooks gone
    model.train()
    model(batch_for(model))
    assert all(m.training for m in bns.values())
