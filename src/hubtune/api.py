"""hubtune's Python API: what the ``hubtune`` command does, callable from a notebook or a script.

    import hubtune

    recipe = hubtune.load_recipe("recipes/seeds/mlp-digits-source.yaml", ["train.epochs=1"])
    run = hubtune.train(recipe, overwrite=True)
    hubtune.evaluate(run.output_dir, split="test")
    hubtune.predict(run.output_dir, ["a.jpg"], top_k=3)
    hubtune.push(run.output_dir, "me/digits")
    hubtune.pull("me/digits", to="pulled/digits")

User errors raise :class:`hubtune.errors.UserError` subclasses (``RecipeError`` is a ``ValueError``)
with the same messages the command line prints.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hubtune.errors import RecipeError
from hubtune.recipe import Recipe
from hubtune.recipe_yaml import deep_merge, parse_overrides, read_recipe_data
from hubtune.run import RunResult
from hubtune.validation import load_recipe as _load_file
from hubtune.validation import recipe_from_dict

RecipeLike = str | os.PathLike[str] | Mapping[str, Any] | Recipe
Overrides = Sequence[str] | Mapping[str, Any] | None

__all__ = ["evaluate", "load_recipe", "predict", "predict_masks", "pull", "push", "rank", "train", "validate"]


def load_recipe(recipe: RecipeLike, overrides: Overrides = None) -> Recipe:
    """A validated :class:`~hubtune.recipe.Recipe` from a YAML path, a mapping or a Recipe.

    ``overrides`` are ``["train.lr=3e-4", ...]`` strings (as on the command line) or a nested mapping
    (``{"train": {"lr": 3e-4}}``). Every problem is reported at once in one ``RecipeError``.
    """
    if isinstance(recipe, str | os.PathLike) and not isinstance(overrides, Mapping):
        return _load_file(recipe, list(overrides or []))
    if isinstance(recipe, Recipe):
        data = recipe.to_dict()
    elif isinstance(recipe, Mapping):
        data = dict(recipe)
    else:
        data = read_recipe_data(recipe)
    if overrides:
        data = deep_merge(data, dict(overrides) if isinstance(overrides, Mapping) else parse_overrides(list(overrides)))
    return recipe_from_dict(data, source=str(recipe) if isinstance(recipe, str | os.PathLike) else None)


def validate(recipe: RecipeLike, overrides: Overrides = None) -> list[str]:
    """Every problem of ``recipe`` (empty when it is valid); never raises for a bad recipe."""
    try:
        load_recipe(recipe, overrides)
    except RecipeError as e:
        return list(e.problems)
    return []


def train(recipe: RecipeLike, overrides: Overrides = None, *, overwrite: bool = False, resume: str | None = None,
          push: bool | None = None) -> RunResult:
    """Fine-tune as ``recipe`` says; returns the metrics per split and the output folder.

    ``resume="latest"`` continues the output folder's newest checkpoint (or give a checkpoint path);
    ``push`` overrides ``hub.push``. A recipe with ``tasks:`` trains them on one backbone
    (:mod:`hubtune.multitask`); its ``metrics`` are then keyed by task first.
    """
    loaded = load_recipe(recipe, overrides)
    if loaded.tasks is not None:
        from hubtune.multitask.run import train as run_tasks

        return run_tasks(loaded, overwrite=overwrite, resume=resume, push=push)
    from hubtune.run import train as run_train

    return run_train(loaded, overwrite=overwrite, resume=resume, push=push)


def evaluate(output_dir: str | os.PathLike[str], split: str = "test", overrides: Sequence[str] | None = None,
             task: str | None = None) -> dict[str, float]:
    """Loss and metrics of a trained output folder (or a pulled repo) on ``split`` of its recipe's data.

    Multi-task folders: ``task``'s metrics, or every task's as ``<task>/<metric>``."""
    from hubtune.inference import evaluate_output
    from hubtune.multitask import evaluate_output as evaluate_tasks
    from hubtune.multitask import is_multitask

    if task is not None or is_multitask(output_dir):
        return evaluate_tasks(output_dir, split, list(overrides or []), task=task)
    return evaluate_output(Path(output_dir), split, list(overrides or []))


def predict(output_dir: str | os.PathLike[str], inputs: Sequence[str], top_k: int = 1,
            task: str | None = None) -> list[list[tuple[str, float]]]:
    """For each input (an image path or a text): the ``top_k`` labels with their probabilities
    (multi-task folders: of ``task``)."""
    from hubtune.inference import predict as run_predict
    from hubtune.multitask import is_multitask
    from hubtune.multitask import predict as predict_task

    if task is not None or is_multitask(output_dir):
        return predict_task(output_dir, list(inputs), top_k=top_k, task=task)
    return run_predict(Path(output_dir), list(inputs), top_k=top_k)


def predict_masks(output_dir: str | os.PathLike[str], inputs: Sequence[str], out: str | os.PathLike[str] = "predictions",
                  threshold: float = 0.0) -> list[dict[str, Any]]:
    """Dense models: overlay PNGs, class-id PNG masks and ``predictions.json`` in ``out``; one dict per image."""
    from hubtune.inference import predict_dense

    return predict_dense(Path(output_dir), list(inputs), Path(out), threshold)


def push(output_dir: str | os.PathLike[str], repo_id: str, *, hub: str | None = None, private: bool = False,
         branch: str | None = None, message: str | None = None) -> Any:
    """Send an output folder's native artifacts to ``repo_id`` in one commit; ``str()`` of the result is its URL.

    ``hub``: ``"local"`` (default when ``HF_ENDPOINT`` is unset), a URL, or None for ``HF_ENDPOINT``.
    """
    from hubtune.hub import push as hub_push

    return hub_push(output_dir, repo_id, hub=hub, private=private, branch=branch, message=message)


def pull(repo: str, to: str | os.PathLike[str] | None = None, *, hub: str | None = None) -> Path:
    """Download ``ns/name[@revision]`` (verified) into ``to`` or the cache; returns the folder."""
    from hubtune.hub import pull as hub_pull

    return hub_pull(repo, to=to, hub=hub)


def rank(candidates: Sequence[str], data: str, *, max_samples: int = 2000, sort_by: str = "logme",
         cache: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Score candidate checkpoints for a labelled target task (LogME, LEEP, NCE, H-score), best first."""
    from hubtune.analysis.ranking import rank_candidates

    return rank_candidates(list(candidates), data, max_samples=max_samples, sort_by=sort_by,
                           cache=Path(cache) if cache else None)
