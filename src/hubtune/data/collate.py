"""Batch collation: stack pixels or pad tokens per batch, and shape ``labels`` for the head's loss."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from hubtune.data.labels import Kind


@dataclass
class Collator:
    """``list[item] -> dict[str, Tensor]``; picklable, so it works in DataLoader worker processes.

    Labels: long ids (single), float multi-hot (multi), float (regression), long padded with -100 (token).
    """

    kind: Kind
    num_labels: int
    tokenizer: Any = None

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        labels = [item["labels"] for item in items] if "labels" in items[0] else None
        features = [{k: v for k, v in item.items() if k != "labels"} for item in items]
        stacked = [k for k in ("pixel_values", "input_values", "input_features") if k in features[0]]
        if stacked:  # images, and fixed-length audio
            batch = {k: torch.stack([torch.as_tensor(f[k]) for f in features]) for k in stacked}
        else:
            batch = self._pad(features)
        if labels is not None:
            batch["labels"] = self._labels(labels, batch)
        return batch

    def _pad(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        from transformers import DataCollatorWithPadding

        return dict(DataCollatorWithPadding(self.tokenizer, return_tensors="pt")(features))

    def _labels(self, labels: list[Any], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.kind == "single":
            return torch.tensor(labels, dtype=torch.long)
        if self.kind == "regression":
            return torch.tensor(labels, dtype=torch.float32)
        if self.kind == "multi":
            hot = torch.zeros(len(labels), self.num_labels, dtype=torch.float32)
            for row, ids in enumerate(labels):
                hot[row, list(ids)] = 1.0
            return hot
        width = batch["input_ids"].shape[1]
        out = torch.full((len(labels), width), -100, dtype=torch.long)
        left = getattr(self.tokenizer, "padding_side", "right") == "left"
        for row, ids in enumerate(labels):
            ids = list(ids)[:width]
            if ids:
                target = out[row, width - len(ids):] if left else out[row, : len(ids)]
                target.copy_(torch.tensor(ids, dtype=torch.long))
        return out
