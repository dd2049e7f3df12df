"""Column mapping: dataset columns → canonical names (image, text, text_pair, label, tokens, tags)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import get_args

import datasets

from hubtune.errors import DataError
from hubtune.recipe import ColumnName, DataConfig, SplitConfig

CANONICAL: tuple[str, ...] = get_args(ColumnName)
CANDIDATES: dict[str, tuple[str, ...]] = {
    "image": ("image", "img", "images", "picture", "photo", "pixel_values"),
    "text": ("text", "sentence", "content", "review", "sentence1", "document"),
    "text_pair": ("text_pair", "sentence2"),
    "label": ("label", "labels", "target", "class", "y", "score", "category"),
    "tokens": ("tokens", "words"),
    "tags": ("tags", "ner_tags", "labels", "pos_tags", "label"),
    "audio": ("audio", "file", "path"),
    "speaker": ("speaker", "speaker_id", "client_id"),
}


def needed_columns(modality: str, problem_type: str) -> tuple[list[str], list[str]]:
    """(required, optional) canonical columns for a modality and head problem type."""
    if problem_type == "token_classification":
        return ["tokens", "tags"], []
    if modality == "text":
        return ["text", "label"], ["text_pair"]
    if modality == "audio":
        return ["audio", "label"], ["speaker"]
    return ["image", "label"], []


def resolve_columns(table: datasets.Dataset, cfg: DataConfig, spec: SplitConfig | None, split: str,
                    required: Sequence[str], optional: Sequence[str] = ()) -> dict[str, str]:
    """Map each needed canonical name to a column of ``table``; a clear DataError when one is missing."""
    overrides = dict(spec.columns) if spec else {}
    unknown = sorted(set(overrides) - set(CANONICAL))
    if unknown:
        raise DataError(f"data.{split}.columns: unknown key(s) {', '.join(unknown)}; use {', '.join(CANONICAL)}")
    explicit: dict[str, str] = {**cfg.columns, **overrides}
    existing = list(table.column_names)
    out: dict[str, str] = {}
    for canon in [*required, *optional]:
        col = explicit.get(canon) or _auto(table, canon, taken=set(out.values()))
        if col is None and canon in optional:
            continue
        if col is None or col not in existing:
            raise DataError(_missing(split, canon, col, existing))
        out[canon] = col
    return out


def canonical_table(table: datasets.Dataset, mapping: dict[str, str]) -> datasets.Dataset:
    """Keep only the mapped columns, renamed to their canonical names."""
    table = table.select_columns(list(mapping.values()))
    renames = {col: canon for canon, col in mapping.items() if col != canon}
    return table.rename_columns(renames) if renames else table


def _auto(table: datasets.Dataset, canon: str, taken: set[str]) -> str | None:
    for name in CANDIDATES[canon]:
        if name in table.column_names and name not in taken:
            return name
    kinds = {"image": (datasets.Image, datasets.Array3D, datasets.Array2D), "label": (datasets.ClassLabel,)}.get(canon)
    if kinds:
        hits = [c for c, f in table.features.items() if isinstance(f, kinds) and c not in taken]
        if len(hits) == 1:
            return hits[0]
    return None


def _missing(split: str, canon: str, col: str | None, existing: list[str]) -> str:
    have = ", ".join(existing) or "(none)"
    fix = (f"set data.columns.{canon}: <column> (or data.{split}: {{path: ..., columns: {{{canon}: <column>}}}} "
           f"for this split only)")
    if col is None:
        looked = ", ".join(CANDIDATES[canon])
        return f"{split} split: no {canon} column found (looked for {looked}); its columns are: {have}; {fix}"
    return f"{split} split: {canon} column {col!r} is missing; its columns are: {have}; {fix}"
