"""Transferability scores of a pretrained model for a labelled target task (higher = better).

- :func:`logme` (You et al. 2021): mean over classes of the maximised log evidence per sample of
  Bayesian linear regression ``y ~ N(F w, β⁻¹)``, ``w ~ N(0, α⁻¹ I)``, by the MacKay fixed point.
- :func:`leep` (Nguyen et al. 2020): needs the source head's probabilities θ(x).
- :func:`nce` (Tran et al. 2019): negative conditional entropy H(Y | Z) with Z = argmax θ(x).
- :func:`h_score` (Bao et al. 2019): ``tr(cov(f)⁺ cov(E[f | y]))``.
"""

from __future__ import annotations

import numpy as np

from hubtune.errors import DataError


def _check(features: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f, y = np.asarray(features, dtype="float64"), np.asarray(labels).astype("int64").ravel()
    if f.ndim != 2 or len(f) != len(y) or len(y) < 2:
        raise DataError(f"need (n, d) features and n labels (n ≥ 2), got {f.shape} and {y.shape}")
    return f, y


def evidence(features: np.ndarray, y: np.ndarray, alpha: float, beta: float) -> float:
    """Log evidence per sample ``log N(y; 0, β⁻¹ I + α⁻¹ F Fᵀ) / n`` computed in weight space."""
    f = np.asarray(features, dtype="float64")
    n, d = f.shape
    a = alpha * np.eye(d) + beta * f.T @ f
    m = beta * np.linalg.solve(a, f.T @ y)
    res = np.sum((f @ m - y) ** 2)
    _, logdet = np.linalg.slogdet(a)
    value = (n / 2 * np.log(beta) + d / 2 * np.log(alpha) - n / 2 * np.log(2 * np.pi)
             - beta / 2 * res - alpha / 2 * m @ m - logdet / 2)
    return float(value / n)


def _logme_one(u: np.ndarray, s2: np.ndarray, y: np.ndarray, d: int, tol: float, max_iter: int) -> tuple[float, float, float]:
    """Fixed-point (α, β) for one target vector; the SVD ``F = U S Vᵀ`` is shared across classes."""
    n = len(y)
    uty = u.T @ y
    sig = np.zeros(d)
    sig[: len(s2)] = s2
    alpha, beta = 1.0, 1.0
    for _ in range(max_iter):
        gamma = float(np.sum(beta * sig / (alpha + beta * sig)))
        m_coef = beta * np.sqrt(s2) * uty / (alpha + beta * s2)  # m = V · m_coef
        mm = float(m_coef @ m_coef)
        fitted = u @ (np.sqrt(s2) * m_coef)
        res = float(np.sum((fitted - y) ** 2))
        new_alpha, new_beta = gamma / max(mm, 1e-12), (n - gamma) / max(res, 1e-12)
        done = abs(new_alpha - alpha) / alpha < tol and abs(new_beta - beta) / beta < tol
        alpha, beta = new_alpha, new_beta
        if done:
            break
    logdet = float(np.sum(np.log(alpha + beta * sig)))
    value = (n / 2 * np.log(beta) + d / 2 * np.log(alpha) - n / 2 * np.log(2 * np.pi)
             - beta / 2 * res - alpha / 2 * mm - logdet / 2)
    return value / n, alpha, beta


def logme(features: np.ndarray, labels: np.ndarray, tol: float = 1e-5, max_iter: int = 100) -> float:
    """LogME of single-label classification: one-hot columns, evidence averaged over classes."""
    f, y = _check(features, labels)
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    keep = s > 1e-10 * max(s.max(), 1e-30)
    u, s2 = u[:, keep], s[keep] ** 2
    scores = [_logme_one(u, s2, (y == c).astype("float64"), f.shape[1], tol, max_iter)[0]
              for c in np.unique(y)]
    return float(np.mean(scores))


def _joint(source_probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    theta, y = _check(source_probs, labels)
    if np.any(theta < 0) or not np.allclose(theta.sum(1), 1.0, atol=1e-3):
        raise DataError("source probabilities must be non-negative rows summing to 1 (softmax of the source head)")
    classes = np.unique(y)
    onehot = (y[:, None] == classes[None, :]).astype("float64")  # n × K
    joint = onehot.T @ theta / len(y)  # P(y, z): K × Z
    return joint, onehot


def leep(source_probs: np.ndarray, labels: np.ndarray) -> float:
    """``mean_i log Σ_z P(y_i | z) θ(x_i)_z`` with ``P(y | z)`` from the empirical joint."""
    theta = np.asarray(source_probs, dtype="float64")
    joint, onehot = _joint(theta, labels)
    cond = joint / np.clip(joint.sum(0, keepdims=True), 1e-12, None)  # P(y | z)
    eep = theta @ cond.T  # n × K
    return float(np.mean(np.log(np.clip((eep * onehot).sum(1), 1e-12, None))))


def nce(source_labels: np.ndarray, labels: np.ndarray) -> float:
    """``−H(Y | Z) = Σ P(y, z) log P(y | z)`` for hard source labels Z."""
    z = np.asarray(source_labels).astype("int64").ravel()
    _, z = np.unique(z, return_inverse=True)
    onehot_z = np.eye(z.max() + 1)[z]
    joint, _ = _joint(onehot_z, labels)
    pz = joint.sum(0, keepdims=True)
    mask = joint > 0
    return float(np.sum(joint[mask] * np.log((joint / np.clip(pz, 1e-12, None))[mask])))


def h_score(features: np.ndarray, labels: np.ndarray) -> float:
    """``tr(cov(f)⁺ cov(E[f | y]))`` with the class-conditional means replacing each sample."""
    f, y = _check(features, labels)
    f = f - f.mean(0)
    cov_f = np.atleast_2d(np.cov(f, rowvar=False, bias=True))
    g = np.zeros_like(f)
    for c in np.unique(y):
        g[y == c] = f[y == c].mean(0)
    cov_g = np.atleast_2d(np.cov(g, rowvar=False, bias=True))
    return float(np.trace(np.linalg.pinv(cov_f, rcond=1e-10) @ cov_g))


def kendall_tau(a: list[float], b: list[float]) -> float:
    """Kendall's τ-b between two score lists."""
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic)
