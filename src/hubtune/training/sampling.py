"""Reproducible data order and augmentation, so a resumed run matches an uninterrupted one.

The order of epoch ``e`` is a permutation seeded by ``(seed, e)``; each fetch's random
augmentation is seeded by ``(seed, e, first index)``. Neither depends on the worker count or
on how many batches ran before, which makes mid-epoch resume exact.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler


class EpochShuffleSampler(Sampler[int]):
    """A fresh permutation per epoch from ``seed + epoch``; call :meth:`set_epoch` each epoch."""

    def __init__(self, length: int, seed: int) -> None:
        self.length, self.seed, self.epoch = length, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.length, generator=g).tolist())

    def __len__(self) -> int:
        return self.length


class SeededDataset(Dataset):
    """Seeds ``random``, NumPy and torch's CPU generator before each fetch.

    The seed comes from ``(seed, epoch, index)`` of the first sample fetched, so a batch's
    augmentation depends only on the data order, never on what ran before: a resumed run
    sees the same augmentations. Batched fetches (``__getitems__``) keep datasets fast.
    """

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed, self.epoch = dataset, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        return self._seeded(int(index), lambda: self.dataset[index])

    def __getitems__(self, indices: list[int]) -> list[Any]:
        fetch = getattr(self.dataset, "__getitems__", None)
        if fetch is None:
            return [self[i] for i in indices]
        return self._seeded(int(indices[0]), lambda: fetch(indices))

    def _seeded(self, index: int, fetch: Any) -> Any:
        item_seed = (self.seed * 1_000_003 + self.epoch * 10_007 + index) % (2**31)
        random.seed(item_seed)
        np.random.seed(item_seed)
        generator = torch.default_generator  # the CPU generator only: cheap, no CUDA init
        state = generator.get_state()
        generator.manual_seed(item_seed)
        try:
            return fetch()
        finally:
            generator.set_state(state)
