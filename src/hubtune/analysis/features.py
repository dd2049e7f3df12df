"""Features of a dataset under a backbone, extracted once and cached as ``.safetensors`` (no pickle).

``DATA`` specs (the CLI's compact syntax)::

    FORMAT:PATH[:SPLIT]         jsonl:../shared/data/amazon/books.jsonl   imagefolder:DIR:val
    FORMAT:NAME[:SPLIT]         digits_shift:usps:test   digits_shift:mnist   (built-ins: digits, mnist)
    FILE.yaml[:SPLIT]           a recipe (its data: block) or a bare data block

``MODEL`` specs: ``timm:NAME``, ``transformers:NAME_OR_DIR`` (``pypi:<package>`` works too),
``custom:module:function`` (optionally followed by JSON kwargs: ``custom:hubtune.backbones.small:mlp{"in_features": 256}``),
or a hubtune output folder (its trained head gives LEEP/NCE their
source probabilities).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from hubtune.errors import DataError
from hubtune.recipe import BackboneConfig, DataConfig

BUILTIN = {"digits", "mnist", "digits_shift"}
CACHE_VERSION = 1


@dataclass
class DataSpec:
    config: DataConfig
    split: str
    text: str


@dataclass
class Extracted:
    features: np.ndarray
    labels: np.ndarray
    source_probs: np.ndarray | None = None


def parse_data(spec: str, max_samples: int | None = None) -> DataSpec:
    """A :class:`DataSpec` from the compact DATA syntax (see the module docstring)."""
    head, _, rest = spec.partition(":")
    if head.endswith((".yaml", ".yml")) or (not rest and spec.endswith((".yaml", ".yml"))):
        path, _, split = spec.partition(".yaml:") if ".yaml:" in spec else (spec, "", "")
        path = path if path.endswith((".yaml", ".yml")) else path + ".yaml"
        raw = yaml.safe_load(Path(path).read_text()) or {}
        block = raw.get("data", raw)
        cfg = DataConfig.model_validate({**block, "validation": None})
        return _limited(cfg, split or "train", spec, max_samples)
    fmt = head
    if not rest and fmt not in BUILTIN:
        raise DataError(f"bad DATA {spec!r}: write FORMAT:PATH[:SPLIT], FORMAT:NAME[:SPLIT] or a .yaml file")
    if fmt in BUILTIN:
        name, _, split = rest.partition(":")
        fields: dict[str, Any] = {"format": fmt, "name": name or None}
    else:
        path, split = rest, ""
        if rest.count(":") and not Path(rest).exists():
            path, _, split = rest.rpartition(":")
        fields = {"format": fmt, "path": path}
    try:
        cfg = DataConfig.model_validate({**fields, "validation": None, "num_workers": 0})
    except Exception as e:
        raise DataError(f"bad DATA {spec!r}: {e}") from None
    return _limited(cfg, split or "train", spec, max_samples)


def _limited(cfg: DataConfig, split: str, text: str, max_samples: int | None) -> DataSpec:
    """The requested split becomes the ``train`` split (also as validation: nothing is carved off)."""
    rows = cfg.train if split == "train" else (getattr(cfg, split, None) if split in ("validation", "test") else None)
    rows = rows or split
    update: dict[str, Any] = {"train": rows, "validation": rows, "test": None, "max_train_samples": max_samples,
                              "augment": False}
    return DataSpec(cfg.model_copy(update=update), split, text)


def parse_model(spec: str) -> BackboneConfig | Path:
    """A backbone config from ``SOURCE:NAME``, or the path of a hubtune output folder."""
    path = Path(spec).expanduser()
    if path.is_dir() and (path / "hubtune.json").exists():
        return path
    source, sep, name = spec.partition(":")
    if not sep or source not in ("timm", "transformers", "custom"):
        if source == "pypi":
            return BackboneConfig(source="transformers", name=spec)
        raise DataError(f"bad MODEL {spec!r}: write timm:NAME, transformers:NAME, custom:module:function, "
                        "or a hubtune output folder")
    kwargs: dict[str, Any] = {}
    if name.endswith("}") and "{" in name:  # custom:hubtune.backbones.small:mlp{"in_features": 256}
        name, brace, rest = name.partition("{")
        kwargs = json.loads(brace + rest)
    return BackboneConfig(source=source, name=name, kwargs=kwargs)  # type: ignore[arg-type]


def cache_dir() -> Path:
    return Path(os.environ.get("HUBTUNE_CACHE", Path.home() / ".cache" / "hubtune")) / "features"


def _key(model: str, data: DataSpec, folder_stamp: str) -> str:
    text = json.dumps({"v": CACHE_VERSION, "model": model, "stamp": folder_stamp, "split": data.split,
                       "data": data.config.model_dump(mode="json")}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def extract(model_spec: str, data: DataSpec, *, batch_size: int = 64, cache: Path | None = None,
            seed: int = 0) -> Extracted:
    """Features (and source-head probabilities when the model has a trained head) of ``data``; cached."""
    from safetensors.numpy import load_file, save_file

    target = parse_model(model_spec)
    stamp = ""
    if isinstance(target, Path):
        weights = next(iter(sorted(target.glob("*.safetensors"))), None)
        stamp = str(weights.stat().st_mtime_ns) if weights else ""
    folder = cache or cache_dir()
    file = folder / f"{_key(model_spec, data, stamp)}.safetensors"
    if file.exists():
        arrays = load_file(str(file))
        return Extracted(arrays["features"], arrays["labels"], arrays.get("source_probs"))
    model, has_head = _load_model(target)
    out = _run(model, data, batch_size, seed, has_head)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"features": out.features, "labels": out.labels}
    if out.source_probs is not None:
        arrays["source_probs"] = out.source_probs
    save_file(arrays, str(file))
    return out


def _load_model(target: BackboneConfig | Path) -> tuple[Any, bool]:
    from hubtune.heads import HEADS
    from hubtune.model import TransferModel

    if isinstance(target, Path):
        from hubtune.export import load_exported

        return load_exported(target), True
    from hubtune.backbones import build_backbone

    backbone = build_backbone(target)
    return TransferModel(backbone, HEADS.get("classification"), 2, None, _head_cfg()), False


def _head_cfg() -> Any:
    from hubtune.recipe import HeadConfig

    return HeadConfig()


@torch.no_grad()
def _run(model: Any, data: DataSpec, batch_size: int, seed: int, has_head: bool) -> Extracted:
    from hubtune.data import build_data

    bundle = build_data(data.config, model.preprocessing, model.head_spec, seed=seed, splits=("train",),
                        train_transforms=False)
    loader = torch.utils.data.DataLoader(bundle.train, batch_size=batch_size, collate_fn=bundle.collate_fn)
    model.eval()
    feats, labels, probs = [], [], []
    for batch in loader:
        logits, f = model.forward_with_features(batch)
        feats.append(f.float().cpu().numpy())
        labels.append(batch["labels"].cpu().numpy())
        if has_head:
            probs.append(torch.softmax(logits.float(), 1).cpu().numpy())
    return Extracted(np.concatenate(feats), np.concatenate(labels), np.concatenate(probs) if has_head else None)
