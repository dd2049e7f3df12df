"""Which task each training step draws: a pure function of (seed, epoch, step).

An epoch has as many steps as all tasks have batches (``sum ceil(n_i / global batch)``). The task of
each step comes from :meth:`TaskSchedule.epoch_tasks`, computed from a generator seeded by
``(seed, epoch)`` only, so every Accelerate process and every resumed run draws the same sequence:

- ``proportional``: each task's batches exactly once per epoch, in a shuffled order (a task's share of
  the steps is its share of the data);
- ``temperature``: each step draws task *i* with probability ``n_i^(1/T) / sum_j n_j^(1/T)``
  (``T = 1``: proportional in expectation; large ``T``: uniform, so small tasks are seen more);
- ``round_robin``: tasks in turn, ``step mod K``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TaskSchedule:
    """``sizes``: training examples per task; ``batch``: examples per step (all processes together)."""

    sizes: tuple[int, ...]
    batch: int
    seed: int
    sampling: str = "proportional"
    temperature: float = 2.0

    @property
    def batches(self) -> tuple[int, ...]:
        """Batches per task and epoch (a task's last batch is filled from its next pass)."""
        return tuple(max(1, math.ceil(n / self.batch)) for n in self.sizes)

    @property
    def steps_per_epoch(self) -> int:
        return sum(self.batches)

    def probabilities(self) -> list[float]:
        """The chance that a step draws each task (the expected share of steps)."""
        if self.sampling == "round_robin":
            weights = [1.0] * len(self.sizes)
        elif self.sampling == "temperature":
            weights = [n ** (1.0 / self.temperature) for n in self.sizes]
        else:
            weights = [float(b) for b in self.batches]
        total = sum(weights)
        return [w / total for w in weights]

    def generator(self, epoch: int, salt: int = 0) -> torch.Generator:
        return torch.Generator().manual_seed((self.seed * 1_000_003 + epoch * 7_919 + salt) % (2**63))

    def epoch_tasks(self, epoch: int) -> list[int]:
        """The task index of every step of ``epoch``."""
        steps, k = self.steps_per_epoch, len(self.sizes)
        if self.sampling == "round_robin":
            return [s % k for s in range(steps)]
        g = self.generator(epoch)
        if self.sampling == "temperature":
            return torch.multinomial(torch.tensor(self.probabilities()), steps, replacement=True, generator=g).tolist()
        pool = torch.tensor([t for t, b in enumerate(self.batches) for _ in range(b)])
        return pool[torch.randperm(len(pool), generator=g)].tolist()

    def task_stream(self, epoch: int, task: int, length: int) -> Iterator[int]:
        """Task ``task``'s example order in ``epoch``: shuffled passes over its ``length`` examples, endless."""
        g = self.generator(epoch, salt=1 + task)
        while True:
            yield from torch.randperm(length, generator=g).tolist()
