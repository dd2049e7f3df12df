"""Checks of a multi-task recipe (``tasks:``), before any weight or data loads.

Each task is checked as the single-task recipe it is a view of (:func:`task_view`: the recipe with
the task's ``data``, ``head`` and metrics), by the same checks as any recipe, and the key paths of
what it reports are moved under ``tasks.<i>``. Then what only a multi-task recipe can get wrong:
a top-level ``data``/``head`` beside ``tasks``, task names, the model-selection metric, and features
that do not combine with several tasks (refused by name).
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from typing import Any

from hubtune.recipe import HeadConfig, Recipe, TaskConfig

# strategies that change the model in ways a shared backbone with several heads does not support
REFUSED_STRATEGIES = {
    "peft": "wraps one native model with an adapter",
    "distill": "distils one teacher into one student",
    "wise_ft": "picks its interpolation on one task's validation",
}
TASK_HEADS = ("classification", "multilabel", "regression", "token_classification")


def task_view(recipe: Recipe, task: TaskConfig) -> Recipe:
    """The single-task recipe of ``task``: the shared settings with the task's data, head and metrics."""
    ev = recipe.eval.model_copy(update={"metrics": task_metrics(recipe, task), "best_metric": None,
                                        "early_stopping": None})
    name = f"{recipe.name}-{task.name}" if recipe.name else task.name
    return recipe.model_copy(update={"data": task.data, "head": task.head, "eval": ev, "tasks": None,
                                     "multitask": None, "name": name})


def task_metrics(recipe: Recipe, task: TaskConfig) -> list[str]:
    return list(task.metrics or recipe.eval.metrics)


def selection_metric(recipe: Recipe) -> str:
    """The metric that picks the best epoch, averaged over the tasks: ``eval.best_metric``, else the early-stopping
    metric, else the first task's first metric (each task's primary metric when they share it)."""
    ev = recipe.eval
    if ev.best_metric:
        return ev.best_metric
    if ev.early_stopping is not None:
        return ev.early_stopping.metric
    return task_metrics(recipe, recipe.tasks[0])[0] if recipe.tasks else ev.metrics[0]


def task_problems(recipe: Recipe, single: Callable[[Recipe], list[str]]) -> list[str]:
    """Every problem of a recipe with ``tasks:`` (or with neither ``data`` nor ``tasks``); ``single`` checks one task."""
    if recipe.tasks is None:
        return ["data: required key is missing (or list several tasks under tasks:, each with its own data)"]
    problems = _layout_problems(recipe) + _refused(recipe)
    for i, task in enumerate(recipe.tasks):
        problems += [_under_task(p, i, task) for p in single(task_view(recipe, task))]
        if task.head.type not in TASK_HEADS:
            problems.append(f"tasks.{i}.head.type: multi-task training supports {', '.join(TASK_HEADS)} heads, "
                            f"not {task.head.type!r}")
    return list(dict.fromkeys(problems + _selection_problems(recipe)))


def _layout_problems(recipe: Recipe) -> list[str]:
    problems = []
    if recipe.data is not None:
        problems.append("data: a recipe with tasks: has no top-level data block; move it into the task that "
                        "uses it (tasks[i].data)")
    if recipe.head != HeadConfig():
        problems.append("head: a recipe with tasks: has no top-level head block; set each task's head under tasks[i].head")
    seen: dict[str, int] = {}
    for i, task in enumerate(recipe.tasks or []):
        if not task.name.isidentifier() or keyword.iskeyword(task.name):
            problems.append(f"tasks.{i}.name: {task.name!r} is not a valid identifier (letters, digits, _; "
                            "not starting with a digit); it names the task's folder and metrics")
        if task.name in seen:
            problems.append(f"tasks.{i}.name: {task.name!r} is already the name of tasks.{seen[task.name]}; "
                            "task names must be unique")
        seen.setdefault(task.name, i)
    return problems


def _refused(recipe: Recipe) -> list[str]:
    problems = []
    if recipe.strategy.type in REFUSED_STRATEGIES:
        problems.append(f"strategy.type: {recipe.strategy.type} {REFUSED_STRATEGIES[recipe.strategy.type]} and is "
                        "not supported with tasks:; use full, linear_probe, lp_ft, layer_decay, gradual_unfreeze, "
                        "l2_sp or bitfit")
    if recipe.strategy.options.get("cache_features"):
        problems.append("strategy.cache_features: not supported with tasks: (the feature cache holds one data set); "
                        "remove it")
    for key, what in (("privacy", "DP-SGD accounts for one data set"),
                      ("adaptation", "domain adaptation pairs one source with one target"),
                      ("search", "search a single-task recipe")):
        if getattr(recipe, key) is not None:
            problems.append(f"{key}: not supported with tasks: ({what}); remove the {key}: block")
    if recipe.train.group_by_length:
        problems.append("train.group_by_length: not supported with tasks: (each step draws one task's batch); "
                        "remove it")
    return problems


def _selection_problems(recipe: Recipe) -> list[str]:
    name = selection_metric(recipe)
    if name == "loss":
        return []
    key = "eval.best_metric" if recipe.eval.best_metric else (
        "eval.early_stopping.metric" if recipe.eval.early_stopping else "tasks.0.metrics")
    return [f"{key}: {name!r} picks the best epoch (averaged over the tasks) but task {t.name!r} does not compute it "
            f"(its metrics: {', '.join(task_metrics(recipe, t))}); set eval.best_metric to a metric every task "
            "computes, or loss"
            for t in recipe.tasks or [] if name not in task_metrics(recipe, t)]


def _under_task(problem: str, i: int, task: TaskConfig) -> str:
    """A single-task problem's key path, moved under ``tasks.<i>`` when it is about the task's own keys."""
    for key in ("data", "head"):
        if problem.startswith((f"{key}.", f"{key}:")):
            return f"tasks.{i}.{problem}"
    if problem.startswith("eval.metrics"):
        rest = problem.removeprefix("eval.metrics")
        return f"tasks.{i}.metrics{rest}" if task.metrics else f"eval.metrics (task {task.name!r}){rest}"
    return problem


def describe_tasks(recipe: Recipe) -> list[dict[str, Any]]:
    """Name, head type, weight and metrics of each task (for logs and the card)."""
    return [{"name": t.name, "head": t.head.type, "weight": t.weight, "metrics": task_metrics(recipe, t)}
            for t in recipe.tasks or []]
