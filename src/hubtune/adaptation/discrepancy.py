"""Domain discrepancy between two feature sets: MK-MMD, proxy A-distance, CORAL distance, and a 2-D plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from hubtune.adaptation import losses
from hubtune.errors import DataError


def _tensor(x: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype="float64"))


def mmd(source: np.ndarray, target: np.ndarray, max_samples: int = 2000, seed: int = 0) -> float:
    """Unbiased multi-kernel MMD² (Gaussian kernels around the mean pairwise distance)."""
    rng = np.random.default_rng(seed)
    s, t = (x[rng.permutation(len(x))[:max_samples]] for x in (source, target))
    return float(losses.mk_mmd(_tensor(s), _tensor(t)))


def coral_distance(source: np.ndarray, target: np.ndarray) -> float:
    """``‖C_s − C_t‖_F² / (4 d²)`` of the feature covariances."""
    return float(losses.coral(_tensor(source), _tensor(target)))


def proxy_a_distance(source: np.ndarray, target: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """``(max(0, 2 (1 − 2 ε)), ε)``: ε is the held-out error of a linear domain classifier (half of each
    domain for training, the rest for testing, balanced by subsampling the larger domain)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    n = min(len(source), len(target))
    if n < 4:
        raise DataError("proxy A-distance needs at least 4 samples per domain")
    s, t = source[rng.permutation(len(source))[:n]], target[rng.permutation(len(target))[:n]]
    half = n // 2
    x_train = np.concatenate([s[:half], t[:half]])
    x_test = np.concatenate([s[half:], t[half:]])
    y_train = np.r_[np.zeros(half), np.ones(half)]
    y_test = np.r_[np.zeros(n - half), np.ones(n - half)]
    scaler = StandardScaler().fit(x_train)
    clf = LogisticRegression(C=1.0, max_iter=2000).fit(scaler.transform(x_train), y_train)
    err = float(1.0 - clf.score(scaler.transform(x_test), y_test))
    return max(0.0, 2.0 * (1.0 - 2.0 * err)), err


def discrepancy(source: np.ndarray, target: np.ndarray, seed: int = 0) -> dict[str, float]:
    """All three measures in one mapping."""
    if source.ndim != 2 or target.ndim != 2 or source.shape[1] != target.shape[1]:
        raise DataError(f"feature sets must be (n, d) with the same d, got {source.shape} and {target.shape}")
    pad, err = proxy_a_distance(source, target, seed)
    return {"mmd": mmd(source, target, seed=seed), "proxy_a_distance": pad, "domain_error": err,
            "coral": coral_distance(source, target), "n_source": len(source), "n_target": len(target)}


def scatter_plot(source: np.ndarray, target: np.ndarray, path: Path, method: str = "pca",
                 labels: tuple[str, str] = ("source", "target"), max_points: int = 1000, seed: int = 0) -> Path:
    """A 2-D scatter of both domains (PCA or scikit-learn's t-SNE) saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    s, t = (x[rng.permutation(len(x))[:max_points]] for x in (source, target))
    both = np.concatenate([s, t]).astype("float64")
    both = (both - both.mean(0)) / (both.std(0) + 1e-8)
    if method == "tsne":
        from sklearn.manifold import TSNE

        xy = TSNE(2, init="pca", perplexity=min(30.0, max(2.0, len(both) / 4 - 1)), random_state=seed).fit_transform(both)
    else:
        from sklearn.decomposition import PCA

        xy = PCA(2, random_state=seed).fit_transform(both)
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.scatter(*xy[: len(s)].T, s=6, alpha=0.5, label=f"{labels[0]} ({len(s)})")
    ax.scatter(*xy[len(s):].T, s=6, alpha=0.5, label=f"{labels[1]} ({len(t)})")
    ax.set_title(f"features ({method.upper()})")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def as_row(name: str, values: dict[str, Any]) -> str:
    """One aligned text row of the discrepancy table."""
    return (f"{name:<28} mmd={values['mmd']:.4f}  A-dist={values['proxy_a_distance']:.3f}  "
            f"(domain err {values['domain_error']:.3f})  coral={values['coral']:.2e}")
