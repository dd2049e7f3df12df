"""The model trained by hubtune: a pretrained backbone plus a task head.

With timm or custom backbones the head is a separate module on the pooled features. With a
transformers backbone the model *is* the native ``AutoModelFor<Task>``, whose base model is
the pretrained backbone, so ``save_pretrained`` gives a standard checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn

from hubtune.contracts import Backbone, HeadSpec
from hubtune.errors import CheckpointError
from hubtune.recipe import HeadConfig

TEXT_KEYS = ("input_ids", "attention_mask", "token_type_ids")
AUDIO_KEYS = ("input_values", "input_features")


class TransferModel(nn.Module):
    """``forward(batch) -> logits``; ``features(batch) -> (B, F)`` the head's input.

    ``head`` may be given ready-made (a trained head; for transformers the whole native model).

    Parameter access for strategies: :meth:`backbone_parameters`, :meth:`head_parameters`,
    :attr:`blocks` (backbone parameter names grouped from input to output, full names).
    """

    def __init__(self, backbone: Backbone, head_spec: HeadSpec, num_labels: int, labels: list[str] | None,
                 head_cfg: HeadConfig, head: nn.Module | None = None) -> None:
        super().__init__()
        self.family = backbone.family
        self.head_spec = head_spec
        self.num_labels = num_labels
        self.labels = labels
        self.preprocessing = backbone.preprocessing
        self.info = dict(backbone.info)
        self.num_features = backbone.num_features
        if backbone.family == "transformers":
            self.net = head or _native_transformers(backbone, head_spec, num_labels, labels, head_cfg)
            prefix = f"net.{self.net.base_model_prefix}."
        else:
            self.backbone = backbone.module
            self.head = head or head_spec.build(
                backbone.num_features, num_labels, hidden=head_cfg.hidden, dropout=head_cfg.dropout
            )
            prefix = "backbone."
        self.blocks = [[prefix + n for n in group] for group in backbone.blocks]
        self._backbone_prefix = prefix
        self._captured: Tensor | None = None
        self.frozen_backbone_eval = False

    def train(self, mode: bool = True) -> TransferModel:
        """Like ``nn.Module.train``, but a frozen backbone may stay in eval mode (fixed BN stats)."""
        super().train(mode)
        if mode and self.frozen_backbone_eval:
            self.backbone_module().eval()
        return self

    # ------------------------------------------------------------------ forward
    def forward(self, batch: dict[str, Tensor], return_features: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Logits; ``(logits, features)`` with ``return_features`` (one forward through a DDP wrapper)."""
        if return_features:
            return self.forward_with_features(batch)
        if self.family == "transformers":
            return self.net(**_model_inputs(batch)).logits
        if self.head_spec.dense is not None:  # detectors take the targets too (hubtune.dense.detection)
            return self.head_spec.dense.forward(self, batch)
        return self.head(self.backbone_forward(batch))

    def backbone_forward(self, batch: dict[str, Tensor]) -> Tensor:
        """Pooled features of a timm/custom backbone."""
        if "pixel_values" in batch:
            return self.backbone(batch["pixel_values"])
        return self.backbone(**_model_inputs(batch))

    def forward_with_features(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """``(logits, features)`` where features are the input of the final linear layer."""
        if self.family != "transformers":
            feats = self.backbone_forward(batch)
            return self.head(feats), feats
        last = self.final_linear()
        handle = last.register_forward_hook(self._capture)
        try:
            logits = self.forward(batch)
        finally:
            handle.remove()
        feats, self._captured = self._captured, None
        return logits, feats  # type: ignore[return-value]

    def features(self, batch: dict[str, Tensor]) -> Tensor:
        return self.forward_with_features(batch)[1]

    def _capture(self, module: nn.Module, args: tuple[Tensor, ...], output: Tensor) -> None:
        self._captured = args[0]

    # ------------------------------------------------------------------ parameters
    def backbone_module(self) -> nn.Module:
        return self.net.base_model if self.family == "transformers" else self.backbone

    def is_backbone_param(self, name: str) -> bool:
        return name.startswith(self._backbone_prefix)

    def backbone_parameters(self) -> Iterator[tuple[str, nn.Parameter]]:
        return ((n, p) for n, p in self.named_parameters() if self.is_backbone_param(n))

    def head_parameters(self) -> Iterator[tuple[str, nn.Parameter]]:
        return ((n, p) for n, p in self.named_parameters() if not self.is_backbone_param(n))

    def head_modules(self) -> list[nn.Module]:
        if self.family != "transformers":
            return [self.head]
        base = self.net.base_model
        return [m for m in self.net.children() if m is not base]

    def final_linear(self) -> nn.Linear:
        linears = [m for head in self.head_modules() for m in head.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise CheckpointError("the model's head has no Linear layer")
        return linears[-1]

    def count_parameters(self) -> tuple[int, int]:
        """``(trainable, total)`` parameter counts."""
        total = sum(p.numel() for p in self.parameters())
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return trainable, total


def is_native_timm(model: TransferModel) -> bool:
    """Whether ``model`` is a timm backbone with a head that timm's own classifier can hold (one Linear)."""
    return model.family == "timm" and isinstance(model.head, nn.Linear | nn.Sequential) and len(
        [m for m in model.head.modules() if isinstance(m, nn.Linear)]
    ) == 1


def _model_inputs(batch: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: v for k, v in batch.items() if k in TEXT_KEYS or k in AUDIO_KEYS or k == "pixel_values"}


def auto_class_name(spec: HeadSpec, modality: str) -> str:
    """The native transformers class of a head: ``AutoModelForAudioClassification`` for audio classification."""
    if modality == "audio" and spec.problem_type == "single_label_classification":
        return "AutoModelForAudioClassification"
    return spec.auto_class


def _native_transformers(backbone: Backbone, spec: HeadSpec, num_labels: int, labels: list[str] | None,
                         head_cfg: HeadConfig) -> nn.Module:
    """``AutoModelFor<Task>`` around the already-loaded pretrained base model."""
    import transformers

    config = backbone.module.config
    config.num_labels = num_labels
    if labels:
        config.id2label = dict(enumerate(labels))
        config.label2id = {name: i for i, name in enumerate(labels)}
    if spec.problem_type != "token_classification":
        config.problem_type = spec.problem_type
    if head_cfg.dropout and hasattr(config, "classifier_dropout"):
        config.classifier_dropout = head_cfg.dropout
    auto = getattr(transformers, auto_class_name(spec, backbone.preprocessing.modality))
    if backbone.module.config.model_type not in {c.model_type for c in auto._model_mapping.keys()}:  # noqa: SIM118
        raise CheckpointError(
            f"transformers has no {auto.__name__} for model type {config.model_type!r}; pick another backbone or head"
        )
    with torch.device("cpu"):
        native = auto.from_config(config, trust_remote_code=backbone.info.get("trust_remote_code", False))
    missing, _ = native.base_model.load_state_dict(backbone.module.state_dict(), strict=False)
    if missing:
        raise CheckpointError(f"pretrained weights did not cover the base model: missing {missing[:5]}")
    return native
