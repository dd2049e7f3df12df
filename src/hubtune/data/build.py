"""``build_data``: splits → canonical columns → labels → carve/subsample → transforms; and ``predict_inputs``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import datasets
import numpy as np
import torch
from torch.utils.data import Dataset

from hubtune.contracts import HeadSpec, Preprocessing
from hubtune.data.collate import Collator
from hubtune.data.columns import canonical_table, needed_columns, resolve_columns
from hubtune.data.labels import KINDS, LabelEncoder, LabelSpace, check_split, discover
from hubtune.data.loading import SplitNotFound, load_split_table, split_spec
from hubtune.data.text import empty_texts, tokenize_table
from hubtune.data.vision import check_images, vision_transform
from hubtune.errors import DataError
from hubtune.recipe import DataConfig

log = logging.getLogger(__name__)
MIN_VALIDATION = 10  # fewer validation examples than this (or than classes) get a warning


@dataclass
class DataBundle:
    """The data of one run. Splits are map-style datasets (``datasets.Dataset`` with a lazy
    transform) whose items are dicts; ``collate_fn`` turns a list of items into model inputs + ``labels``.
    ``train`` is ``None`` only when ``build_data`` was asked not to build it (``splits``)."""

    train: Dataset
    validation: Dataset | None
    test: Dataset | None
    labels: list[str] | None
    num_labels: int
    collate_fn: Callable[[list[dict]], dict[str, torch.Tensor]]
    info: dict[str, Any] = field(default_factory=dict)


def build_data(cfg: DataConfig, preprocessing: Preprocessing, head: HeadSpec, *, seed: int,
               splits: Sequence[str] = ("train", "validation", "test"), train_transforms: bool = True) -> DataBundle:
    """Load, check and prepare the splits named in ``splits`` (labels always come from train).

    A missing validation split (unset, or not in the dataset) is carved out of train
    (``validation_size``, stratified by label when possible, with ``seed``); ``max_train_samples``
    and ``max_eval_samples`` then subsample with ``seed``. An explicitly set test split that
    does not exist is an error.
    """
    if head.dense is not None:  # dense heads bring their own formats (hubtune.dense)
        return head.dense.build_data(cfg, preprocessing, seed=seed, splits=splits, train_transforms=train_transforms)
    kind = KINDS[head.problem_type]
    required, optional = needed_columns(preprocessing.modality, head.problem_type)
    label_col = "tags" if kind == "token" else "label"
    if preprocessing.modality == "audio" or cfg.format == "audio":  # a non-audio backbone fails here, named
        from hubtune.data.audio import audio_config
        from hubtune.data.audio_features import configure

        configure(preprocessing, audio_config(cfg).duration)
    tables, columns = {}, {}
    try:
        tables["train"], columns["train"] = _prepare(cfg, "train", required, optional)
    except SplitNotFound as e:
        raise DataError(f"data.train: {e}; set data.train to a split of the dataset") from None
    space = discover(tables["train"], label_col, kind, cfg.label_map)
    carved = False
    for split in ("validation", "test"):
        if split == "test" and (split not in splits or cfg.test is None):
            continue
        try:
            tables[split], columns[split] = _prepare(cfg, split, required, optional)
        except SplitNotFound as e:
            if split == "test":
                raise DataError(f"data.test: {e}; set data.test to an existing split or remove it") from None
            carved = True
            continue
        check_split(tables[split], label_col, space, split)
    if carved:
        tables["train"], tables["validation"] = _carve(tables["train"], cfg.validation_size, seed, space, label_col)
        columns["validation"] = columns["train"]
    limits = {"train": cfg.max_train_samples, "validation": cfg.max_eval_samples, "test": cfg.max_eval_samples}
    built: dict[str, Any] = {}
    for split in [s for s in ("train", "validation", "test") if s in splits and s in tables]:
        table = _limit(tables[split], limits[split], seed)
        training = split == "train" and train_transforms and cfg.augment
        built[split] = _finish(table, cfg, preprocessing, space, split, training)
    if "validation" in built:
        _warn_small_validation(len(built["validation"]), space, carved, cfg)
    info = {
        "dataset": cfg.path or cfg.format, "config_name": cfg.name, "format": cfg.format,
        "modality": preprocessing.modality, "problem_type": head.problem_type,
        "splits": {s: len(t) for s, t in built.items()}, "columns": columns,
        "validation_from_train": carved, "validation_size": cfg.validation_size if carved else None,
    }
    if preprocessing.modality == "audio":  # per-speaker metrics and the card's audio section
        from hubtune.data.audio_report import audio_info

        info.update(audio_info(built, preprocessing))
    collate = Collator(kind, space.num_labels, preprocessing.tokenizer if preprocessing.modality == "text" else None)
    return DataBundle(built.get("train"), built.get("validation"), built.get("test"),  # type: ignore[arg-type]
                      space.names, space.num_labels, collate, info)


def _prepare(cfg: DataConfig, split: str, required: list[str], optional: list[str]) -> tuple[datasets.Dataset, dict]:
    raw = load_split_table(cfg, split)
    mapping = resolve_columns(raw, cfg, split_spec(cfg, split), split, required, optional)
    table = canonical_table(raw, mapping)
    if len(table) == 0:
        raise DataError(f"{split} split is empty (data.{split} in {cfg.path or cfg.format}); point it at rows")
    for column, rows in empty_texts(table).items():
        shown = ", ".join(map(str, rows[:10])) + (", ..." if len(rows) > 10 else "")
        log.warning("data.%s: %d of %d text(s) in column %r (%s) are empty, at row(s) %s; they train on an empty "
                    "input: drop or fill them", split, len(rows), len(table), column, mapping[column], shown)
    return table, mapping


def _warn_small_validation(n: int, space: LabelSpace, carved: bool, cfg: DataConfig) -> None:
    """Warn when validation metrics (and best-epoch / early-stopping choices made on them) mean little."""
    classes = space.num_labels if space.kind == "single" else 0
    if n >= max(MIN_VALIDATION, classes):
        return
    why = f"fewer than the {classes} classes" if n < classes else f"fewer than {MIN_VALIDATION}"
    if carved:
        fix = (f"carved from train with data.validation_size={cfg.validation_size}: raise data.validation_size "
               "or set data.validation to a larger split")
    else:
        fix = "give data.validation more rows" + (" or raise data.max_eval_samples" if cfg.max_eval_samples else "")
    log.warning("the validation split has only %d example(s), %s: its metrics, and the best epoch or early stop "
                "chosen on them, mean little (%s)", n, why, fix)


def _carve(train: datasets.Dataset, size: float, seed: int, space: LabelSpace,
           column: str) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Split ``size`` of train off as validation; stratified for single-label tasks when possible."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(train))
    strata = None
    if space.kind == "single":
        encode = LabelEncoder.for_split(space, train, column)
        strata = [encode(v) for v in train[column]]
    try:
        keep, held = train_test_split(idx, test_size=size, random_state=seed, stratify=strata)
    except ValueError:
        try:
            keep, held = train_test_split(idx, test_size=size, random_state=seed)
        except ValueError as e:
            raise DataError(f"cannot carve a validation split of {size} from {len(train)} train rows: {e}; "
                            "set data.validation or data.validation_size") from None
    return train.select(np.sort(keep)), train.select(np.sort(held))


def _limit(table: datasets.Dataset, n: int | None, seed: int) -> datasets.Dataset:
    if n is None or n >= len(table):
        return table
    return table.shuffle(seed=seed).select(range(n))


def _finish(table: datasets.Dataset, cfg: DataConfig, preprocessing: Preprocessing, space: LabelSpace,
            split: str, training: bool) -> datasets.Dataset:
    """Tokenize (text) or attach the lazy image transform (image/vector)."""
    label_col = "tags" if space.kind == "token" else "label"
    encoder = LabelEncoder.for_split(space, table, label_col)
    if preprocessing.modality == "text":
        return tokenize_table(table, preprocessing.tokenizer, cfg.max_length, encoder, split,
                              words=space.kind == "token")
    if preprocessing.modality == "audio":
        from hubtune.data.audio import audio_config
        from hubtune.data.audio_features import AudioTransform

        return table.with_transform(AudioTransform(preprocessing, training, audio_config(cfg).augment, encoder))
    table = check_images(table, cfg.on_bad_image, split)
    if len(table) == 0:
        raise DataError(f"{split} split has no readable images")
    arrays = isinstance(table.features["image"], datasets.Array2D | datasets.Array3D)
    transform = vision_transform(preprocessing, training=training, image_size=cfg.image_size, arrays=arrays,
                                 encoder=encoder)
    return table.with_transform(transform)


def predict_inputs(items: Sequence[str], preprocessing: Preprocessing, max_length: int = 128) -> dict[str, torch.Tensor]:
    """One batch of model inputs from image file paths (image/vector) or raw texts (text)."""
    if not items:
        raise DataError("nothing to predict: give at least one input")
    if preprocessing.modality == "audio":
        from hubtune.data.audio_features import predict_audio

        return predict_audio([str(i) for i in items], preprocessing)
    if preprocessing.modality == "text":
        if preprocessing.tokenizer is None:
            raise DataError("the backbone gave no tokenizer for text inputs")
        enc = preprocessing.tokenizer([str(t) for t in items], padding=True, truncation=True,
                                      max_length=max_length, return_tensors="pt")
        return dict(enc)
    transform = vision_transform(preprocessing, training=False)
    transform.draft = None  # full decode: predictions equal plain timm/transformers on the same files
    return {"pixel_values": torch.stack(transform.pixels(list(items)))}
