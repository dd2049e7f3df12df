"""The search space: sampling a trial's values (define-by-run, conditional keys) and checking it up front."""

from __future__ import annotations

import copy
import itertools
import json
import random
from typing import Any

from hubtune.errors import RecipeError
from hubtune.search_schema import ParamSpec

MAX_CHECKED = 256  # recipes validated before the first trial (categorical product, plus numeric ends)
_MISSING = object()


def get_path(data: dict[str, Any], key: str, default: Any = _MISSING) -> Any:
    """The value at dotted ``key`` of a nested mapping (``default``, or KeyError, when absent)."""
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            if default is _MISSING:
                raise KeyError(key)
            return default
        node = node[part]
    return node


def set_path(data: dict[str, Any], key: str, value: Any) -> None:
    """Set dotted ``key`` in a nested mapping, creating mappings on the way."""
    parts = key.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            raise RecipeError(f"search.space.{key}: {where} is {child!r}, not a mapping, so {key} cannot be set")
        node = child
    node[parts[-1]] = value


def _primitive(values: list[Any]) -> bool:
    return all(v is None or isinstance(v, bool | int | float | str) for v in values)


def _categories(spec: ParamSpec) -> list[Any]:
    """Optuna categories: the values themselves, or their JSON text when one is a list or mapping."""
    values = list(spec.choice or [])
    return values if _primitive(values) else [json.dumps(v, sort_keys=True) for v in values]


def decode(spec: ParamSpec, value: Any) -> Any:
    """A recipe value from what Optuna stored for ``spec``."""
    if spec.kind == "choice" and not _primitive(list(spec.choice or [])):
        return json.loads(value)
    return value


def active(spec: ParamSpec, values: dict[str, Any], base: dict[str, Any]) -> bool:
    """Whether ``spec``'s ``when:`` holds for the values sampled so far (else the base recipe's)."""
    for key, wanted in spec.when.items():
        have = values[key] if key in values else get_path(base, key, None)
        if have not in (wanted if isinstance(wanted, list) else [wanted]):
            return False
    return True


def suggest(trial: Any, space: dict[str, ParamSpec], base: dict[str, Any]) -> dict[str, Any]:
    """Sample the active keys of ``space`` on an Optuna trial, in the order written."""
    values: dict[str, Any] = {}
    for key, spec in space.items():
        if not active(spec, values, base):
            continue
        kind, bounds = spec.kind, spec.bounds()
        if kind == "choice":
            values[key] = decode(spec, trial.suggest_categorical(key, _categories(spec)))
        elif kind in ("int", "log_int"):
            step = int(spec.step or 1)
            values[key] = trial.suggest_int(key, bounds[0], bounds[1], step=step, log=kind == "log_int")
        else:
            values[key] = trial.suggest_float(key, bounds[0], bounds[1], step=spec.step, log=kind == "log_uniform")
    return values


def apply(base: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of the recipe mapping with the sampled values set."""
    out = copy.deepcopy(base)
    for key, value in values.items():
        set_path(out, key, value)
    return out


def base_values(space: dict[str, ParamSpec], base: dict[str, Any]) -> dict[str, Any] | None:
    """The recipe's own values in Optuna's form, when every active key has one inside the space."""
    values: dict[str, Any] = {}
    stored: dict[str, Any] = {}
    for key, spec in space.items():
        if not active(spec, values, base):
            continue
        value = get_path(base, key, None)
        if value is None or not _inside(spec, value):
            return None
        values[key] = value
        stored[key] = _categories(spec)[spec.choice.index(value)] if spec.kind == "choice" else value  # type: ignore[union-attr]
    return stored


def stored(space: dict[str, ParamSpec], values: dict[str, Any], where: str) -> dict[str, Any]:
    """``values`` (keys of the space) in Optuna's form; a RecipeError names keys or values outside the space."""
    problems, out = [], {}
    for key, value in values.items():
        spec = space.get(key)
        if spec is None:
            problems.append(f"{where}: {key} is not a key of search.space ({', '.join(space)})")
        elif not _inside(spec, value):
            problems.append(f"{where}: {key}={value!r} lies outside its space {spec.model_dump()}")
        else:
            out[key] = _categories(spec)[spec.choice.index(value)] if spec.kind == "choice" else value  # type: ignore[union-attr]
    if problems:
        raise RecipeError(problems)
    return out


def _inside(spec: ParamSpec, value: Any) -> bool:
    if spec.kind == "choice":
        return value in (spec.choice or [])
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    lo, hi = spec.bounds()
    return lo <= value <= hi and (not spec.kind.endswith("int") or float(value).is_integer())


def check_points(space: dict[str, ParamSpec], base: dict[str, Any], limit: int = MAX_CHECKED) -> list[dict[str, Any]]:
    """Value sets covering every choice (all combinations, up to ``limit``) with numeric keys at both ends."""
    choices = [(k, list(s.choice or [])) for k, s in space.items() if s.kind == "choice"]
    combos = [dict(zip([k for k, _ in choices], c, strict=True)) for c in itertools.product(*[v for _, v in choices])]
    if len(combos) > limit:  # too many: a seeded sample that still shows every value once
        firsts = [{k: v for k, v in ((k, vs[min(i, len(vs) - 1)]) for k, vs in choices)}
                  for i in range(max(len(vs) for _, vs in choices))]
        combos = firsts + random.Random(0).sample(combos, limit - len(firsts))
    points = []
    for combo in combos:
        for end in (0, 1):
            values: dict[str, Any] = {}
            for key, spec in space.items():
                if active(spec, values, base):
                    values[key] = combo[key] if spec.kind == "choice" else spec.bounds()[end]
            points.append(values)
    unique = {json.dumps(p, sort_keys=True, default=str): p for p in points}
    return list(unique.values())


def check_space(space: dict[str, ParamSpec], base: dict[str, Any], make: Any) -> int:
    """Validate the recipe ``make(values)`` builds for every point of :func:`check_points`.

    Raises one :class:`RecipeError` listing each distinct problem with the values that cause it;
    returns how many recipes were checked."""
    problems: dict[str, list[str]] = {}
    points = check_points(space, base)
    for values in points:
        try:
            make(values)
        except RecipeError as e:
            shown = ", ".join(f"{k}={v!r}" for k, v in values.items())
            for problem in e.problems:
                problems.setdefault(problem, []).append(shown)
    if problems:
        lines = [f"search.space: with {where[0]}{f' (and {len(where) - 1} more)' if len(where) > 1 else ''}: {p}"
                 for p, where in problems.items()]
        raise RecipeError([*lines, "fix the space (or add when: conditions) so every sampled recipe is valid"])
    return len(points)
