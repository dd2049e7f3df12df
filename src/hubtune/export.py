"""Native artifacts: what plain timm / transformers load without hubtune, and loading them back.

- timm: ``model.safetensors`` + ``config.json`` (architecture, num_classes, label_names,
  pretrained_cfg) written by timm's own ``save_for_hf``; ``timm.create_model("hf-hub:...")``
  or ``timm.create_model("local-dir:...")`` loads it.
- transformers: ``save_pretrained`` of the native ``AutoModelFor<Task>`` plus the tokenizer or
  image processor.
- custom (and timm with an MLP head): ``model.safetensors`` of the whole model and a
  ``config.json`` that names the factory; it loads with hubtune.

``hubtune.json`` records the task, labels and recipe facts hubtune needs to load any of them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from hubtune.atomic import atomic_write_json, atomic_write_with
from hubtune.contracts import Backbone, Preprocessing
from hubtune.errors import CheckpointError
from hubtune.heads import HEADS
from hubtune.model import TransferModel, is_native_timm
from hubtune.recipe import HeadConfig

META_FILE = "hubtune.json"


def export_model(model: TransferModel, out: Path, head_cfg: HeadConfig) -> dict[str, Any]:
    """Write the model's native artifacts into ``out``; returns the ``hubtune.json`` record."""
    out.mkdir(parents=True, exist_ok=True)
    model = model.to("cpu").eval()
    if model.head_spec.dense is not None:  # dense heads: their library's own layout (smp, torchvision)
        layout = model.head_spec.dense.export(model, out)
    elif model.family == "transformers":
        layout = _export_transformers(model, out)
    elif is_native_timm(model):
        layout = _export_timm(model, out)
    else:
        layout = _export_state(model, out)
    if model.preprocessing.feature_extractor is not None:  # audio: preprocessor_config.json
        model.preprocessing.feature_extractor.save_pretrained(str(out))
    meta = {
        "format": layout,
        "family": model.family,
        "head": {"type": model.head_spec.name, **head_cfg.model_dump()},
        "problem_type": model.head_spec.problem_type,
        "num_labels": model.num_labels,
        "labels": model.labels,
        "modality": model.preprocessing.modality,
        "data_config": _jsonable(model.preprocessing.data_config),
        "backbone": _jsonable({k: v for k, v in model.info.items() if k != "pretrained_cfg"}),
    }
    atomic_write_json(out / META_FILE, meta)
    return meta


def _export_timm(model: TransferModel, out: Path) -> str:
    import timm
    from timm.models import save_for_hf

    arch = model.info["architecture"]
    native = timm.create_model(arch, pretrained=False, num_classes=model.num_labels, **model.info.get("model_kwargs", {}))
    state = dict(model.backbone.state_dict())
    linear = model.final_linear()
    classifier = model.info.get("classifier", "classifier")
    state[f"{classifier}.weight"], state[f"{classifier}.bias"] = linear.weight, linear.bias
    missing, unexpected = native.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"cannot map the trained model onto timm {arch}: missing {missing}, unexpected {unexpected}")
    timm_keys = {k: v for k, v in model.preprocessing.data_config.items() if k != "audio"}  # audio: preprocessor_config
    native.pretrained_cfg = {**model.info.get("pretrained_cfg", {}), **_jsonable(timm_keys)}
    native.pretrained_cfg.pop("hf_hub_id", None)
    native.pretrained_cfg.pop("url", None)
    config = {"label_names": model.labels} if model.labels else None
    tmp = out / ".timm-export"
    tmp.mkdir(exist_ok=True)
    save_for_hf(native, str(tmp), model_config=config, safe_serialization=True)
    for f in tmp.iterdir():
        f.replace(out / f.name)
    tmp.rmdir()
    return "timm"


def _export_transformers(model: TransferModel, out: Path) -> str:
    model.net.save_pretrained(str(out), safe_serialization=True)
    pre = model.preprocessing
    for obj in (pre.tokenizer, pre.image_processor):
        if obj is not None:
            obj.save_pretrained(str(out))
    return "transformers"


def _export_state(model: TransferModel, out: Path) -> str:
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic_write_with(out / "model.safetensors", lambda tmp: save_file(tensors, tmp, metadata={"format": "pt"}))
    config = {"hubtune_layout": "state_dict", "architecture": model.info.get("architecture") or model.info.get("name"),
              "num_classes": model.num_labels, "label_names": model.labels}
    atomic_write_json(out / "config.json", config)
    return "hubtune"


# --------------------------------------------------------------------------- loading back

def load_exported(folder: Path) -> TransferModel:
    """Load an exported model (a hubtune output folder or a pulled repo) for eval / predict."""
    meta_path = folder / META_FILE
    if not meta_path.exists():
        raise CheckpointError(f"{folder} has no {META_FILE}: is it a hubtune output folder (finished run)?")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") == "multitask":
        names = ", ".join(t["name"] for t in meta.get("tasks", []))
        raise CheckpointError(f"{folder} holds a multi-task model ({names}): use one task's folder "
                              f"({folder}/tasks/<name>), --task NAME, or hubtune.multitask.load")
    spec = HEADS.get(meta["head"]["type"])
    head_cfg = HeadConfig(**{k: v for k, v in meta["head"].items() if k != "type"}, type=meta["head"]["type"])
    labels, n = meta["labels"], meta["num_labels"]
    if meta["format"] == "transformers":
        model = _load_transformers(folder, spec, labels, n, head_cfg, meta.get("modality", ""))
        if meta.get("modality") == "audio":  # the clip duration it was trained on
            model.preprocessing.data_config.update(meta.get("data_config") or {})
        return model
    if meta["format"] == "timm":
        return _load_timm(folder, spec, labels, n, head_cfg, meta)
    if spec.dense is not None:
        backbone, head = spec.dense.load_parts(folder, meta)
        return TransferModel(backbone, spec, n, labels, head_cfg, head=head)
    return _load_state(folder, spec, labels, n, head_cfg, meta)


def _load_transformers(folder: Path, spec: Any, labels: list[str] | None, n: int, head_cfg: HeadConfig,
                       modality: str = "") -> TransferModel:
    import transformers

    from hubtune.backbones.transformers_backbone import _preprocessing, transformers_blocks
    from hubtune.model import auto_class_name

    native = getattr(transformers, auto_class_name(spec, modality)).from_pretrained(str(folder))
    pre = _preprocessing(str(folder), None, native.config, False)
    backbone = Backbone(native.base_model, n, pre, "transformers", transformers_blocks(native.base_model),
                        {"architecture": native.config.model_type})
    return TransferModel(backbone, spec, n, labels, head_cfg, head=native)


def _load_timm(folder: Path, spec: Any, labels: list[str] | None, n: int, head_cfg: HeadConfig,
               meta: dict[str, Any]) -> TransferModel:
    import copy

    import timm

    net = timm.create_model(f"local-dir:{folder.resolve()}", pretrained=True)
    head = copy.deepcopy(net.get_classifier())
    net.reset_classifier(0)
    pre = Preprocessing("image", data_config=dict(timm.data.resolve_data_config({}, model=net)))
    if meta.get("modality") == "audio":  # spectrogram backbone: its saved feature extractor and audio settings
        from transformers import AutoFeatureExtractor

        pre = Preprocessing("audio", data_config=dict(meta.get("data_config") or {}),
                            feature_extractor=AutoFeatureExtractor.from_pretrained(str(folder)))
    backbone = Backbone(net, net.num_features, pre, "timm", [], meta.get("backbone", {}))
    return TransferModel(backbone, spec, n, labels, head_cfg, head=head)


def _load_state(folder: Path, spec: Any, labels: list[str] | None, n: int, head_cfg: HeadConfig,
                meta: dict[str, Any]) -> TransferModel:
    from safetensors.torch import load_file

    from hubtune.backbones import build_backbone
    from hubtune.recipe import BackboneConfig

    info = meta["backbone"]
    if meta["family"] == "custom":
        cfg = BackboneConfig(source="custom", name=info["factory"], kwargs=info.get("factory_kwargs", {}))
    else:
        cfg = BackboneConfig(source="timm", name=info["architecture"], pretrained=False, kwargs=info.get("model_kwargs", {}))
    model = TransferModel(build_backbone(cfg), spec, n, labels, head_cfg)
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    model.preprocessing.data_config.update(meta.get("data_config") or {})
    return model


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.tolist()
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)
