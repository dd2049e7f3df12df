"""Evaluation of a model on one split: loss and metrics, for the trainer, ``hubtune eval`` and benchmarks.

:func:`evaluate_model` runs the loop (under an ``Accelerator`` when given: autocast, padded
tails of uneven shards dropped, results gathered across processes; plainly on the model's
device otherwise); :func:`score` turns logits and labels into the loss and the recipe's metrics.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from hubtune.contracts import HeadSpec
from hubtune.metrics import compute_metrics


@dataclass
class EvalResult:
    """Metrics (``loss`` first) and the predictions/references they were computed from."""

    metrics: dict[str, float]
    predictions: Any
    references: Any


@torch.no_grad()
def evaluate_model(model: nn.Module, batches: Iterable[dict[str, Tensor]], spec: HeadSpec,
                   metrics: Sequence[str], label_names: list[str] | None = None,
                   accelerator: Any = None) -> EvalResult:
    """Loss and ``metrics`` of ``model`` over ``batches`` (each a dict with ``labels``)."""
    if spec.dense is not None:  # dense heads stream their metrics (no predictions kept)
        return EvalResult(spec.dense.evaluate(model, batches, metrics, label_names, accelerator), None, None)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    logits_all, labels_all = [], []
    try:
        for batch in batches:
            if accelerator is None:
                batch = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in batch.items()}
            with accelerator.autocast() if accelerator is not None else contextlib.nullcontext():
                logits = model(batch)
            labels = batch["labels"]
            if accelerator is not None:
                if spec.problem_type == "token_classification":
                    logits = accelerator.pad_across_processes(logits, dim=1, pad_index=0)
                    labels = accelerator.pad_across_processes(labels, dim=1, pad_index=-100)
                logits, labels = accelerator.gather_for_metrics((logits.float(), labels))
            logits_all.append(logits.float().cpu())
            labels_all.append(labels.cpu())
    finally:
        model.train(was_training)
    return score(_concat(logits_all), _concat(labels_all), spec, metrics, label_names)


def score(logits: Tensor, labels: Tensor, spec: HeadSpec, metrics: Sequence[str],
          label_names: list[str] | None = None) -> EvalResult:
    """The head's loss and ``metrics`` for ``logits`` against ``labels`` (``-100`` = ignored token)."""
    loss = float(spec.loss(logits, labels))
    preds = spec.predict(logits)
    problem = spec.problem_type
    if problem == "token_classification":
        mask = labels != -100
        preds_l = [p[m].tolist() for p, m in zip(preds, mask, strict=True)]
        refs_l = [r[m].tolist() for r, m in zip(labels, mask, strict=True)]
        values = compute_metrics(metrics, preds_l, refs_l, problem_type=problem, label_names=label_names)
        return EvalResult({"loss": loss, **values}, preds_l, refs_l)
    values = compute_metrics(metrics, preds.numpy(), labels.numpy(), problem_type=problem,
                             logits=logits.numpy(), label_names=label_names)
    return EvalResult({"loss": loss, **values}, preds.numpy(), labels.numpy())


def _concat(parts: list[Tensor]) -> Tensor:
    if parts and parts[0].ndim >= 2 and len({p.shape[1] for p in parts}) > 1:  # token tasks: pad to one length
        width = max(p.shape[1] for p in parts)
        fill = -100 if not parts[0].is_floating_point() else 0.0
        parts = [torch.nn.functional.pad(p, (0, 0) * (p.ndim - 2) + (0, width - p.shape[1]), value=fill) for p in parts]
    return torch.cat(parts) if parts else torch.empty(0)
