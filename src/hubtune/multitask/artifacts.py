"""What a multi-task run leaves in its output folder, written atomically (``hubtune.json`` last).

- ``tasks/<name>/``: each task as an ordinary single-task output (the shared backbone with that task's
  head): the native layout of :func:`hubtune.export.export_model` (plain transformers/timm load it),
  its ``hubtune.json``, ``recipe.yaml`` (the task's single-task recipe: ``hubtune eval tasks/<name>``
  works, and the folder is a checkpoint for a next recipe), ``metrics.json``, a confusion matrix and
  its own ``README.md`` card (the task's metrics; pushed alone it is a model repo of its own);
- ``model.safetensors``: the shared backbone once and every head (``backbone.*``, ``heads.<task>.*``),
  which :func:`hubtune.multitask.load` reads back;
- ``recipe.yaml``, ``metrics.json`` (keyed by task: ``{"metrics": {"<task>": {"<split>": {...}}}}``),
  ``training_curves.png``, ``README.md`` (one model-index result per task and split), ``hubtune.json``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from safetensors.torch import save_file

from hubtune.artifacts import _pipeline_tag
from hubtune.atomic import atomic_write_json, atomic_write_text, atomic_write_with
from hubtune.export import META_FILE, export_model
from hubtune.model import auto_class_name
from hubtune.recipe import Recipe
from hubtune.redact import redact
from hubtune.task_checks import selection_metric, task_metrics, task_view
from hubtune.version import __version__

LAYOUT = "multitask"
TASKS_DIR = "tasks"


def write_artifacts(recipe: Recipe, model: Any, trainer: Any, strategy: Any, datas: list[Any],
                    evals: dict[str, dict[str, Any]], result: Any) -> None:
    """Per-task native folders, the whole model, recipe, metrics, curves and card into ``result.output_dir``."""
    out = Path(result.output_dir)
    staging = out / ".export-tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    model = model.to("cpu").eval()
    state, schedule = trainer.state, trainer.schedule
    sampling = _sampling(recipe, schedule)
    tasks = _export_tasks(staging, recipe, model, strategy, datas, evals, result, schedule.probabilities())
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic_write_with(staging / "model.safetensors", lambda tmp: save_file(tensors, tmp, metadata={"format": "pt"}))
    atomic_write_text(staging / "recipe.yaml", recipe.to_yaml())
    atomic_write_json(staging / "metrics.json", {
        "metrics": result.metrics, "selection": {"metric": selection_metric(recipe), "mean_over": "tasks"},
        "best_epoch": state.best_epoch, "best_value": state.best_value,
        "trainable_params": result.trainable_params, "total_params": result.total_params,
        "processes": result.processes, "strategy": redact(strategy.describe()), "sampling": sampling,
        "tasks": {t["name"]: {k: t[k] for k in ("train_examples", "weight", "step_share", "metrics_names")}
                  for t in tasks},
        "history": state.history,
    })
    images = {}
    if state.history:
        from hubtune.plots import save_training_curves

        save_training_curves(staging / "training_curves.png", state.history)
        images["curves"] = "training_curves.png"
    _card(staging, recipe, model, strategy, result, tasks, images)
    meta = {"format": LAYOUT, "family": model.family, "modality": model.preprocessing.modality,
            "tasks": [{"name": t["name"], "folder": t["folder"], "head": t["head"], "num_labels": t["num_labels"],
                       "labels": t["labels"], "weight": t["weight"]} for t in tasks],
            "sampling": sampling}
    atomic_write_json(staging / META_FILE, meta)
    _move_into_place(staging, out)


def _export_tasks(staging: Path, recipe: Recipe, model: Any, strategy: Any, datas: list[Any],
                  evals: dict[str, dict[str, Any]], result: Any, probabilities: list[float]) -> list[dict[str, Any]]:
    """Each task's native folder; returns what the card and ``hubtune.json`` say about each task
    (``probabilities``: each task's share of the steps, from the run's schedule)."""
    rows = []
    for task, data, share in zip(recipe.tasks or [], datas, probabilities, strict=True):
        folder = staging / TASKS_DIR / task.name
        view = model.view(task.name)
        export_model(view, folder, task.head)
        single = task_view(recipe, task)
        atomic_write_text(folder / "recipe.yaml", single.to_yaml())
        atomic_write_json(folder / "metrics.json", {"metrics": result.metrics[task.name], "task": task.name,
                                                    "multitask_run": "../../metrics.json"})
        images = _confusion(folder, view, data, {s: e[task.name] for s, e in evals.items() if task.name in e})
        _task_card(folder, recipe, single, task.name, view, strategy, data, result, images)
        rows.append({
            "name": task.name, "folder": f"{TASKS_DIR}/{task.name}", "head": task.head.type,
            "num_labels": view.num_labels, "labels": view.labels, "weight": task.weight,
            "train_examples": len(data.train), "step_share": share, "metrics_names": task_metrics(recipe, task),
            "metrics": result.metrics[task.name], "pipeline_tag": _pipeline_tag(view),
            "auto_class": auto_class_name(view.head_spec, view.preprocessing.modality),
            "dataset": task.data.path if task.data.format == "hub" else (task.data.path or task.data.format),
            "dataset_info": redact(data.info),
            "dataset_display": f"`{Path(str(task.data.path or task.data.format)).name}`",
        })
    return rows


def _sampling(recipe: Recipe, schedule: Any) -> dict[str, Any]:
    return {"sampling": schedule.sampling, "temperature": schedule.temperature if schedule.sampling == "temperature"
            else None, "steps_per_epoch": schedule.steps_per_epoch,
            "step_share": dict(zip([t.name for t in recipe.tasks or []], schedule.probabilities(), strict=True))}


def _confusion(folder: Path, view: Any, data: Any, evals: dict[str, Any]) -> dict[str, str]:
    split = "validation" if "validation" in evals else next(iter(evals), None)
    if not (split and view.head_spec.problem_type == "single_label_classification" and data.labels):
        return {}
    from hubtune.plots import save_confusion_matrix

    ev = evals[split]
    save_confusion_matrix(folder / "confusion_matrix.png", ev.references, ev.predictions, data.labels)
    return {"confusion": "confusion_matrix.png"}


def _task_card(folder: Path, recipe: Recipe, single: Recipe, name: str, view: Any, strategy: Any, data: Any,
               result: Any, images: dict[str, str]) -> None:
    """The task folder's own card: the single-task card of this task's model (shared backbone + its head),
    with where it came from. Its snippets name a placeholder repo: the folder is a model of its own once
    pushed alone (``hubtune push tasks/<name> --repo ...``); in the run's repo it loads with ``subfolder``."""
    from hubtune.artifacts import _card
    from hubtune.run import RunResult

    others = [t.name for t in recipe.tasks or [] if t.name != name]
    parent = recipe.hub.repo_id or recipe.name or Path(recipe.output_dir).name
    note = (f"Task `{name}` of the multi-task run `{parent}`: its backbone was trained jointly with "
            f"{', '.join(f'`{o}`' for o in others)} (the run's card has every task). In the run's repo this model "
            f"loads with `subfolder=\"{TASKS_DIR}/{name}\"`.")
    params = list(view.parameters())
    task_result = RunResult(output_dir=folder, metrics=result.metrics[name], processes=result.processes,
                            trainable_params=sum(p.numel() for p in params if p.requires_grad),
                            total_params=sum(p.numel() for p in params))
    # the strategy without the whole run's parameter counts: the card counts this task's model
    options = {k: v for k, v in strategy.describe().items() if k not in ("trainable_params", "trainable_share")}
    _card(folder, single.model_copy(update={"hub": single.hub.model_copy(update={"repo_id": None})}), view,
          options, data, task_result, images, {}, notes=[note])


def _card(staging: Path, recipe: Recipe, model: Any, strategy: Any, result: Any, tasks: list[dict[str, Any]],
          images: dict[str, str]) -> None:
    from hubtune.card import CardInfo, write_card

    flat: dict[str, dict[str, float]] = {}
    for task, splits in result.metrics.items():
        for split, values in splits.items():
            flat.setdefault(split, {}).update({f"{task}/{k}": v for k, v in values.items()})
    mt = recipe.multitask
    sampling = mt.sampling if mt else "proportional"
    if mt and sampling == "temperature":
        sampling += f", T = {mt.temperature:g}"
    info = CardInfo(
        model_name=recipe.name or Path(recipe.output_dir).name,
        family=model.family,
        base_model=model.info.get("base_model"),
        base_model_path_is_local=bool(model.info.get("base_model")) and Path(str(model.info.get("base_model"))).exists(),
        task="multi-task",
        pipeline_tag=tasks[0]["pipeline_tag"],
        modality=model.preprocessing.modality,
        strategy=recipe.strategy.type,
        strategy_options=redact(strategy.describe()),
        trainable_params=result.trainable_params,
        total_params=result.total_params,
        hyperparameters=redact(recipe.train.model_dump(mode="json")),
        metrics=flat,
        curves_image=images.get("curves"),
        hubtune_version=__version__,
        trust_remote_code=recipe.backbone.trust_remote_code,
        extra=redact({"Seed": recipe.seed, "Sampling": sampling, "Model selection": selection_metric(recipe),
                      "tags": ["multi-task"]}),
        tasks=redact(tasks),
    )
    write_card(staging, info, repo_id=recipe.hub.repo_id)


def _move_into_place(staging: Path, out: Path) -> None:
    for path in sorted(staging.iterdir(), key=lambda p: p.name == META_FILE):
        if path.is_dir() and (out / path.name).is_dir():  # tasks/ of an earlier run
            shutil.rmtree(out / path.name)
        os.replace(path, out / path.name)
    staging.rmdir()
