"""Task heads: classification, multi-label, regression, token classification.

A head factory takes ``(num_features, num_labels)`` and returns an ``nn.Module``. With a
transformers backbone the native ``AutoModelFor<Task>`` head named by ``auto_class`` is used
instead, so the artifacts are a standard transformers checkpoint.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from hubtune.contracts import HeadSpec
from hubtune.registry import Registry

HEADS: Registry[HeadSpec] = Registry("head", group="hubtune.heads")


def mlp_head(num_features: int, num_labels: int, *, hidden: list[int] | None = None, dropout: float = 0.0) -> nn.Module:
    """A linear layer, or an MLP when ``hidden`` sizes are given; dropout before each layer."""
    layers: list[nn.Module] = []
    width = num_features
    for size in hidden or []:
        layers += [nn.Dropout(dropout), nn.Linear(width, size), nn.GELU()]
        width = size
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(width, num_labels))
    return layers[0] if len(layers) == 1 else nn.Sequential(*layers)


def _ce(logits: Tensor, labels: Tensor, label_smoothing: float = 0.0) -> Tensor:
    return F.cross_entropy(logits, labels.long(), label_smoothing=label_smoothing)


def _bce(logits: Tensor, labels: Tensor, label_smoothing: float = 0.0) -> Tensor:
    target = labels.to(logits.dtype)
    if label_smoothing:
        target = target * (1 - label_smoothing) + 0.5 * label_smoothing
    return F.binary_cross_entropy_with_logits(logits, target)


def _mse(logits: Tensor, labels: Tensor, label_smoothing: float = 0.0) -> Tensor:
    return F.mse_loss(logits.squeeze(-1) if logits.shape[-1] == 1 else logits, labels.to(logits.dtype))


def _token_ce(logits: Tensor, labels: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Mean over the counted tokens; 0 (not the NaN of a mean over nothing) when every label is -100."""
    flat = labels.long().flatten()
    total = F.cross_entropy(logits.flatten(0, -2), flat, ignore_index=-100, label_smoothing=label_smoothing,
                            reduction="sum")
    return total / (flat != -100).sum().clamp(min=1)


def _argmax(logits: Tensor) -> Tensor:
    return logits.argmax(-1)


def _sigmoid_threshold(logits: Tensor) -> Tensor:
    return (logits > 0).long()


def _identity(logits: Tensor) -> Tensor:
    return logits.squeeze(-1) if logits.shape[-1] == 1 else logits


HEADS.register(
    "classification",
    HeadSpec("classification", mlp_head, "single_label_classification", "AutoModelForSequenceClassification",
             "text-classification", ("accuracy", "f1"), _ce, _argmax),
)
HEADS.register(
    "multilabel",
    HeadSpec("multilabel", mlp_head, "multi_label_classification", "AutoModelForSequenceClassification",
             "text-classification", ("f1_micro", "accuracy"), _bce, _sigmoid_threshold),
)
HEADS.register(
    "regression",
    HeadSpec("regression", mlp_head, "regression", "AutoModelForSequenceClassification",
             "text-classification", ("mse", "mae"), _mse, _identity),
)
HEADS.register(
    "token_classification",
    HeadSpec("token_classification", mlp_head, "token_classification", "AutoModelForTokenClassification",
             "token-classification", ("seqeval_f1", "token_accuracy"), _token_ce, _argmax),
)
