"""Raw split tables: where each split's rows come from (files, folders, the hub, built-ins).

Every loader returns a ``datasets.Dataset`` with the dataset's own column names; column
mapping, labels and transforms happen later (see :mod:`hubtune.data.build`).
"""

from __future__ import annotations

import re
from pathlib import Path

import datasets
from datasets.data_files import get_data_patterns, resolve_pattern

from hubtune.data.builtin import builtin_split
from hubtune.data.diagnose import explain_table_error
from hubtune.data.paths import SplitNotFound, resolve_path
from hubtune.errors import DataError
from hubtune.recipe import DataConfig, SplitConfig

SPLITS = ("train", "validation", "test")
_BUILDERS = {"csv": "csv", "tsv": "csv", "json": "json", "jsonl": "json", "parquet": "parquet", "imagefolder": "imagefolder"}
_EXTENSIONS = {"csv": [".csv"], "tsv": [".tsv"], "json": [".json", ".jsonl"], "jsonl": [".jsonl", ".json"],
               "parquet": [".parquet"]}
_ALIASES = {"validation": ("val", "valid", "dev"), "val": ("validation",), "valid": ("validation",),
            "dev": ("validation",), "test": ("testing", "eval")}
_DIAGNOSED = ("csv", "tsv", "json", "jsonl")  # text formats whose load errors diagnose.py explains
_SPLIT_SPEC = re.compile(r"^\s*([\w.-]+)\s*(\[.*\])?\s*$")


def split_spec(cfg: DataConfig, split: str) -> SplitConfig | None:
    """The recipe's spec for ``split`` as a :class:`SplitConfig` (``None`` when unset)."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    spec = getattr(cfg, split)
    if spec is None or isinstance(spec, SplitConfig):
        return spec
    return SplitConfig(split=spec)


def load_split_table(cfg: DataConfig, split: str) -> datasets.Dataset:
    """Raw rows of one split (``train``/``validation``/``test``) with the dataset's own column names.

    Raises :class:`SplitNotFound` (a ``DataError``) when the split is unset or not in the dataset.
    """
    spec = split_spec(cfg, split)
    if spec is None:
        raise SplitNotFound(f"data.{split} is not set in the recipe")
    name = spec.split or ("train" if spec.path else split)
    try:
        if cfg.format in ("digits", "mnist", "digits_shift"):
            return _with_aliases(name, lambda s: builtin_split(cfg.format, s, cfg.name))
        path_key = f"data.{split}.path" if spec.path else "data.path"
        source = spec.path or cfg.path
        if cfg.format == "hub":
            return _load_hub(source, cfg.name, name, path_key)
        if source is None:
            raise DataError(f"data.path is not set: format {cfg.format} needs a file or folder (or set {path_key})")
        if cfg.format == "audio":
            from hubtune.data.audio import audio_split_table

            return audio_split_table(cfg, split, resolve_path(source, path_key))
        return _load_local(cfg.format, resolve_path(source, path_key), name, f"data.{split}")
    except (SplitNotFound, DataError):
        raise
    except (datasets.exceptions.DatasetGenerationError, OSError, ValueError) as e:
        if "corresponds to no data" in str(e):
            raise DataError(f"{split} split is empty (data.{split}: {spec.path or cfg.path}); point it at rows") from e
        raise DataError(f"cannot load data.{split} ({cfg.format}, {spec.path or cfg.path}): {e}") from e


def _load_hub(source: str | None, name: str | None, split: str, key: str) -> datasets.Dataset:
    if not source:
        raise DataError("data.path is not set: format hub needs a dataset id (data.path: owner/name)")
    if source.startswith((".", "/", "~")) or "shared/data" in source:
        source = str(resolve_path(source, key))
    try:
        return _with_aliases(split, lambda s: datasets.load_dataset(source, name, split=s))
    except (FileNotFoundError, datasets.exceptions.DatasetNotFoundError) as e:
        raise DataError(f"{key}: dataset {source!r} not found locally or in the hub cache ({e}); "
                        "check the id, or download it while online") from e


def _load_local(fmt: str, path: Path, split: str, key: str) -> datasets.Dataset:
    try:
        return _read_local(fmt, path, split)
    except datasets.exceptions.DatasetGenerationError as e:
        if fmt not in _DIAGNOSED:
            raise
        files = [path] if path.is_file() else [Path(f) for f in _split_files(path, _base(split), _EXTENSIONS[fmt])]
        raise DataError(f"cannot load {key} ({fmt}): {explain_table_error(fmt, files, e)}") from e


def _read_local(fmt: str, path: Path, split: str) -> datasets.Dataset:
    builder = _BUILDERS[fmt]
    kwargs = {"delimiter": "\t"} if fmt == "tsv" else {}
    if fmt == "imagefolder":
        return _with_aliases(split, lambda s: datasets.load_dataset(builder, data_dir=str(path), split=s))
    if path.is_file():
        return _with_aliases(split, lambda s: datasets.load_dataset(builder, data_files={"train": str(path)},
                                                                    split=s, **kwargs))

    def load(s: str) -> datasets.Dataset:
        base = _base(s)
        files = _split_files(path, base, _EXTENSIONS[fmt])
        if not files:
            raise SplitNotFound(f"no {fmt} file for split {base!r} in {path}")
        return datasets.load_dataset(builder, data_files={base: files}, split=s, **kwargs)

    return _with_aliases(split, load)


def _split_files(folder: Path, split: str, extensions: list[str]) -> list[str]:
    """Files of ``split`` in ``folder`` by datasets' naming conventions (train.csv, dev.tsv, ...)."""
    patterns = get_data_patterns(str(folder))
    standard = {str(k): v for k, v in patterns.items()}
    todo = standard.get(split) or [f"**/{split}[-._ 0-9]*", f"**/*[-._ 0-9]{split}[-._ 0-9]*"]
    files: list[str] = []
    for pattern in todo:
        try:
            files += resolve_pattern(pattern, str(folder), allowed_extensions=extensions)
        except FileNotFoundError:
            continue
    return sorted(dict.fromkeys(files))


def _base(spec: str) -> str:
    m = _SPLIT_SPEC.match(spec)
    if not m:
        raise DataError(f"bad split {spec!r}: write a split name, optionally sliced like train[:2000] or train[10%:]")
    return m.group(1)


def _with_aliases(spec: str, load: object) -> datasets.Dataset:
    """``load(spec)``; when the split is unknown, retry common aliases (val ↔ validation, dev)."""
    base = _base(spec)
    tries = [spec] + [spec.replace(base, alias, 1) for alias in _ALIASES.get(base, ())]
    first: Exception | None = None
    for attempt in tries:
        try:
            return load(attempt)  # type: ignore[operator]
        except (SplitNotFound, ValueError) as e:
            if isinstance(e, SplitNotFound) or "Unknown split" in str(e):
                first = first or e
                continue
            raise
    raise SplitNotFound(f"split {spec!r} not found ({first})")
