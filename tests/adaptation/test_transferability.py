"""LogME against an independent evidence maximisation; LEEP / NCE / H-score on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

from hubtune.adaptation import transferability as tr


def _grid_evidence(f: np.ndarray, y: np.ndarray) -> float:
    """max over a log-grid of (α, β) of log N(y; 0, β⁻¹ I + α⁻¹ F Fᵀ) / n, via the eigenbasis of F Fᵀ."""
    n = len(y)
    lam, q = np.linalg.eigh(f @ f.T)
    proj2 = (q.T @ y) ** 2
    grid = np.exp(np.linspace(-7, 7, 561))
    a, b = grid[:, None, None], grid[None, :, None]
    var = 1 / b + np.clip(lam, 0, None) / a  # (A, B, n)
    ll = -0.5 * (np.log(var).sum(-1) + (proj2 / var).sum(-1) + n * np.log(2 * np.pi))
    return float(ll.max() / n)


def test_logme_matches_grid_search_evidence() -> None:
    rng = np.random.default_rng(0)
    f = rng.normal(size=(60, 5))
    y = (f[:, 0] + 0.5 * rng.normal(size=60) > 0).astype(int)
    ref = np.mean([_grid_evidence(f, (y == c).astype(float)) for c in (0, 1)])
    got = tr.logme(f, y)
    assert got == pytest.approx(ref, abs=2e-3)
    assert got >= ref - 1e-9  # the fixed point is at least as good as any grid point
    # and it is the maximum: a general-purpose optimizer over (log α, log β), from the best grid point, agrees
    assert got == pytest.approx(np.mean([_optimized_evidence(f, (y == c).astype(float)) for c in (0, 1)]), abs=1e-6)


def _optimized_evidence(f: np.ndarray, y: np.ndarray) -> float:
    """The evidence maximised by scipy's Nelder–Mead in log space (no fixed-point iteration involved)."""
    from scipy.optimize import minimize

    n = len(y)
    lam, q = np.linalg.eigh(f @ f.T)
    proj2 = (q.T @ y) ** 2

    def neg(log_ab: np.ndarray) -> float:
        var = np.exp(-log_ab[1]) + np.clip(lam, 0, None) * np.exp(-log_ab[0])
        return 0.5 * (np.log(var).sum() + (proj2 / var).sum() + n * np.log(2 * np.pi)) / n

    grid = [(a, b) for a in np.linspace(-7, 7, 29) for b in np.linspace(-7, 7, 29)]
    start = min(grid, key=lambda ab: neg(np.array(ab)))
    best = minimize(neg, np.array(start), method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 5000})
    return float(-best.fun)


def test_logme_more_features_than_samples_and_informative_features_score_higher() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 40)
    good = np.eye(3)[y] * 3 + rng.normal(size=(40, 3)) * 0.3
    bad = rng.normal(size=(40, 3))
    assert tr.logme(good, y) > tr.logme(bad, y)
    wide = rng.normal(size=(10, 30))
    ref = np.mean([_grid_evidence(wide, (y[:10] == c).astype(float)) for c in np.unique(y[:10])])
    assert tr.logme(wide, y[:10]) == pytest.approx(ref, abs=5e-3)


def test_evidence_weight_space_equals_function_space() -> None:
    from scipy.stats import multivariate_normal

    rng = np.random.default_rng(2)
    f, y = rng.normal(size=(12, 4)), rng.normal(size=12)
    direct = multivariate_normal(np.zeros(12), np.eye(12) / 2.0 + f @ f.T / 0.5).logpdf(y) / 12
    assert tr.evidence(f, y, 0.5, 2.0) == pytest.approx(direct, rel=1e-9)


def test_leep_and_nce_hand_made() -> None:
    y = np.array([0, 0, 1, 1])
    perfect = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert tr.leep(perfect, y) == pytest.approx(0.0, abs=1e-9)
    assert tr.nce(perfect.argmax(1), y) == pytest.approx(0.0, abs=1e-12)
    useless = np.full((4, 2), 0.5)
    assert tr.leep(useless, y) == pytest.approx(np.log(0.5))
    assert tr.nce(np.zeros(4), y) == pytest.approx(np.log(0.5))
    # a 3-class source head mapping imperfectly: P(y,z) by hand
    theta = np.array([[0.8, 0.2, 0.0], [0.6, 0.4, 0.0], [0.0, 0.3, 0.7], [0.2, 0.0, 0.8]])
    joint = np.array([[0.8 + 0.6, 0.2 + 0.4, 0.0], [0.2, 0.3, 1.5]]) / 4
    cond = joint / joint.sum(0)
    expected = np.mean([np.log(theta[i] @ cond[y[i]]) for i in range(4)])
    assert tr.leep(theta, y) == pytest.approx(expected)


def test_h_score_hand_made() -> None:
    y = np.array([0, 0, 1, 1])
    f = np.array([[-1.0], [-1.0], [1.0], [1.0]])
    assert tr.h_score(f, y) == pytest.approx(1.0)  # all variance is between-class
    f_noise = np.array([[-1.0], [1.0], [-1.0], [1.0]])
    assert tr.h_score(f_noise, y) == pytest.approx(0.0, abs=1e-12)


def test_kendall_tau() -> None:
    assert tr.kendall_tau([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert tr.kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
