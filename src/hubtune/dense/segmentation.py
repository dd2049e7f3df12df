"""The ``semantic_segmentation`` head: a segmentation-models-pytorch decoder on the recipe's timm backbone.

``prepare`` builds ``smp.create_model(decoder, "tu-<timm name>", encoder_weights=None)`` and copies the
recipe's already-loaded backbone weights (ImageNet from ``backbone.weights``, a hub repo, ...) into its
encoder, so strategies see the encoder as the backbone and the decoder + segmentation head as the head.
The model's forward gives per-pixel logits ``(B, C, H, W)``; the loss ignores ``-100`` pixels.
Export writes smp's own layout (``smp.from_pretrained(folder)`` loads it without hubtune).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hubtune.contracts import Backbone, DenseHooks, HeadSpec
from hubtune.dense.tables import TABLE_FORMATS
from hubtune.errors import CheckpointError, DataError

DECODERS = {"unet": "Unet", "fpn": "FPN", "deeplabv3plus": "DeepLabV3Plus"}
IGNORE = -100


class SegmentationDecoder(nn.Module):
    """smp's decoder and segmentation head as one module: encoder features → per-pixel logits."""

    def __init__(self, decoder: nn.Module, segmentation_head: nn.Module) -> None:
        super().__init__()
        self.decoder, self.segmentation_head = decoder, segmentation_head

    def forward(self, features: list[Tensor]) -> Tensor:
        return self.segmentation_head(self.decoder(features))


def segmentation_loss(logits: Tensor, labels: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Pixel-wise cross-entropy; ``-100`` pixels (the data's ignore index) do not count."""
    return F.cross_entropy(logits.float(), labels.long(), ignore_index=IGNORE, label_smoothing=label_smoothing)


def _argmax(logits: Tensor) -> Tensor:
    return logits.argmax(1)


def _no_factory(num_features: int, num_labels: int, **_: Any) -> nn.Module:
    raise CheckpointError("semantic_segmentation heads are built around the encoder by the head spec's prepare()")


def smp_config(arch: str, decoder: str, num_labels: int) -> dict[str, Any]:
    return {"arch": decoder, "encoder_name": f"tu-{arch}", "encoder_weights": None, "in_channels": 3,
            "classes": num_labels}


def _native(config: dict[str, Any]) -> nn.Module:
    import segmentation_models_pytorch as smp

    cfg = dict(config)
    return smp.create_model(cfg.pop("arch"), **cfg)


def copy_encoder_weights(encoder: nn.Module, timm_model: nn.Module) -> None:
    """Copy the timm backbone's tensors into smp's ``tu-`` encoder (same timm names); all must be covered."""
    target = encoder.model.state_dict()
    source = timm_model.state_dict()
    missing = [k for k in target if k not in source]
    wrong = [k for k in target if k in source and source[k].shape != target[k].shape]
    if missing or wrong:
        raise CheckpointError(f"the backbone's weights do not fit smp's encoder: missing {missing[:4]}, "
                              f"shape mismatch {wrong[:4]}; use a timm backbone smp supports as tu-<name>")
    encoder.model.load_state_dict({k: source[k] for k in target})


class SegmentationHooks(DenseHooks):
    """The :class:`~hubtune.contracts.DenseHooks` of ``semantic_segmentation`` (``SEGMENTATION.dense``)."""

    def recipe_problems(self, recipe: Any) -> list[str]:
        problems = []
        if recipe.backbone.source != "timm":
            problems.append("backbone.source: semantic_segmentation builds an smp encoder from a timm backbone; "
                            "use backbone.source: timm")
        if recipe.data.format != "segmentation" and recipe.data.format not in TABLE_FORMATS:
            problems.append(f"data.format: semantic_segmentation reads format 'segmentation' (images/ + masks/ "
                            f"per split) or a table with image and mask columns ({', '.join(TABLE_FORMATS)}), "
                            f"not {recipe.data.format!r}")
        if (recipe.head.decoder or "unet") not in DECODERS:
            problems.append(f"head.decoder: unknown decoder {recipe.head.decoder!r}; known: {', '.join(DECODERS)}")
        if recipe.strategy.options.get("cache_features"):
            problems.append("strategy.cache_features: caches pooled features, not the encoder's feature maps; "
                            "remove it for semantic_segmentation")
        if recipe.head.hidden:
            problems.append("head.hidden: the smp decoder is the head; remove head.hidden")
        return problems

    def prepare(self, backbone: Backbone, num_labels: int, head_cfg: Any) -> tuple[Backbone, nn.Module]:
        """The smp model around ``backbone``'s weights: ``(encoder as Backbone, decoder + head)``."""
        if backbone.family != "timm":
            raise CheckpointError("semantic_segmentation needs a timm backbone (backbone.source: timm)")
        arch = str(backbone.info.get("architecture") or backbone.info["name"]).split(".")[0]
        config = smp_config(arch, head_cfg.decoder or "unet", num_labels)
        try:
            net = _native(config)
        except (KeyError, RuntimeError, ValueError) as e:
            raise CheckpointError(f"smp cannot build {config['arch']} on tu-{arch}: {e}") from None
        copy_encoder_weights(net.encoder, backbone.module)
        return self._parts(net, config, backbone.preprocessing, backbone.info, backbone.blocks)

    @staticmethod
    def _parts(net: nn.Module, config: dict[str, Any], preprocessing: Any, info: dict[str, Any],
               blocks: list[list[str]]) -> tuple[Backbone, nn.Module]:
        names = {n for n, _ in net.encoder.named_parameters()}
        groups = [[f"model.{n}" for n in g if f"model.{n}" in names] for g in blocks]
        groups = [g for g in groups if g] or [sorted(names)]
        info = {**info, "smp": config}
        encoder = Backbone(net.encoder, net.encoder.out_channels[-1], preprocessing, "smp", groups, info)  # type: ignore[arg-type]
        return encoder, SegmentationDecoder(net.decoder, net.segmentation_head)

    def build_data(self, cfg: Any, preprocessing: Any, *, seed: int, splits: Any = ("train", "validation", "test"),
                   train_transforms: bool = True) -> Any:
        from hubtune.dense.data import build_segmentation_data

        return build_segmentation_data(cfg, preprocessing, seed=seed, splits=splits,
                                       train_transforms=train_transforms)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batches: Iterable[dict[str, Tensor]], metrics: Any,
                 label_names: list[str] | None, accelerator: Any = None) -> dict[str, float]:
        """Loss, the recipe's metrics and ``iou_<class>``, streamed (one batch of masks in memory at a time)."""
        from hubtune.metrics.dense import SegmentationMetrics

        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        stream, loss_sum, pixels = None, 0.0, 0
        try:
            for batch in batches:
                if accelerator is None:
                    batch = {k: v.to(device) for k, v in batch.items()}
                with accelerator.autocast() if accelerator is not None else contextlib.nullcontext():
                    logits = model(batch)
                logits, labels = logits.float(), batch["labels"]
                losses = F.cross_entropy(logits, labels, ignore_index=IGNORE, reduction="none").sum((1, 2))
                counts = (labels != IGNORE).sum((1, 2))
                preds = logits.argmax(1)
                if accelerator is not None:
                    preds, labels, losses, counts = accelerator.gather_for_metrics((preds, labels, losses, counts))
                stream = stream or SegmentationMetrics(logits.shape[1], label_names)
                stream.update(preds, labels)
                loss_sum, pixels = loss_sum + float(losses.sum()), pixels + int(counts.sum())
        finally:
            model.train(was_training)
        if stream is None:
            raise DataError("nothing to evaluate: the split is empty")
        values = stream.compute()
        wanted = {str(m).lower() for m in metrics}
        kept = {k: v for k, v in values.items() if k in wanted or k.startswith("iou_")}
        return {"loss": loss_sum / max(1, pixels), **kept}

    def export(self, model: Any, out: Path) -> str:
        """smp's layout (``config.json`` + ``model.safetensors``) that ``smp.from_pretrained`` loads."""
        net = native_model(model)
        tmp = out / ".smp-export"
        shutil.rmtree(tmp, ignore_errors=True)
        net.save_pretrained(str(tmp))
        for name in ("config.json", "model.safetensors"):
            (tmp / name).replace(out / name)
        shutil.rmtree(tmp)  # smp's own README card is replaced by hubtune's
        return "smp"

    def load_parts(self, folder: Path, meta: dict[str, Any]) -> tuple[Backbone, nn.Module]:
        """(encoder Backbone, decoder) of an exported smp folder, for ``hubtune eval`` / ``predict``."""
        import segmentation_models_pytorch as smp

        from hubtune.contracts import Preprocessing

        net = smp.from_pretrained(str(folder))
        pre = Preprocessing("image", data_config=dict(meta.get("data_config") or {}))
        info = dict(meta.get("backbone") or {})
        return self._parts(net, info.get("smp", {}), pre, info, [])

    def card_extra(self, model: Any, data: Any, metrics: dict[str, dict[str, float]], out: Path) -> dict[str, Any]:
        from hubtune.dense.overlay import save_validation_overlays

        image = save_validation_overlays(model, data, out / "predictions_overlay.png")
        return {"dense": card_context(model, data, metrics, image)}

    def predict_files(self, model: Any, inputs: list[str], out_dir: Path, threshold: float = 0.0) -> list[dict]:
        from hubtune.dense.overlay import predict_to_files

        return predict_to_files(model, inputs, out_dir, threshold)

    def peft_targets(self, encoder: nn.Module) -> list[str]:
        """The encoder's ungrouped convolutions (stem, pointwise, head) and linear layers: LoRA on a grouped
        (depthwise) convolution needs a rank divisible by its groups and cannot be merged."""
        return [n for n, m in encoder.named_modules()
                if isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and m.groups == 1)]

    def peft_adapter(self, model: Any, config: Any) -> Any:
        """The adapter on a plain smp model (decoder and segmentation head as ``modules_to_save``):
        ``PeftModel.from_pretrained(smp_model_with_the_pretrained_encoder, "adapter")`` loads it."""
        import copy

        from peft import get_peft_model
        from peft.tuners.tuners_utils import BaseTunerLayer

        cfg = copy.deepcopy(config)  # its target_modules may be shortened to suffixes: name the adapted layers
        cfg.target_modules = {f"encoder.{n.removeprefix('base_model.model.')}"
                              for n, m in model.backbone.named_modules() if isinstance(m, BaseTunerLayer)}
        cfg.modules_to_save = ["decoder", "segmentation_head"]
        wrapped = get_peft_model(_native(model.info["smp"]), cfg)
        state = {k.replace("base_model.model.", "base_model.model.encoder.", 1): v
                 for k, v in model.backbone.state_dict().items()}
        for name in ("decoder", "segmentation_head"):
            for k, v in getattr(model.head, name).state_dict().items():
                for kind in ("original_module", "modules_to_save.default"):
                    state[f"base_model.model.{name}.{kind}.{k}"] = v
        missing, unexpected = wrapped.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise CheckpointError(f"cannot map the adapter onto smp {model.info['smp']['arch']}: "
                                  f"missing {missing[:4]}, unexpected {unexpected[:4]}")
        return wrapped


def native_model(model: Any) -> nn.Module:
    """The trained model as a plain smp model (encoder, decoder, segmentation head)."""
    net = _native(model.info["smp"])
    net.encoder.load_state_dict(model.backbone.state_dict())
    net.decoder.load_state_dict(model.head.decoder.state_dict())
    net.segmentation_head.load_state_dict(model.head.segmentation_head.state_dict())
    return net.eval()


def card_context(model: Any, data: Any, metrics: dict[str, dict[str, float]], image: str | None) -> dict[str, Any]:
    labels = model.labels or []
    splits = list(metrics)
    pre = model.preprocessing.data_config
    return {"task": "semantic_segmentation", "splits": splits, "per_class": per_class_rows(labels, metrics, "iou"),
            "class_names": labels,
            "ignore_index": data.info.get("ignore_index"), "input_size": list(pre.get("input_size", []))[-2:],
            "mean": [round(float(v), 4) for v in pre.get("mean", [])],
            "std": [round(float(v), 4) for v in pre.get("std", [])], "image": image, **model.info["smp"]}


def per_class_rows(labels: list[str], metrics: dict[str, dict[str, float]], prefix: str) -> list[list[str]]:
    """The card's per-class table: ``[class, <prefix>_<class> of each split in metrics]`` (``—`` when missing)."""
    fmt = lambda v: "—" if v is None else f"{v:.4f}"  # noqa: E731
    return [[name, *[fmt(split.get(f"{prefix}_{name}")) for split in metrics.values()]] for name in labels]


SEGMENTATION = HeadSpec(
    "semantic_segmentation", _no_factory, "semantic_segmentation", "", "image-segmentation",
    ("miou", "pixel_accuracy"), segmentation_loss, _argmax, dense=SegmentationHooks(),
)
