"""Transferability ranking: score candidate checkpoints on a labelled target task without training them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

SCORES = ("logme", "leep", "nce", "h_score")


def score_candidate(features: np.ndarray, labels: np.ndarray, probs: np.ndarray | None) -> dict[str, float | None]:
    """LogME and H-score from features; LEEP and NCE when source probabilities exist."""
    from hubtune.adaptation import transferability as tr

    return {"logme": tr.logme(features, labels), "h_score": tr.h_score(features, labels),
            "leep": tr.leep(probs, labels) if probs is not None else None,
            "nce": tr.nce(probs.argmax(1), labels) if probs is not None else None}


def rank_candidates(candidates: list[str], data: str, *, max_samples: int = 2000, cache: Path | None = None,
                    sort_by: str = "logme") -> list[dict[str, Any]]:
    """One row per candidate (``candidate``, ``n``, ``dim`` and the four scores), best ``sort_by`` first.

    ``candidates`` and ``data`` are spelled as for ``hubtune rank`` (see ``hubtune rank --help``).
    """
    from hubtune.analysis.features import extract, parse_data

    if sort_by not in SCORES:
        raise ValueError(f"sort_by must be one of {', '.join(SCORES)}, not {sort_by!r}")
    spec = parse_data(data, max_samples)
    rows = []
    for cand in candidates:
        ex = extract(cand, spec, cache=cache)
        rows.append({"candidate": cand, "n": len(ex.labels), "dim": int(ex.features.shape[1]),
                     **score_candidate(ex.features, ex.labels, ex.source_probs)})
    rows.sort(key=lambda r: -np.inf if r[sort_by] is None else r[sort_by], reverse=True)
    return rows
