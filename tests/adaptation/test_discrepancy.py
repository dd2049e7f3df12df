"""Discrepancy sanity: identical distributions ≈ 0, shifted ones clearly above."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hubtune.adaptation.discrepancy import discrepancy, scatter_plot


def test_shuffled_copy_near_zero_and_shift_positive(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6))
    same = discrepancy(x, x[rng.permutation(400)])
    halves = discrepancy(x[:200], x[200:])
    shifted = discrepancy(x, rng.normal(size=(400, 6)) + 0.7)
    assert abs(same["mmd"]) < 0.02 and same["coral"] < 1e-12 and abs(same["proxy_a_distance"]) < 0.3
    assert abs(halves["mmd"]) < 0.05 and abs(halves["proxy_a_distance"]) < 0.5
    assert shifted["mmd"] > 0.2 and shifted["proxy_a_distance"] > 1.0
    png = scatter_plot(x, x + 1, tmp_path / "pca.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
