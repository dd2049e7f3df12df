"""Label discovery, ``label_map`` renaming/merging, and label encoding.

Names come from the train split's ``ClassLabel`` feature when present, else from the sorted
unique values of its label column (ints sort numerically; names are strings). Values of
every split are matched by *name*, so a validation folder set that differs from train's still
encodes correctly; a name the training set lacks is a :class:`DataError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import datasets

from hubtune.errors import DataError

Kind = Literal["single", "multi", "regression", "token"]
KINDS: dict[str, Kind] = {
    "single_label_classification": "single",
    "multi_label_classification": "multi",
    "regression": "regression",
    "token_classification": "token",
}


@dataclass
class LabelSpace:
    """The label set of a task: ``names[id]``; ``to_id`` maps original label names to ids."""

    kind: Kind
    names: list[str] | None
    num_labels: int
    to_id: dict[str, int] = field(default_factory=dict)


def class_names(feature: Any) -> list[str] | None:
    """``ClassLabel`` names of a feature, or of the items of a list feature."""
    inner = getattr(feature, "feature", feature)
    return list(inner.names) if isinstance(inner, datasets.ClassLabel) else None


def label_key(value: Any, names: list[str] | None) -> str:
    """The label name of one raw value (a ``ClassLabel`` id becomes its name)."""
    if names is not None and isinstance(value, int) and 0 <= value < len(names):
        return names[value]
    return str(value)


def _flat(values: Iterable[Any], listed: bool) -> Iterable[Any]:
    return (v for row in values for v in (row or [])) if listed else values


def _unique(table: datasets.Dataset, column: str, listed: bool) -> list[Any]:
    if not listed:
        return list(table.unique(column))
    return list(dict.fromkeys(_flat(table[column], True)))


def _sorted_names(values: list[Any]) -> list[str]:
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return [str(v) for v in sorted(values)]
    return sorted({str(v) for v in values})


def discover(train: datasets.Dataset, column: str, kind: Kind, label_map: dict[str, str] | None) -> LabelSpace:
    """The label space from the train split's ``column``."""
    if kind == "regression":
        if label_map:
            raise DataError("data.label_map is set but the head is a regression head; remove data.label_map")
        first = train[0][column]
        width = len(first) if isinstance(first, list | tuple) else 1
        return LabelSpace("regression", None, width)
    listed = kind in ("multi", "token")
    original = class_names(train.features[column]) or _sorted_names(_unique(train, column, listed))
    if not original:
        raise DataError(f"train split: the label column {column!r} holds no labels")
    if label_map is None:
        return LabelSpace(kind, original, len(original), {n: i for i, n in enumerate(original)})
    unmapped = [n for n in original if n not in label_map]
    if unmapped:
        raise DataError(f"data.label_map has no entry for label(s) {', '.join(unmapped)}; "
                        f"map every label (original name -> new name), e.g. {unmapped[0]}: {unmapped[0]}")
    names = list(dict.fromkeys(label_map[n] for n in original))
    to_id = {src: names.index(dst) for src, dst in label_map.items() if dst in names}
    return LabelSpace(kind, names, len(names), to_id)


def check_split(table: datasets.Dataset, column: str, space: LabelSpace, split: str) -> None:
    """Raise when ``split`` holds label names that the training set lacks."""
    if space.kind == "regression":
        return
    names = class_names(table.features[column])
    listed = space.kind in ("multi", "token")
    keys = {label_key(v, names) for v in _unique(table, column, listed)}
    unseen = sorted(keys - set(space.to_id))
    if unseen:
        shown = ", ".join(unseen[:10]) + (" ..." if len(unseen) > 10 else "")
        raise DataError(f"{split} split has label(s) the training set lacks: {shown} (training labels: "
                        f"{', '.join(space.names or [])}); add them to train, merge them with data.label_map, "
                        "or remove those rows")


@dataclass
class LabelEncoder:
    """Raw label value(s) of one split → ids (lists of ids for multi/token, floats for regression)."""

    space: LabelSpace
    names: list[str] | None = None

    @classmethod
    def for_split(cls, space: LabelSpace, table: datasets.Dataset, column: str) -> LabelEncoder:
        return cls(space, class_names(table.features[column]))

    def __call__(self, value: Any) -> Any:
        kind = self.space.kind
        if kind == "regression":
            return [float(v) for v in value] if isinstance(value, list | tuple) else float(value)
        if kind == "single":
            return self.space.to_id[label_key(value, self.names)]
        return [self.space.to_id[label_key(v, self.names)] for v in value]
