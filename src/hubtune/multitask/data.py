"""The training data of a multi-task run: every task's examples behind one index, one task per batch.

:class:`MultiTaskDataset` puts the tasks' training sets end to end and tags each fetched item with its
task; :class:`TaskBatchSampler` yields, for each step of :class:`~hubtune.multitask.schedule.TaskSchedule`,
one batch of that step's task per Accelerate process (Accelerate's shard hands process *p* the *p*-th),
so all processes train the same task at the same step. The epoch is read from the (seeded) dataset,
which Accelerate's loader sets each epoch, also on a resumed one.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from typing import Any

from torch import Tensor
from torch.utils.data import Dataset

from hubtune.multitask.schedule import TaskSchedule

Collate = Callable[[list[Any]], dict[str, Tensor]]


class MultiTaskDataset(Dataset):
    """The tasks' datasets end to end; an item is ``(task index, item of that task)``."""

    def __init__(self, datasets: list[Any]) -> None:
        self.datasets = datasets
        self.sizes = [len(d) for d in datasets]
        self.offsets = [sum(self.sizes[:i]) for i in range(len(datasets))]

    def __len__(self) -> int:
        return sum(self.sizes)

    def locate(self, index: int) -> tuple[int, int]:
        task = bisect.bisect_right(self.offsets, index) - 1
        return task, index - self.offsets[task]

    def __getitem__(self, index: int) -> tuple[int, Any]:
        task, local = self.locate(int(index))
        return task, self.datasets[task][local]

    def __getitems__(self, indices: list[int]) -> list[tuple[int, Any]]:
        """One batch (all of one task, as the sampler makes them), fetched in one call when the dataset can."""
        task = self.locate(int(indices[0]))[0]
        local = [int(i) - self.offsets[task] for i in indices]
        fetch = getattr(self.datasets[task], "__getitems__", None)
        items = fetch(local) if fetch is not None else [self.datasets[task][i] for i in local]
        return [(task, item) for item in items]


class TaskBatchSampler:
    """Batches of global indices: per step, ``processes`` batches of ``batch_size`` from the step's task."""

    def __init__(self, epoch_source: Any, schedule: TaskSchedule, data: MultiTaskDataset, batch_size: int,
                 processes: int) -> None:
        self.epoch_source, self.schedule, self.data = epoch_source, schedule, data
        self.batch_size, self.processes = batch_size, processes

    def __len__(self) -> int:
        return self.schedule.steps_per_epoch * self.processes

    def __iter__(self) -> Iterator[list[int]]:
        epoch = int(getattr(self.epoch_source, "epoch", 0))
        streams = [self.schedule.task_stream(epoch, t, n) for t, n in enumerate(self.data.sizes)]
        for task in self.schedule.epoch_tasks(epoch):
            offset = self.data.offsets[task]
            for _ in range(self.processes):
                yield [offset + next(streams[task]) for _ in range(self.batch_size)]


class TaskCollate:
    """Collates a batch of tagged items with its task's own collate function; adds ``batch["task"]`` (the name)."""

    def __init__(self, collates: list[Collate], names: list[str]) -> None:
        self.named = [NamedCollate(c, n) for c, n in zip(collates, names, strict=True)]

    def __call__(self, items: list[tuple[int, Any]]) -> dict[str, Any]:
        return self.named[items[0][0]]([item for _, item in items])


class NamedCollate:
    """One task's collate function, adding ``batch["task"]`` (for its evaluation loaders)."""

    def __init__(self, collate: Collate, name: str) -> None:
        self.collate, self.name = collate, name

    def __call__(self, items: list[Any]) -> dict[str, Any]:
        batch = dict(self.collate(items))
        batch["task"] = self.name
        return batch
