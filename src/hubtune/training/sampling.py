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

from hubtune.errors import RecipeError


class EpochShuffleSampler(Sampler[int]):
    """A fresh permutation per epoch from ``seed + epoch``; call :meth:`set_epoch` each epoch."""

    def __init__(self, length: int, seed: int) -> None:
        self.length, self.seed, self.epoch = length, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)

    def __iter__(self) -> Iterator[int]:
        return iter(torch.randperm(self.length, generator=self._generator()).tolist())

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


class LengthGroupedSampler(EpochShuffleSampler):
    """Like :class:`EpochShuffleSampler`, then sorted by length inside mega-batches of 50 batches.

    Batches hold sequences of similar length, so dynamic padding pads little; the order of
    batches inside a mega-batch is shuffled too. Still a function of ``(seed, epoch)`` only.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int, mega_batches: int = 50) -> None:
        super().__init__(len(lengths), seed)
        self.lengths, self.batch_size, self.mega = lengths, batch_size, batch_size * mega_batches

    def __iter__(self) -> Iterator[int]:
        g = self._generator()
        order = torch.randperm(self.length, generator=g).tolist()
        out: list[int] = []
        for start in range(0, self.length, self.mega):
            chunk = sorted(order[start : start + self.mega], key=lambda i: -self.lengths[i])
            batches = [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
            for b in torch.randperm(len(batches), generator=g).tolist():
                out.extend(batches[b])
        return iter(out)


def train_sampler(dataset: Any, batch_size: int, seed: int, group_by_length: bool) -> EpochShuffleSampler:
    """The training sampler: plain shuffling, or length-grouped for tokenized text."""
    if not group_by_length:
        return EpochShuffleSampler(len(dataset), seed)
    columns = getattr(dataset, "column_names", None) or []
    if "input_ids" not in columns:
        raise RecipeError("train.group_by_length: the training data has no token ids (input_ids); "
                          "it applies to text data only, remove it from the recipe")
    import pyarrow.compute as pc

    ids = dataset.with_format("arrow")["input_ids"]
    return LengthGroupedSampler(pc.list_value_length(ids).to_pylist(), batch_size, seed)
