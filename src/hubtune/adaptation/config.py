"""Checks of the recipe's ``adaptation:`` block beyond its schema: method, options, combinations, paths.

The block itself is typed in the schema (:class:`hubtune.recipe.AdaptationConfig`).
"""

from __future__ import annotations

from pydantic import ValidationError

from hubtune.adaptation.methods import ADAPTATION_METHODS
from hubtune.data.paths import data_path_problems
from hubtune.recipe import AdaptationConfig, Recipe, validation_messages

__all__ = ["AdaptationConfig", "adaptation_problems"]


def adaptation_problems(recipe: Recipe) -> list[str]:
    """Every problem of ``recipe.adaptation`` (method, options, combinations, paths)."""
    cfg = recipe.adaptation
    if cfg is None:
        return []
    if cfg.method.lower() not in ADAPTATION_METHODS:
        return [f"adaptation.method: {ADAPTATION_METHODS.unknown_message(cfg.method)}"]
    method = ADAPTATION_METHODS.get(cfg.method)
    problems: list[str] = []
    try:
        method.Options.model_validate(cfg.options)
    except ValidationError as e:
        problems += validation_messages(e, method.Options, "adaptation.options")
    if cfg.selection == "source_val" and not recipe.eval.keep_best:
        problems.append("adaptation.selection: source_val needs eval.keep_best: true (or set selection: last)")
    if cfg.selection == "last" and recipe.eval.keep_best:
        problems.append("adaptation.selection: last needs eval.keep_best: false (or set selection: source_val)")
    if recipe.head.type != "classification" and (method.needs_classes or cfg.method.lower() == "importance"):
        problems.append(f"adaptation.method: {cfg.method} needs head.type: classification")
    if method.needs_pixels and recipe.backbone.source == "transformers":
        problems.append(f"adaptation.method: {cfg.method} needs image/vector inputs, not a text backbone")
    return problems + data_path_problems(cfg.target, "adaptation.target")
