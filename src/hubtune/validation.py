"""A recipe checked against everything hubtune knows, before any weight or data is loaded.

:func:`load_recipe` and :func:`recipe_from_dict` are the public entry points: the schema
(:mod:`hubtune.recipe`), then the registries (backbone sources, heads, strategies, metrics,
adaptation methods), combinations that cannot work, and data paths. Every problem is reported
at once, each starting with its key path, in one :class:`~hubtune.errors.RecipeError`.
"""

from __future__ import annotations

import os
from typing import Any

from hubtune.adaptation import adaptation_problems
from hubtune.backbones import BACKBONES
from hubtune.data.audio import audio_problems
from hubtune.data.paths import data_path_problems
from hubtune.errors import RecipeError
from hubtune.heads import HEADS
from hubtune.metrics import METRICS, validate_metric_names
from hubtune.privacy_schema import privacy_problems
from hubtune.recipe import Recipe, parse_recipe
from hubtune.recipe_yaml import read_recipe_data
from hubtune.strategies import strategy_problems
from hubtune.strategies.distill import distill_problems
from hubtune.task_checks import task_problems

IMAGE_FORMATS = {"imagefolder", "digits", "mnist", "digits_shift", "segmentation", "detection"}


def load_recipe(path: str | os.PathLike[str], overrides: list[str] | None = None) -> Recipe:
    """Read, merge (``extends:``), override (``key=value``) and validate a recipe file."""
    return recipe_from_dict(read_recipe_data(path, overrides), source=str(path))


def recipe_from_dict(data: dict[str, Any], source: str | None = None) -> Recipe:
    """Validate a plain mapping (after extends/overrides) into a :class:`Recipe`; raises RecipeError."""
    parsed = parse_recipe(data)
    problems = list(parsed.problems)
    if parsed.checkable is not None:  # keep checking what is valid, so every problem is reported at once
        problems += semantic_problems(parsed.checkable)
    if problems or parsed.recipe is None:
        raise RecipeError(problems, source=source)
    return parsed.recipe


def semantic_problems(recipe: Recipe) -> list[str]:
    """Every problem beyond the schema, each starting with its key path."""
    if recipe.tasks is not None or recipe.data is None:  # multi-task: each task checked as its own recipe
        return task_problems(recipe, semantic_problems)
    return [
        *_registry_problems(recipe),
        *_combination_problems(recipe),
        *distill_problems(recipe),
        *_metric_problems(recipe),
        *data_path_problems(recipe.data),
        *audio_problems(recipe.data),
        *_audio_combination_problems(recipe),
        *privacy_problems(recipe),
    ]


def _registry_problems(recipe: Recipe) -> list[str]:
    problems = []
    if recipe.backbone.source not in BACKBONES:
        problems.append(f"backbone.source: {BACKBONES.unknown_message(recipe.backbone.source)}")
    if recipe.head.type not in HEADS:
        problems.append(f"head.type: {HEADS.unknown_message(recipe.head.type)}")
    elif (dense := HEADS.get(recipe.head.type).dense) is not None:  # dense heads check their own combinations
        problems += dense.recipe_problems(recipe)
    problems += strategy_problems(recipe.strategy.type, recipe.strategy.options)
    return problems + adaptation_problems(recipe)


def _combination_problems(recipe: Recipe) -> list[str]:
    problems = []
    source, head, fmt = recipe.backbone.source, recipe.head.type, recipe.data.format
    if source == "transformers" and recipe.head.hidden:
        problems.append(
            "head.hidden: transformers backbones use the native AutoModelFor<Task> head (linear); remove head.hidden"
        )
    if head == "token_classification" and source != "transformers":
        problems.append("head.type: token_classification needs a transformers text backbone (backbone.source: transformers)")
    if source == "timm" and fmt not in IMAGE_FORMATS and "image" not in recipe.data.columns and fmt != "hub":
        problems.append(
            f"data.format: {fmt!r} data has no images for a timm backbone; use imagefolder or map data.columns.image"
        )
    if recipe.strategy.type == "peft" and source == "custom":
        problems.append("strategy.type: peft adapts timm and transformers backbones, not custom modules; "
                        "use another strategy (full, bitfit, ...)")
    if recipe.strategy.type == "peft" and source == "timm" and recipe.head.hidden:
        problems.append("head.hidden: a PEFT adapter on timm saves the model's own linear classifier; "
                        "remove head.hidden (dropout is fine)")
    if recipe.train.group_by_length and source != "transformers":
        problems.append("train.group_by_length: groups text by token count and needs a transformers text backbone; "
                        "remove it for images")
    return problems + _selection_problems(recipe)


def _audio_combination_problems(recipe: Recipe) -> list[str]:
    source, audio = recipe.backbone.source, recipe.data.format == "audio"
    if audio and source not in ("spectrogram", "transformers"):
        return [f"backbone.source: {source!r} cannot read audio; use spectrogram (a timm image backbone on log-mel "
                "spectrograms) or transformers (an audio model with its feature extractor)"]
    if source == "spectrogram" and not audio:
        return ["backbone.source: spectrogram reads audio clips; set data.format: audio (or use source: timm)"]
    if audio and recipe.head.type != "classification":
        return [f"head.type: audio supports classification, not {recipe.head.type!r}"]
    return []


def _selection_problems(recipe: Recipe) -> list[str]:
    problems = []
    es = recipe.eval.early_stopping
    best = recipe.eval.best_metric
    if best and best != "loss" and best not in recipe.eval.metrics:
        problems.append(f"eval.best_metric: {best!r} is not in eval.metrics ({', '.join(recipe.eval.metrics)})")
    if es is not None and es.metric != "loss" and es.metric not in recipe.eval.metrics:
        problems.append(f"eval.early_stopping.metric: {es.metric!r} is not in eval.metrics; add it there")
    return problems


def _metric_problems(recipe: Recipe) -> list[str]:
    if recipe.head.type not in HEADS:  # no task to check against: check the names exist
        return [f"eval.metrics: {METRICS.unknown_message(n)}" for n in recipe.eval.metrics if n not in METRICS]
    problem_type = HEADS.get(recipe.head.type).problem_type
    return [f"eval.metrics: {p}" for p in validate_metric_names(recipe.eval.metrics, problem_type)]
