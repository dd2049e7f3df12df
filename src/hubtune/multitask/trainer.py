"""The single-task :class:`~hubtune.training.trainer.Trainer`, fed one task per step.

The loop itself is the Trainer's. What changes, through its own extension points:

- the training loader (``_loader``): a :class:`~hubtune.multitask.data.TaskBatchSampler` over every task's
  examples, each batch tagged with its task;
- the loss (the ``objective`` hook): the task's head loss times the task's weight;
- evaluation (``evaluate``): each task on its own split with its own metrics and labels
  (:func:`hubtune.evaluation.evaluate_model`), returned as ``<task>/<metric>`` plus the mean over the
  tasks of the loss and of the model-selection metric, which the Trainer logs (TensorBoard
  ``validation/<task>/<metric>``), prints each epoch and selects the best epoch on.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from torch import Tensor
from torch.utils.data import DataLoader

from hubtune.contracts import Strategy
from hubtune.data import DataBundle
from hubtune.evaluation import EvalResult, evaluate_model
from hubtune.multitask.data import MultiTaskDataset, NamedCollate, TaskBatchSampler, TaskCollate
from hubtune.multitask.model import MultiTaskModel
from hubtune.multitask.schedule import TaskSchedule
from hubtune.recipe import Recipe
from hubtune.task_checks import selection_metric, task_metrics
from hubtune.training.trainer import Trainer

SPLITS = ("validation", "test")


class TaskObjective:
    """The loss of a step: its task's head loss (``batch["task"]``) times the task's weight."""

    def __init__(self, model: MultiTaskModel, weights: dict[str, float], label_smoothing: float) -> None:
        self.specs = {name: model.view(name).head_spec for name in model.task_names}
        self.weights, self.label_smoothing = weights, label_smoothing

    def __call__(self, model: Any, batch: dict[str, Tensor]) -> Tensor:
        task = batch["task"]
        loss = self.specs[task].loss(model(batch), batch["labels"], self.label_smoothing)
        return loss * self.weights[task] if self.weights[task] != 1.0 else loss

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Stateless: the schedule is a function of (seed, epoch, step)."""


class MultiTaskTrainer(Trainer):
    """Fits a :class:`MultiTaskModel` on ``datas`` (one :class:`DataBundle` per task, in ``recipe.tasks`` order)."""

    def __init__(self, recipe: Recipe, model: MultiTaskModel, strategy: Strategy, datas: list[DataBundle],
                 accelerator: Accelerator, output_dir: Path) -> None:
        tasks = recipe.tasks or []
        self.names = [t.name for t in tasks]
        self.datas = dict(zip(self.names, datas, strict=True))
        self.task_metrics = {t.name: task_metrics(recipe, t) for t in tasks}
        self.select_name = selection_metric(recipe)
        train = MultiTaskDataset([d.train for d in datas])
        mt = recipe.multitask
        self.schedule = TaskSchedule(tuple(train.sizes), recipe.train.batch_size * accelerator.num_processes,
                                     recipe.seed, mt.sampling if mt else "proportional", mt.temperature if mt else 2.0)
        self._collate = TaskCollate([d.collate_fn for d in datas], self.names)
        bundle = DataBundle(train, None, None, None, 0, self._collate, {})
        # the Trainer's selection reads eval.best_metric: the mean over the tasks, under the metric's own name
        view = recipe.model_copy(update={"eval": recipe.eval.model_copy(update={"best_metric": self.select_name})})
        objective = TaskObjective(model, {t.name: t.weight for t in tasks}, recipe.train.label_smoothing)
        super().__init__(view, model, strategy, bundle, accelerator, output_dir, objective=objective)
        # per-task training loss since the last log, on the device (read only when logging, like the Trainer's)
        self._task_loss = {name: torch.zeros((), device=accelerator.device) for name in self.names}
        self._task_batches = dict.fromkeys(self.names, 0)
        self.task_loaders = {split: self._task_loaders(split) for split in SPLITS}
        self.eval_loaders = {split: loaders for split, loaders in self.task_loaders.items() if loaders}

    def _loader(self, dataset: Any, batch_size: int, sampler: Any = None) -> DataLoader:
        if sampler is None:
            return super()._loader(dataset, batch_size)
        batches = TaskBatchSampler(dataset, self.schedule, dataset.dataset, batch_size, self.accelerator.num_processes)
        workers = min(t.data.num_workers for t in self.recipe.tasks or [])
        return DataLoader(dataset, batch_sampler=batches, collate_fn=self._collate, num_workers=workers,
                          prefetch_factor=4 if workers else None, persistent_workers=False, generator=self._generator())

    def _generator(self) -> torch.Generator:
        """A loader's own generator: iterating a loader must not draw from the global RNG (exact resume)."""
        return torch.Generator().manual_seed(self.recipe.seed)

    def _task_loaders(self, split: str) -> dict[str, DataLoader]:
        loaders = {}
        size = self.cfg.eval_batch_size or self.cfg.batch_size
        for task in self.recipe.tasks or []:
            data = self.datas[task.name]
            dataset = getattr(data, split)
            if dataset is None:
                continue
            loader = DataLoader(dataset, batch_size=size, collate_fn=NamedCollate(data.collate_fn, task.name),
                                num_workers=task.data.num_workers, generator=self._generator())
            loaders[task.name] = self.accelerator.prepare_data_loader(loader)
        return loaders

    # ------------------------------------------------------------------ per-task training loss
    def _loss(self, batch: dict[str, Tensor]) -> Tensor:
        loss = super()._loss(batch)
        self._task_loss[batch["task"]] += loss.detach()
        self._task_batches[batch["task"]] += 1
        return loss

    def _log_train(self, bar: Any, seen: int, t0: float) -> None:
        """The Trainer's log, plus each task's mean training loss (TensorBoard ``train/<task>/loss``, the bar)."""
        super()._log_train(bar, seen, t0)
        losses = {name: (self._task_loss[name] / n).item() for name, n in self._task_batches.items() if n}
        for name in self.names:
            self._task_loss[name].zero_()
            self._task_batches[name] = 0
        row = self.state.history[-1] if self.state.history else {}
        if losses and row.get("step") == self.state.global_step and "train_loss" in row:
            row.update({f"train_loss/{name}": v for name, v in losses.items()})
        if losses:
            self.accelerator.log({f"train/{name}/loss": v for name, v in losses.items()}, step=self.state.global_step)
            bar.set_postfix_str(", ".join([bar.postfix or "", *(f"{k}={v:.3f}" for k, v in losses.items())]).lstrip(", "))

    # ------------------------------------------------------------------ evaluation
    def evaluate_tasks(self, split: str = "validation") -> dict[str, EvalResult]:
        """Each task with a ``split``: its loss and metrics (its own metrics and labels)."""
        out = {}
        for name, loader in self.task_loaders[split].items():
            view = self.accelerator.unwrap_model(self.model).view(name)
            out[name] = evaluate_model(self.model, loader, view.head_spec, self.task_metrics[name],
                                       self.datas[name].labels, self.accelerator)
        return out

    def evaluate(self, split: str = "validation") -> EvalResult:
        """``<task>/<metric>`` for every task, plus ``loss`` and the selection metric averaged over the tasks."""
        results = self.evaluate_tasks(split)
        return EvalResult(combine({name: r.metrics for name, r in results.items()}, self.select_name), None, None)


def combine(per_task: dict[str, dict[str, float]], select: str) -> dict[str, float]:
    """The mean loss and mean ``select`` over the tasks, then every task's metrics as ``<task>/<metric>``."""
    means = {"loss": statistics.fmean(m["loss"] for m in per_task.values())}
    if select != "loss" and all(select in m for m in per_task.values()):
        means[select] = statistics.fmean(m[select] for m in per_task.values())
    return {**means, **{f"{task}/{k}": v for task, m in per_task.items() for k, v in m.items()}}
