"""Layer-wise LR decay under hubtune's real schedules, and the L2-SP penalty."""

from __future__ import annotations

import pytest
import torch

from hubtune.recipe import TrainConfig
from hubtune.strategies import build_strategy
from hubtune.training.optim import build_optimizer, build_scheduler


def effective_lrs(model, strategy, scheduler: str, steps: int = 5) -> tuple[list[float], list[int]]:
    cfg = TrainConfig(lr=1e-3, head_lr_mult=10.0, scheduler=scheduler, warmup=2)
    strategy.setup(model)
    groups = strategy.param_groups(model, cfg.lr, cfg.weight_decay, cfg.head_lr_mult)
    opt = build_optimizer(groups, cfg, torch.device("cpu"))
    sched = build_scheduler(opt, cfg, total_steps=20)
    for _ in range(steps):
        opt.step()
        sched.step()
    return [g["lr"] for g in opt.param_groups], [g["layer_id"] for g in opt.param_groups]


@pytest.mark.parametrize("kind", ["resnet18", "vit", "effnet", "bert"])
@pytest.mark.parametrize("scheduler", ["cosine", "linear"])
def test_layer_decay_ratios_hold_after_steps(make_model, kind, scheduler):
    model = make_model(kind)
    decay, top = 0.75, len(model.blocks)
    lrs, ids = effective_lrs(model, build_strategy("layer_decay", {"decay": decay}), scheduler)
    assert set(ids) == set(range(top + 1)) and top >= 3
    head_lr = lrs[ids.index(top)]
    assert head_lr < 1e-2  # the schedule did move the rates
    for lr, lid in zip(lrs, ids, strict=True):
        expected = 1.0 if lid == top else decay ** (top - lid) / 10.0  # head_lr_mult 10
        assert lr / head_lr == pytest.approx(expected, rel=1e-6)


def test_lp_ft_with_layer_decay(make_model):
    model = make_model("vit")
    s = build_strategy("lp_ft", {"probe_epochs": 1, "layer_decay": 0.5})
    s.setup(model)
    assert {g["layer_id"] for g in s.param_groups(model, 1.0, 0.0, 1.0)} == {len(model.blocks)}
    assert s.on_epoch_start(1, model)
    groups = s.param_groups(model, 1.0, 0.0, 1.0)
    assert {g["layer_id"]: g["lr"] for g in groups}[0] == pytest.approx(0.5 ** len(model.blocks))


@pytest.mark.parametrize("kind", ["resnet18", "bert"])
def test_l2_sp_zero_at_init_and_gradient(make_model, kind):
    model = make_model(kind)
    alpha, beta = 0.3, 0.0
    s = build_strategy("l2_sp", {"alpha": alpha, "beta": beta, "layer_decay": 0.8})
    s.setup(model)
    assert s.extra_loss(model).item() == 0.0
    w0 = {n: p.detach().clone() for n, p in model.backbone_parameters()}
    with torch.no_grad():
        for _, p in model.backbone_parameters():
            p.add_(torch.randn_like(p) * 0.01)
    model.zero_grad()
    s.extra_loss(model).backward()
    for n, p in model.backbone_parameters():
        torch.testing.assert_close(p.grad, 2 * alpha * (p.detach() - w0[n]))
    assert all(p.grad is None or not p.grad.any() for _, p in model.head_parameters())
    assert all(g["weight_decay"] == 0.0 for g in s.param_groups(model, 1e-3, 0.05, 1.0))


def test_l2_sp_head_term(make_model):
    model = make_model("resnet18")
    s = build_strategy("l2_sp", {"alpha": 0.0, "beta": 0.5})
    s.setup(model)
    expected = 0.5 * sum(p.pow(2).sum() for _, p in model.head_parameters())
    torch.testing.assert_close(s.extra_loss(model), expected)
