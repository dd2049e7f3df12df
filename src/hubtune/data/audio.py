"""``data.format: audio``: a folder of audio files, their fields (label, speaker, ...) and the splits.

Fields come from the file name by ``data.audio.pattern`` (a regex with named groups, matched
against the path relative to ``data.path``), from a CSV/JSON ``data.audio.metadata`` file with a
``file`` column, or else the label is the parent folder's name (the ``audiofolder`` layout).
Splits are filters on the fields (``data.audio.splits``); with ``split_by`` (e.g. ``speaker``) a
value may sit in one split only, so a test speaker is never heard in training.
:func:`audio_problems` checks all of it from the file listing (nothing decoded) before any
weight loads. Decoding and features live in :mod:`hubtune.data.audio_features`.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import datasets

from hubtune.audio_schema import AudioDataConfig
from hubtune.data.paths import SplitNotFound, resolve_path
from hubtune.errors import DataError
from hubtune.recipe import DataConfig

SPLIT_NAMES = ("train", "validation", "test")


def audio_config(cfg: DataConfig) -> AudioDataConfig:
    return cfg.audio or AudioDataConfig()


def list_clips(cfg: DataConfig, root: Path) -> list[dict[str, str]]:
    """One row per audio file: ``audio`` (path) and every field, with the label field named ``label``."""
    acfg = audio_config(cfg)
    exts = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in acfg.extensions}
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in exts)
    if acfg.metadata:
        rows = _metadata_rows(Path(acfg.metadata), root)
    elif acfg.pattern:
        rows = _pattern_rows(re.compile(acfg.pattern), files, root)
    else:
        rows = [{"file": str(p), "label": p.parent.name} for p in files]
    out = []
    for row in rows:
        row = {k: str(v) for k, v in row.items()}
        if acfg.label_field != "label" and acfg.label_field in row:
            row["label"] = row.pop(acfg.label_field)
        out.append({"audio": row.pop("file"), **row})
    return out


def _pattern_rows(pattern: re.Pattern[str], files: list[Path], root: Path) -> list[dict[str, str]]:
    rows = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        m = pattern.fullmatch(rel) or pattern.fullmatch(path.name)
        if m:
            rows.append({"file": str(path), **{k: v for k, v in m.groupdict().items() if v is not None}})
    return rows


def _metadata_rows(meta: Path, root: Path) -> list[dict[str, Any]]:
    text = meta.read_text()
    if meta.suffix.lower() == ".csv":
        rows: list[dict[str, Any]] = list(csv.DictReader(text.splitlines()))
    elif meta.suffix.lower() == ".jsonl":
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        rows = json.loads(text)
    for row in rows:
        if "file" not in row:
            raise DataError(f"data.audio.metadata: {meta} has a row without a 'file' column: {row}")
        row["file"] = str(root / str(row["file"]))
    return rows


def split_filter(acfg: AudioDataConfig, split: str) -> dict[str, set[str]] | None:
    """The split's filter as ``{field: {values}}``; None when the split is not defined."""
    spec = acfg.splits.get(split)
    if spec is None:
        return {} if split == "train" and not defined_splits(acfg) else None
    if isinstance(spec, list):
        return {acfg.split_by or "": _values(spec)}
    return {("label" if k == acfg.label_field else k): _values(vals) for k, vals in spec.items()}


_RANGE = re.compile(r"^\s*(\d+)\s*\.\.\s*(\d+)\s*$")


def _values(values: Iterable[str | int] | str | int) -> set[str]:
    """Filter values as strings; ``"0..9"`` is the integers 0 to 9 (inclusive)."""
    if isinstance(values, str | int):
        values = [values]
    out: set[str] = set()
    for v in values:
        m = _RANGE.match(str(v))
        out |= {str(i) for i in range(int(m.group(1)), int(m.group(2)) + 1)} if m else {str(v)}
    return out


def defined_splits(acfg: AudioDataConfig) -> list[str]:
    return [s for s, spec in acfg.splits.items() if spec is not None]


def select(rows: Iterable[dict[str, str]], where: dict[str, set[str]]) -> list[dict[str, str]]:
    return [r for r in rows if all(r.get(k) in vals for k, vals in where.items())]


def audio_split_table(cfg: DataConfig, split: str, root: Path) -> datasets.Dataset:
    """Rows of one split (``train``/``validation``/``test``); ``SplitNotFound`` when it is not defined."""
    where = split_filter(audio_config(cfg), split)
    if where is None:
        raise SplitNotFound(f"data.audio.splits has no {split!r} filter")
    rows = select(list_clips(cfg, root), where)
    if not rows:
        raise DataError(f"data.audio.splits.{split}: no audio file matches {where}; check the values")
    keys = list(dict.fromkeys(k for r in rows for k in r))
    return datasets.Dataset.from_dict({k: [r.get(k, "") for r in rows] for k in keys})


# --------------------------------------------------------------------------- validation


def audio_problems(cfg: DataConfig, prefix: str = "data") -> list[str]:
    """Every problem of an audio ``data:`` block found from the file listing, as ``key: message``."""
    if cfg.format != "audio":
        return [f"{prefix}.audio: only for data.format: audio (remove it)"] if cfg.audio else []
    acfg = audio_config(cfg)
    problems = _source_problems(cfg, acfg, prefix)
    if problems or not cfg.path:
        return problems
    try:
        root = resolve_path(cfg.path, f"{prefix}.path")
        rows = list_clips(cfg, root)
    except (DataError, OSError, ValueError) as e:
        return [f"{prefix}.audio: {e}"]
    if not rows:
        how = f"match pattern {acfg.pattern!r}" if acfg.pattern else f"end in {', '.join(acfg.extensions)}"
        return [f"{prefix}.path: no audio file in {root} that they {how}; fix data.path or data.audio.pattern"]
    if any("label" not in r for r in rows):
        return [f"{prefix}.audio.label_field: {acfg.label_field!r} is not a field of the files (fields: "
                f"{', '.join(sorted(set(rows[0]) - {'audio'}))}); set data.audio.label_field"]
    return _split_problems(cfg, acfg, rows, prefix)


def _source_problems(cfg: DataConfig, acfg: AudioDataConfig, prefix: str) -> list[str]:
    problems = []
    if acfg.pattern:
        try:
            groups = re.compile(acfg.pattern).groupindex
        except re.error as e:
            return [f"{prefix}.audio.pattern: not a valid regex ({e})"]
        if acfg.label_field not in groups:
            problems.append(f"{prefix}.audio.pattern: has no named group for the label field {acfg.label_field!r}; "
                            f"write (?P<{acfg.label_field}>...) or set data.audio.label_field to one of "
                            f"{', '.join(groups) or '(no groups)'}")
    if acfg.metadata and not Path(acfg.metadata).is_file():
        problems.append(f"{prefix}.audio.metadata: {acfg.metadata} does not exist")
    if acfg.pattern and acfg.metadata:
        problems.append(f"{prefix}.audio: set pattern or metadata, not both")
    unknown = sorted(set(acfg.splits) - set(SPLIT_NAMES))
    if unknown:
        problems.append(f"{prefix}.audio.splits: unknown split(s) {', '.join(unknown)}; use train, validation, test")
    lists = [s for s, spec in acfg.splits.items() if isinstance(spec, list)]
    if lists and not acfg.split_by:
        problems.append(f"{prefix}.audio.splits.{lists[0]}: a bare list needs data.audio.split_by (e.g. speaker), "
                        "or write {field: [values]}")
    if defined_splits(acfg) and "train" not in defined_splits(acfg):
        problems.append(f"{prefix}.audio.splits: no train filter; add splits.train")
    if "test" in defined_splits(acfg) and cfg.test is None and prefix == "data":
        problems.append(f"{prefix}.test: data.audio.splits defines test but data.test is unset; add data.test: test")
    return problems


def _split_problems(cfg: DataConfig, acfg: AudioDataConfig, rows: list[dict[str, str]], prefix: str) -> list[str]:
    problems = []
    fields = {k for r in rows for k in r} - {"audio"}
    if acfg.split_by and acfg.split_by not in fields:
        problems.append(f"{prefix}.audio.split_by: {acfg.split_by!r} is not a field of the files "
                        f"(fields: {', '.join(sorted(fields))})")
        return problems
    members: dict[str, set[str]] = {}
    for split in defined_splits(acfg):
        where = split_filter(acfg, split) or {}
        for field, values in where.items():
            if field not in fields:
                problems.append(f"{prefix}.audio.splits.{split}: {field!r} is not a field (fields: "
                                f"{', '.join(sorted(fields))})")
                continue
            known = {r[field] for r in rows if field in r}
            missing = sorted(values - known)
            if missing:
                problems.append(f"{prefix}.audio.splits.{split}: no file has {field} = {', '.join(missing)} "
                                f"(known: {', '.join(_sorted(known)[:20])})")
        if acfg.split_by:
            members[split] = {r[acfg.split_by] for r in select(rows, where)}
    for a, b in (("train", "test"), ("train", "validation"), ("validation", "test")):
        shared = sorted(members.get(a, set()) & members.get(b, set()))
        if shared:
            problems.append(f"{prefix}.audio.splits: {acfg.split_by} {', '.join(shared)} is in both {a} and {b}; "
                            f"split_by: {acfg.split_by} keeps each {acfg.split_by} in one split (move it, or "
                            "drop split_by and filter on fields)")
    return problems


def _sorted(values: Iterable[str]) -> list[str]:
    vals = list(values)
    return sorted(vals, key=lambda v: (0, int(v), "") if v.isdigit() else (1, 0, v))
