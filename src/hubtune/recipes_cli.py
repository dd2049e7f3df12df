"""``hubtune recipes list | show NAME | validate [PATH...]``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from hubtune.errors import RecipeError


def recipe_roots() -> list[Path]:
    """Where shipped recipes live: ``$HUBTUNE_RECIPES``, ``./recipes``, the source checkout's."""
    roots = [Path(os.environ["HUBTUNE_RECIPES"])] if os.environ.get("HUBTUNE_RECIPES") else []
    roots += [Path.cwd() / "recipes", Path(__file__).resolve().parents[2] / "recipes"]
    seen, out = set(), []
    for r in roots:
        if r.is_dir() and r.resolve() not in seen:
            seen.add(r.resolve())
            out.append(r)
    return out


def is_recipe(path: Path) -> bool:
    """Recipe files are YAML outside ``accelerate/`` (launcher configs) and ``base/`` fragments count too."""
    return path.suffix in {".yaml", ".yml"} and "accelerate" not in path.parts


def shipped() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for root in recipe_roots():
        for path in sorted(root.rglob("*.y*ml")):
            rel = path.relative_to(root)
            if is_recipe(rel) and rel.parts[0] != "base":
                out.setdefault(str(rel.with_suffix("")), path)
    return out


def find(name: str) -> Path:
    path = Path(name)
    if path.is_file():
        return path
    recipes = shipped()
    if name in recipes:
        return recipes[name]
    matches = [k for k in recipes if k.endswith("/" + name) or Path(k).name == name]
    if len(matches) == 1:
        return recipes[matches[0]]
    raise RecipeError(f"no recipe named {name!r}; `hubtune recipes list` shows them: {', '.join(recipes) or 'none'}")


def validate_paths(paths: list[str]) -> list[tuple[Path, str | None]]:
    """(file, problem or None) for each recipe file under ``paths`` (folders are searched recursively)."""
    from hubtune.validation import load_recipe

    files: list[Path] = []
    for p in map(Path, paths or [str(r) for r in recipe_roots()]):
        if p.is_dir():
            files += [f for f in sorted(p.rglob("*.y*ml")) if is_recipe(f.relative_to(p)) and "base" not in f.relative_to(p).parts]
        else:
            files.append(p)
    results = []
    for f in files:
        try:
            load_recipe(f)
            results.append((f, None))
        except RecipeError as e:
            results.append((f, str(e)))
    return results


def run(args: argparse.Namespace) -> int:
    if args.recipes_command == "list":
        for name, path in shipped().items():
            print(f"{name:40s} {_description(path)}")
        return 0
    if args.recipes_command == "show":
        from hubtune.validation import load_recipe

        print(load_recipe(find(args.name)).to_yaml(), end="")
        return 0
    results = validate_paths(args.paths)
    if not results:
        raise RecipeError("no recipe files found to validate")
    for f, problem in results:
        print(f"ok      {f}" if problem is None else f"INVALID {f}\n{problem}")
    bad = sum(p is not None for _, p in results)
    print(f"{len(results) - bad} valid, {bad} invalid")
    return 2 if bad else 0


def _description(path: Path) -> str:
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError:
        return "(malformed YAML)"
    return str(data.get("description", "")).strip().splitlines()[0][:80] if data.get("description") else ""
