"""Multi-task transfer: several tasks (``tasks:`` in a recipe) on one shared backbone, one head each.

- :mod:`~hubtune.multitask.schedule`: which task each step trains (proportional, temperature, round-robin),
  a function of (seed, epoch, step);
- :mod:`~hubtune.multitask.data`: every task's examples behind one loader, one task per batch;
- :mod:`~hubtune.multitask.model`: :class:`MultiTaskModel` (backbone once, ``heads.<task>``) and per-task views;
- :mod:`~hubtune.multitask.trainer`: the Trainer with a per-task loss and per-task evaluation;
- :mod:`~hubtune.multitask.run` / :mod:`~hubtune.multitask.artifacts`: a run end to end, its output folder;
- :mod:`~hubtune.multitask.load`: reading it back (:func:`load`, ``--task`` for eval and predict).

The recipe schema (``TaskConfig``, ``MultitaskConfig``) is in :mod:`hubtune.recipe`, its checks in
:mod:`hubtune.task_checks`.
"""

from __future__ import annotations

from hubtune.multitask.load import evaluate_output, is_multitask, load, predict, task_folder

__all__ = ["evaluate_output", "is_multitask", "load", "predict", "task_folder"]
