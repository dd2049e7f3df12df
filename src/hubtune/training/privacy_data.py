"""The data side of DP-SGD (:mod:`hubtune.training.privacy`): Poisson-sampled logical batches.

Each epoch's logical batches are one global draw, a function of ``(seed, epoch)`` only: every
process of a multi-process run makes the same draw and takes its share of each batch
(:class:`RankShare`), so the batch that is clipped, summed and noised is the one a single
process would use — the privacy analysis (sampling rate q = logical batch / N) is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from opacus.utils.uniform_sampler import UniformWithReplacementSampler
from torch.utils.data import BatchSampler, Dataset, Sampler

from hubtune.training.sampling import EpochShuffleSampler


def logical_batches(num_examples: int, sample_rate: float, logical_batch: int, steps: int, seed: int, epoch: int,
                    poisson: bool) -> Sampler[list[int]]:
    """The epoch's logical batches: Poisson (each example in each batch with probability ``sample_rate``,
    ``steps`` batches) or, without Poisson sampling, a seeded shuffle cut into ``logical_batch``-sized batches."""
    if poisson:
        return UniformWithReplacementSampler(num_samples=num_examples, sample_rate=sample_rate, steps=steps,
                                             generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    shuffled = EpochShuffleSampler(num_examples, seed)
    shuffled.set_epoch(epoch)
    return BatchSampler(shuffled, logical_batch, drop_last=False)


class RankShare(Sampler[list[int]]):
    """Process ``rank``'s share of each logical batch: its ``rank::world`` indices (may be empty)."""

    def __init__(self, sampler: Sampler[list[int]], rank: int, world: int) -> None:
        self.sampler, self.rank, self.world = sampler, rank, world

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.sampler:
            yield list(batch)[self.rank::self.world]

    def __len__(self) -> int:
        return len(self.sampler)  # type: ignore[arg-type]


class Skip(Sampler[list[int]]):
    """A batch sampler without its first ``skip`` batches (mid-epoch resume). Not Accelerate's
    ``SkipBatchSampler``: that is a ``BatchSampler`` without ``batch_size``, which Opacus's batch memory
    manager then reads for ``len()``."""

    def __init__(self, sampler: Sampler[list[int]], skip: int) -> None:
        self.sampler, self.skip = sampler, skip

    def __iter__(self) -> Iterator[list[int]]:
        for i, batch in enumerate(self.sampler):
            if i >= self.skip:
                yield batch

    def __len__(self) -> int:
        return max(0, len(self.sampler) - self.skip)  # type: ignore[arg-type]


class AllowEmpty(Dataset):
    """The training set, answering an empty Poisson batch (no indices) with no rows."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[index]

    def __getitems__(self, indices: list[int]) -> list[Any]:
        return self.dataset.__getitems__(indices) if indices else []


def collate_or_none(collate: Any) -> Any:
    def wrapped(items: list[Any]) -> Any:
        return collate(items) if items else None  # an empty Poisson batch: noise only

    return wrapped
