"""Reading a recipe file into one mapping: ``extends:`` followed, ``key=value`` overrides applied, ``${VAR}`` expanded.

No schema here (:mod:`hubtune.recipe` checks the mapping); every problem is a :class:`~hubtune.errors.RecipeError`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from hubtune.errors import RecipeError

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(value: Any, problems: list[str], path: str = "") -> Any:
    if isinstance(value, dict):
        return {k: expand_env(v, problems, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, problems, f"{path}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        var, default = m.group(1), m.group(2)
        if var in os.environ:
            return os.environ[var]
        if default is not None:
            return default
        problems.append(f"{path}: environment variable {var} is not set (set it, or write ${{{var}:-default}})")
        return m.group(0)

    return _ENV.sub(sub, value)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise RecipeError(f"recipe file not found: {path}", source=str(path)) from None
    except OSError as e:
        raise RecipeError(f"cannot read recipe {path}: {e}", source=str(path)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise RecipeError(f"malformed YAML{where}: {problem}", source=str(path)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(f"the recipe must be a YAML mapping, got {type(data).__name__}", source=str(path))
    return data


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Merge ``top`` over ``base``; nested mappings merge, everything else replaces."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        elif isinstance(value, dict) and isinstance(out.get(key), list) and value and all(str(k).isdigit() for k in value):
            out[key] = _merge_items(out[key], value, str(key))  # tasks.0.data.path=... reaches list items
        else:
            out[key] = value
    return out


def _merge_items(items: list[Any], updates: dict[Any, Any], key: str) -> list[Any]:
    out = list(items)
    bad = [f"{key}.{i}: no such item (the list has {len(out)}; indices start at 0)" for i in updates if int(i) >= len(out)]
    if bad:
        raise RecipeError(bad)
    for i, value in updates.items():
        old = out[int(i)]
        out[int(i)] = deep_merge(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
    return out


def _resolve_extends(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = path.resolve()
    if path in chain:
        cycle = " -> ".join(p.name for p in (*chain, path))
        raise RecipeError(f"extends: cycle {cycle}; remove one of the extends: lines", source=str(chain[0]))
    data = _read_yaml(path)
    parents = data.pop("extends", None)
    if parents is None:
        return data
    merged: dict[str, Any] = {}
    for parent in [parents] if isinstance(parents, str) else list(parents):
        merged = deep_merge(merged, _resolve_extends(path.parent / str(parent), (*chain, path)))
    return deep_merge(merged, data)


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """Turn ``a.b=value`` strings into a nested mapping; values are parsed as YAML."""
    out: dict[str, Any] = {}
    bad = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            bad.append(f"override {item!r} is not key=value (for example train.lr=3e-4)")
            continue
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                bad.append(f"override {item!r} conflicts with another override of {part!r}")
                break
        else:
            node[parts[-1]] = value
    if bad:
        raise RecipeError(bad)
    return out


def read_recipe_data(path: str | os.PathLike[str], overrides: list[str] | None = None) -> dict[str, Any]:
    """The recipe file as one mapping: ``extends:`` merged, ``key=value`` overrides applied."""
    data = _resolve_extends(Path(path))
    if overrides:
        data = deep_merge(data, parse_overrides(overrides))
    return data
