"""Reproducible data order and augmentation, so a resumed run matches an uninterrupted one.

The order of epoch ``e`` is a permutation seeded by ``(seed, e)``; each sample's random
augmentation is seeded by ``(seed, e, index)``. Neither depends on worker count or on how
many batches ran before, which makes mid-epoch resume exact.
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
    """Seeds ``random``, NumPy and torch from ``(seed, epoch, index)`` before each item."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed, self.epoch = dataset, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        item_seed = (self.seed * 1_000_003 + self.epoch * 10_007 + int(index)) % (2**31)
        random.seed(item_seed)
        np.random.seed(item_seed)
        state = torch.random.get_rng_state()
        torch.manual_seed(item_seed)
        try:
            return self.dataset[index]
        finally:
            torch.random.set_rng_state(state)
