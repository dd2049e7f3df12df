"""WiSE-FT: interpolation endpoints and the choice of alpha."""

from __future__ import annotations

import torch

from hubtune.strategies import build_strategy
from hubtune.strategies.wise import backbone_state, interpolate


def test_wise_endpoints_and_choice(make_model):
    model = make_model("resnet18")
    s = build_strategy("wise_ft", {"alphas": [0.0, 0.5, 1.0]})
    s.setup(model)
    theta0 = backbone_state(model)
    with torch.no_grad():  # "fine-tune": move every backbone weight and the head
        for p in model.parameters():
            p.add_(1.0)
    theta_ft, head = backbone_state(model), {n: p.clone() for n, p in model.head_parameters()}
    interpolate(model, theta0, theta_ft, 0.0)
    assert all(torch.equal(v, theta0[k]) for k, v in backbone_state(model).items())
    interpolate(model, theta0, theta_ft, 1.0)
    assert all(torch.equal(v, theta_ft[k]) for k, v in backbone_state(model).items())

    key = "backbone.conv1.weight"
    score = lambda: {"loss": 0.0, "accuracy": -abs(float(model.state_dict()[key].mean() - theta0[key].mean()) - 0.5)}  # noqa: E731
    s.finalize(model, score)  # accuracy peaks where the weights moved by 0.5: alpha = 0.5
    assert s.chosen == 0.5 and [r["alpha"] for r in s.table] == [0.0, 0.5, 1.0]
    torch.testing.assert_close(model.state_dict()[key], theta0[key] + 0.5)
    assert all(torch.equal(p, head[n]) for n, p in model.head_parameters())
    assert s.describe()["wise"]["chosen_alpha"] == 0.5


def test_wise_without_validation_uses_alpha(make_model):
    model = make_model("bert")
    s = build_strategy("wise_ft", {"alpha": 0.0})
    s.setup(model)
    theta0 = backbone_state(model)
    with torch.no_grad():
        for _, p in model.backbone_parameters():
            p.mul_(2.0)
    s.finalize(model, None)
    assert all(torch.equal(v, theta0[k]) for k, v in backbone_state(model).items())
