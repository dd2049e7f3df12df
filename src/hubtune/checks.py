"""Semantic checks of a recipe that go beyond types: names in registries, combinations, paths.

Everything here is cheap (no weights, no data loading), so ``hubtune recipes validate`` and
``hubtune train`` report every problem before any work starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hubtune.recipe import Recipe

LOCAL_FORMATS = {"imagefolder", "csv", "tsv", "json", "jsonl", "parquet"}
IMAGE_FORMATS = {"imagefolder", "digits", "mnist", "digits_shift"}


def semantic_problems(recipe: Recipe) -> list[str]:
    """Every problem found, each starting with its key path."""
    return [
        *_registry_problems(recipe),
        *_combination_problems(recipe),
        *_metric_problems(recipe),
        *_path_problems(recipe),
    ]


def _registry_problems(recipe: Recipe) -> list[str]:
    from hubtune.backbones import BACKBONES
    from hubtune.heads import HEADS
    from hubtune.strategies import strategy_problems

    problems = []
    if recipe.backbone.source not in BACKBONES:
        problems.append(f"backbone.source: {BACKBONES.unknown_message(recipe.backbone.source)}")
    if recipe.head.type not in HEADS:
        problems.append(f"head.type: {HEADS.unknown_message(recipe.head.type)}")
    problems += strategy_problems(recipe.strategy.type, recipe.strategy.options)
    if recipe.adaptation is not None:
        try:
            from hubtune.adaptation import adaptation_problems
        except ImportError:
            problems.append("adaptation: domain adaptation is not available in this build")
        else:
            problems += adaptation_problems(recipe)
    return problems


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
    if recipe.train.max_steps is None and recipe.train.epochs < 1:
        problems.append("train.epochs: must be at least 1")
    es = recipe.eval.early_stopping
    if es is not None and not recipe.eval.keep_best and es.metric != "loss" and es.metric not in recipe.eval.metrics:
        problems.append(f"eval.early_stopping.metric: {es.metric!r} is not computed; add it to eval.metrics")
    best = recipe.eval.best_metric
    if best and best != "loss" and best not in recipe.eval.metrics:
        problems.append(f"eval.best_metric: {best!r} is not in eval.metrics ({', '.join(recipe.eval.metrics)})")
    if es is not None and es.metric != "loss" and es.metric not in recipe.eval.metrics:
        problems.append(f"eval.early_stopping.metric: {es.metric!r} is not in eval.metrics; add it there")
    return problems


def _metric_problems(recipe: Recipe) -> list[str]:
    from hubtune.heads import HEADS
    from hubtune.metrics import METRICS, validate_metric_names

    if recipe.head.type not in HEADS:  # no task to check against: check the names exist
        return [f"eval.metrics: {METRICS.unknown_message(n)}" for n in recipe.eval.metrics if n not in METRICS]
    problem_type = HEADS.get(recipe.head.type).problem_type
    return [f"eval.metrics: {p}" for p in validate_metric_names(recipe.eval.metrics, problem_type)]


def _path_problems(recipe: Recipe) -> list[str]:
    data = recipe.data
    problems = []
    if data.format in LOCAL_FORMATS:
        if not data.path and not all(_split_path(s) for s in (data.train,)):
            problems.append(f"data.path: required for format {data.format!r} (a folder or file)")
        elif data.path and not Path(data.path).expanduser().exists():
            problems.append(f"data.path: {data.path} does not exist{_shared_hint(data.path)}")
    if data.format == "hub" and not data.path:
        problems.append("data.path: required for format 'hub' (a dataset id such as 'glue')")
    for split in ("train", "validation", "test"):
        path = _split_path(getattr(data, split))
        if path and not Path(path).expanduser().exists():
            problems.append(f"data.{split}.path: {path} does not exist{_shared_hint(path)}")
    return problems


def _split_path(split: object) -> str | None:
    return getattr(split, "path", None)


def _shared_hint(path: str) -> str:
    return " (the shared data sets live in ../shared/data; set HUBTUNE_DATA to their folder)" if "shared" in path else ""
