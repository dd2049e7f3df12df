"""Images → ``pixel_values``: timm transforms or a transformers image processor, applied lazily.

Bad images: before training, every image of a split is opened and decoded (JPEGs at reduced
scale, so the check is cheap). With ``data.on_bad_image: skip`` unreadable files are dropped
and one warning gives their count and the first paths; with ``error`` the first one raises a
:class:`DataError` naming the file. A file that still fails later, at load time, raises a
``DataError`` naming it.
"""

from __future__ import annotations

import inspect
import io
import warnings
from dataclasses import dataclass
from typing import Any

import datasets
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from hubtune.contracts import Preprocessing
from hubtune.data.labels import LabelEncoder
from hubtune.errors import DataError


def image_mode(preprocessing: Preprocessing) -> str:
    """PIL mode the model wants: ``L`` for one input channel (and for vectors), else ``RGB``."""
    size = preprocessing.data_config.get("input_size")
    one_channel = preprocessing.modality == "vector" or (isinstance(size, list | tuple) and size[0] == 1)
    return "L" if one_channel else "RGB"


def timm_transform(data_config: dict[str, Any], image_size: int | None = None, training: bool = False) -> Any:
    """``timm.data.create_transform`` from a pretrained data config; ``image_size`` overrides input_size."""
    import timm.data

    known = set(inspect.signature(timm.data.create_transform).parameters)
    cfg = {k: v for k, v in data_config.items() if k in known}
    if image_size:
        size = cfg.get("input_size")
        channels = size[0] if isinstance(size, list | tuple) and len(size) == 3 else 3
        cfg["input_size"] = (channels, image_size, image_size)
    return timm.data.create_transform(**cfg, is_training=training)


def image_name(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("path") or "<image bytes>")
    return str(getattr(value, "filename", "") or "<image>")


def open_image(value: Any, mode: str, draft: int | None = None) -> Image.Image:
    """A PIL image from a path, a datasets ``{"bytes", "path"}`` dict or a PIL image, in ``mode``.

    ``draft``: a JPEG is decoded at 1/2, 1/4 or 1/8 scale when its shorter side stays at least ``draft``
    pixels (libjpeg's DCT scaling: much less work than a full decode followed by a downscale).
    """
    try:
        if isinstance(value, Image.Image):
            img = value
        elif isinstance(value, dict):
            img = Image.open(io.BytesIO(value["bytes"]) if value.get("bytes") else value["path"])
        else:
            img = Image.open(value)
        if draft and img.format == "JPEG":
            img.draft(mode, (draft, draft))
        return img.convert(mode)
    except (OSError, ValueError, SyntaxError) as e:
        raise DataError(f"cannot read image {image_name(value) if not isinstance(value, str) else value}: {e}") from e


def _readable(value: Any) -> bool:
    try:
        img = Image.open(io.BytesIO(value["bytes"]) if value.get("bytes") else value["path"])
        with img:
            img.draft("RGB", (64, 64))
            img.load()
        return True
    except Exception:
        return False


def check_images(table: datasets.Dataset, policy: str, split: str) -> datasets.Dataset:
    """Store images undecoded, then drop (``skip``) or refuse (``error``) unreadable ones."""
    if not isinstance(table.features.get("image"), datasets.Image):
        return table
    table = table.cast_column("image", datasets.Image(decode=False))
    values = table["image"]
    bad = [i for i, v in enumerate(values) if not _readable(v)]
    if not bad:
        return table
    names = [image_name(values[i]) for i in bad]
    if policy == "error":
        raise DataError(f"{split} split: unreadable image {names[0]} ({len(bad)} in all); remove or replace it, "
                        "or set data.on_bad_image: skip")
    warnings.warn(f"{split} split: skipped {len(bad)} unreadable image(s): {', '.join(names[:5])}"
                  + (" ..." if len(bad) > 5 else ""), stacklevel=2)
    keep = sorted(set(range(len(values))) - set(bad))
    return table.select(keep)


@dataclass
class VisionTransform:
    """Batch transform for ``with_transform``: ``image``/``label`` columns → ``pixel_values``/``labels``.

    ``raw`` passes array images (the built-in digit sets) through as ``1×H×W`` tensors in [0, 1].
    """

    mode: str
    transform: Any = None
    processor: Any = None
    raw: bool = False
    size: tuple[int, int] | None = None
    encoder: LabelEncoder | None = None
    draft: int | None = None  # decode JPEGs at reduced scale down to this shorter side (see open_image)

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {"pixel_values": self.pixels(batch["image"])}
        if self.encoder is not None and "label" in batch:
            out["labels"] = [self.encoder(v) for v in batch["label"]]
        return out

    def pixels(self, values: list[Any]) -> list[torch.Tensor]:
        if self.raw:
            return [self._raw(v) for v in values]
        images = [self._pil(v) for v in values]
        if self.processor is not None:
            return list(self.processor(images=images, return_tensors="pt")["pixel_values"])
        return [self.transform(img) for img in images]

    def _pil(self, value: Any) -> Image.Image:
        if isinstance(value, list | np.ndarray | torch.Tensor):
            arr = np.asarray(value, dtype="float32").reshape(np.shape(value)[-2:])
            return Image.fromarray((arr.clip(0, 1) * 255).round().astype("uint8"), "L").convert(self.mode)
        return open_image(value, self.mode, self.draft)

    def _raw(self, value: Any) -> torch.Tensor:
        if isinstance(value, list | np.ndarray | torch.Tensor):
            x = torch.as_tensor(np.asarray(value, dtype="float32"))
        else:
            x = torch.from_numpy(np.asarray(open_image(value, "L"), dtype="float32") / 255.0)
        x = x.reshape(1, *x.shape[-2:])
        if self.size and tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x[None], size=self.size, mode="bilinear", align_corners=False)[0]
        return x


def vision_transform(preprocessing: Preprocessing, *, training: bool, image_size: int | None = None,
                     arrays: bool = False, encoder: LabelEncoder | None = None) -> VisionTransform:
    """The transform for one split; ``arrays`` marks array images (digits/mnist)."""
    mode = image_mode(preprocessing)
    cfg = preprocessing.data_config
    raw = preprocessing.modality == "vector" or (arrays and not cfg and preprocessing.image_processor is None)
    if raw:
        size = (image_size, image_size) if image_size else _config_size(cfg)
        return VisionTransform(mode, raw=True, size=size, encoder=encoder)
    if preprocessing.image_processor is not None:
        return VisionTransform(mode, processor=preprocessing.image_processor, encoder=encoder)
    return VisionTransform(mode, transform=timm_transform(cfg, image_size, training), encoder=encoder,
                           draft=_draft_size(cfg, image_size, training))


def _draft_size(cfg: dict[str, Any], image_size: int | None, training: bool) -> int | None:
    """The shorter side a JPEG may be decoded down to without losing what the transform keeps.

    Evaluation resizes the shorter side to ``input / crop_pct``: decoding down to that loses nothing.
    Training crops (RandomResizedCrop) may zoom into a quarter of the image: keep twice the input side.
    """
    size = image_size or (_config_size(cfg) or (0, 0))[0]
    if not size:
        return None
    return 2 * size if training else int(size / float(cfg.get("crop_pct") or 0.875)) + 1


def _config_size(cfg: dict[str, Any]) -> tuple[int, int] | None:
    size = cfg.get("input_size")
    return (int(size[-2]), int(size[-1])) if isinstance(size, list | tuple) and len(size) >= 2 else None
