"""Where data lives: resolving a recipe's paths, and cheap checks that they exist (no data is read)."""

from __future__ import annotations

from pathlib import Path

from hubtune.errors import DataError
from hubtune.recipe import DataConfig
from hubtune.shared_data import ENV, shared_data

LOCAL_FORMATS = {"imagefolder", "csv", "tsv", "json", "jsonl", "parquet", "segmentation", "audio", "detection"}


def data_path_problems(data: DataConfig, prefix: str = "data") -> list[str]:
    """Missing paths of ``data`` (a ``data:`` or ``adaptation.target:`` block), each as ``prefix.key: ...``."""
    problems = []
    if data.format in LOCAL_FORMATS:
        if not data.path and not _split_path(data.train):
            problems.append(f"{prefix}.path: required for format {data.format!r} (a folder or file)")
        elif data.path and not Path(data.path).expanduser().exists():
            problems.append(f"{prefix}.path: {data.path} does not exist{_shared_hint(data.path)}")
    if data.format == "hub" and not data.path:
        problems.append(f"{prefix}.path: required for format 'hub' (a dataset id such as 'glue')")
    for split in ("train", "validation", "test"):
        path = _split_path(getattr(data, split))
        if path and not Path(path).expanduser().exists():
            problems.append(f"{prefix}.{split}.path: {path} does not exist{_shared_hint(path)}")
    return problems


def _split_path(split: object) -> str | None:
    return getattr(split, "path", None)


def _shared_hint(path: str) -> str:
    return " (the shared data sets live in ../shared/data; set HUBTUNE_DATA to their folder)" if "shared" in path else ""


class SplitNotFound(DataError):
    """The requested split name does not exist in the dataset (the caller may carve one)."""


def resolve_path(path: str, key: str) -> Path:
    """``path`` as an existing local path; ``.../shared/data/...`` also resolves via ``HUBTUNE_DATA``."""
    p = Path(path).expanduser()
    if p.exists():
        return p
    marker = "shared/data/"
    if marker in path.replace("\\", "/"):
        rest = path.replace("\\", "/").split(marker, 1)[1].strip("/")
        try:
            return shared_data(*rest.split("/"))
        except DataError:
            pass
        raise DataError(
            f"{key}: data path {path} does not exist; run from the project root, or set "
            f"{ENV}=/path/to/shared/data (recipes can write ${{{ENV}:-../shared/data}}/...)"
        )
    raise DataError(f"{key}: data path {path} does not exist (resolved to {p.resolve()}); fix {key} in the recipe")
