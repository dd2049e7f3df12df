"""Synthetic batches, and a ``DataBundle`` whose loader hands out one pre-built batch at no cost.

The dataset's ``__getitems__`` returns the indices and the collate function returns a fixed,
pinned host batch: hubtune's real DataLoader, sampler and host→device copy all run, but no
decoding or per-sample work, so the measurement is the training step itself.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset

from bench.workloads import Workload
from hubtune.data import DataBundle


def make_batch(w: Workload, batch_size: int | None = None, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random inputs + labels of the workload's shape, on the CPU."""
    g = torch.Generator().manual_seed(seed)
    n = batch_size or w.batch_size
    labels = torch.randint(0, w.num_labels, (n,), generator=g)
    if w.kind == "vision":
        return {"pixel_values": torch.randn(n, w.channels, w.image_size, w.image_size, generator=g), "labels": labels}
    ids = torch.randint(1000, 30000, (n, w.seq_len), generator=g)
    ids[:, 0], ids[:, -1] = 101, 102  # [CLS] ... [SEP]
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids),
            "labels": labels}


class IndexDataset(Dataset):
    """``length`` items that are just their index (the batch comes from :class:`FixedBatch`)."""

    def __init__(self, length: int) -> None:
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> int:
        return index

    def __getitems__(self, indices: list[int]) -> list[int]:
        return list(indices)


class FixedBatch:
    """A collate function that returns the same (pinned when CUDA exists) batch every time."""

    def __init__(self, batch: dict[str, torch.Tensor]) -> None:
        pin = torch.cuda.is_available()
        self.batch = {k: v.pin_memory() if pin else v for k, v in batch.items()}

    def __call__(self, items: list[Any]) -> dict[str, torch.Tensor]:
        return self.batch


def synthetic_bundle(w: Workload, steps: int) -> DataBundle:
    """Enough items for ``steps`` full batches in one epoch (no epoch end inside a measurement)."""
    labels = [f"class_{i}" for i in range(w.num_labels)]
    return DataBundle(IndexDataset(steps * w.batch_size), None, None, labels, w.num_labels,
                      FixedBatch(make_batch(w)), {"dataset": "synthetic"})
