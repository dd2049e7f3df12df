"""The adaptation losses against direct computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hubtune.adaptation import losses
from hubtune.adaptation.methods import ADAPTATION_METHODS, Step, importance_weights


def _pair(shift: float = 0.0, n: int = 64, d: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(n, d, generator=g, dtype=torch.float64) + shift


def test_grl_reverses_and_scales_the_gradient() -> None:
    x = torch.randn(5, 3, requires_grad=True)
    losses.grl(x, 0.3).sum().backward()
    assert torch.allclose(x.grad, torch.full_like(x, -0.3))
    assert torch.equal(losses.grl(x, 0.3), x)


def test_grl_ramp() -> None:
    assert losses.grl_coefficient(0.0) == 0.0
    assert losses.grl_coefficient(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert losses.grl_coefficient(1.0) == pytest.approx(0.99991, abs=1e-4)
    assert losses.grl_coefficient(2.0) == losses.grl_coefficient(1.0)


def _naive_mmd(s: np.ndarray, t: np.ndarray, bw: float, mults: tuple[float, ...]) -> float:
    def k(a: np.ndarray, b: np.ndarray) -> float:
        return sum(math.exp(-float(((a - b) ** 2).sum()) / (m * bw)) for m in mults)

    n, m = len(s), len(t)
    ss = sum(k(s[i], s[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    tt = sum(k(t[i], t[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    st = sum(k(s[i], t[j]) for i in range(n) for j in range(m)) / (n * m)
    return ss + tt - 2 * st


def test_mmd_matches_naive_computation() -> None:
    s, t = _pair(0.5, n=20, d=3)
    bw = float(losses.median_bandwidth(s, t))
    z = np.concatenate([s.numpy(), t.numpy()])
    naive_bw = sum(float(((a - b) ** 2).sum()) for a in z for b in z) / (len(z) ** 2 - len(z))
    assert bw == pytest.approx(naive_bw)
    got = float(losses.mk_mmd(s, t))
    assert got == pytest.approx(_naive_mmd(s.numpy(), t.numpy(), bw, losses.DEFAULT_MULTIPLIERS), rel=1e-6)


def test_mmd_near_zero_on_same_distribution_and_positive_on_shift() -> None:
    same = [float(losses.mk_mmd(*_pair(0.0, n=200, seed=k))) for k in range(3)]
    shifted = float(losses.mk_mmd(*_pair(1.0, n=200)))
    assert max(abs(v) for v in same) < 0.05 < shifted
    assert float(losses.mk_mmd(*_pair(1.0, n=200), linear=True)) > 0.05


def test_coral_matches_direct_formula() -> None:
    s, t = _pair(0.0, n=50, d=4)
    t = t * torch.tensor([1.0, 2.0, 0.5, 3.0], dtype=torch.float64)
    cs, ct = np.cov(s.numpy(), rowvar=False), np.cov(t.numpy(), rowvar=False)
    assert float(losses.coral(s, t)) == pytest.approx(((cs - ct) ** 2).sum() / (4 * 16), rel=1e-6)
    assert float(losses.coral(s, s[torch.randperm(50)])) == pytest.approx(0.0, abs=1e-12)


def test_mcc_low_for_confident_high_for_confused() -> None:
    confident = torch.eye(4).repeat(8, 1) * 20
    confused = torch.zeros(32, 4)
    assert float(losses.mcc(confident)) < 0.05
    assert float(losses.mcc(confused)) == pytest.approx(3 / 4, abs=1e-6)


def test_mcc_matches_paper_steps() -> None:
    logits = torch.randn(16, 5, generator=torch.Generator().manual_seed(1))
    y = torch.softmax(logits / 2.5, 1).numpy()
    h = -(y * np.log(y + 1e-8)).sum(1)
    w = 1 + np.exp(-h)
    w = 16 * w / w.sum()
    c = y.T @ np.diag(w) @ y
    c = c / c.sum(1, keepdims=True)
    assert float(losses.mcc(logits)) == pytest.approx((c.sum() - np.trace(c)) / 5, rel=1e-5)


def test_multilinear_map_and_entropy_weights() -> None:
    f, g = torch.randn(3, 4), torch.softmax(torch.randn(3, 2), 1)
    h = losses.multilinear_map(f, g)
    assert h.shape == (3, 8)
    assert torch.allclose(h[1].view(2, 4), torch.outer(g[1], f[1]))
    w = losses.entropy_weights(torch.tensor([[1.0, 0.0], [0.5, 0.5]]))
    assert w[0] > w[1] and float(w.mean()) == pytest.approx(1.0)


def test_domain_bce_and_contractive_penalty() -> None:
    assert float(losses.domain_bce(torch.full((4, 1), 10.0), torch.full((4, 1), -10.0))) < 1e-3
    x = torch.randn(8, 3, requires_grad=True)
    a = torch.randn(3, 5)
    torch.manual_seed(0)
    est = float(sum(losses.contractive_penalty(x @ a, x, probes=1) for _ in range(400)) / 400)
    assert est == pytest.approx(float((a ** 2).sum()), rel=0.15)  # ‖J‖_F² of a linear map


@pytest.mark.parametrize("method", ["dann", "mmd", "dan", "coral", "mcc", "cdan", "cdan_e", "importance"])
def test_methods_give_finite_losses_with_gradients(method: str) -> None:
    torch.manual_seed(0)
    adapter = ADAPTATION_METHODS.get(method)(8, 3, {})
    fs = torch.randn(16, 8, requires_grad=True)
    ft = torch.randn(16, 8) + 1
    step = Step(fs, ft, torch.randn(16, 3, requires_grad=True), torch.randn(16, 3, requires_grad=True), 0.5)
    loss = adapter.loss(step)
    assert torch.isfinite(loss)
    loss.backward()
    if method != "importance":
        assert any(t.grad is not None and t.grad.abs().sum() > 0 for t in (fs, step.target_logits))
    weights = adapter.source_weights(step)
    assert weights is None or float(weights.mean()) == pytest.approx(1.0)


def test_dann_reverses_gradient_to_the_features() -> None:
    torch.manual_seed(0)
    adapter = ADAPTATION_METHODS.get("dann")(4, 2, {"dropout": 0.0})
    fs, ft = torch.randn(8, 4, requires_grad=True), torch.randn(8, 4) + 2
    adapter.loss(Step(fs, ft, torch.zeros(8, 2), torch.zeros(8, 2), 1.0)).backward()
    reversed_grad = fs.grad.clone()
    fs.grad = None
    losses.domain_bce(adapter.disc(fs), adapter.disc(ft)).backward()
    assert torch.allclose(reversed_grad, -losses.grl_coefficient(1.0) * fs.grad, atol=1e-6)


def test_importance_weights_clip_and_normalise() -> None:
    w = importance_weights(torch.tensor([0.001, 1.0, 100.0]), clip=10)
    assert float(w.mean()) == pytest.approx(1.0)
    assert float(w.max() / w.min()) == pytest.approx(100.0)
