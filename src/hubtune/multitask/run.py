"""A multi-task run from a validated recipe with ``tasks:``: build, fit, evaluate, export, card, push.

The same steps as :func:`hubtune.run.train`: one backbone (the recipe's), each task's data built
with its own ``data:`` and head, one strategy on the shared model, the Trainer fed one task per step
(:class:`~hubtune.multitask.trainer.MultiTaskTrainer`), then every task evaluated on its own splits.
``RunResult.metrics`` is keyed by task: ``{"sst2": {"validation": {...}, "test": {...}}, ...}``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from hubtune.errors import DataError
from hubtune.recipe import Recipe
from hubtune.redact import redact
from hubtune.run import RunResult, _flat, finish_run, make_accelerator, prepare_output_dir
from hubtune.training.lock import OutputLock


def train(recipe: Recipe, *, overwrite: bool = False, resume: str | None = None, push: bool | None = None) -> RunResult:
    """Run a multi-task recipe end to end; the output folder's lock is held throughout."""
    with OutputLock(Path(recipe.output_dir)):
        return _train(recipe, overwrite=overwrite, resume=resume, push=push)


def build(recipe: Recipe) -> tuple[Any, list[Any]]:
    """The :class:`MultiTaskModel` and each task's data (``recipe.tasks`` order), before any training."""
    from hubtune.backbones import build_backbone
    from hubtune.data import build_data
    from hubtune.heads import HEADS
    from hubtune.multitask.model import MultiTaskModel, build_views

    tasks = recipe.tasks or []
    specs = [HEADS.get(t.head.type) for t in tasks]
    backbone = build_backbone(recipe.backbone)
    datas = [build_data(t.data, backbone.preprocessing, spec, seed=recipe.seed) for t, spec in zip(tasks, specs, strict=True)]
    for i, (task, data) in enumerate(zip(tasks, datas, strict=True)):
        if task.head.num_labels is not None and task.head.num_labels != data.num_labels:
            raise DataError(f"tasks.{i}.head.num_labels is {task.head.num_labels} but task {task.name!r}'s training "
                            f"data has {data.num_labels} label(s); remove it to infer it, or fix the data")
    views = build_views(backbone, specs, [t.head.num_labels or d.num_labels for t, d in zip(tasks, datas, strict=True)],
                        [d.labels for d in datas], [t.head for t in tasks])
    return MultiTaskModel([t.name for t in tasks], views), datas


def _train(recipe: Recipe, *, overwrite: bool, resume: str | None, push: bool | None) -> RunResult:
    import torch
    from accelerate.utils import DistributedDataParallelKwargs, set_seed

    from hubtune.multitask.trainer import MultiTaskTrainer
    from hubtune.strategies import build_strategy

    output_dir = Path(recipe.output_dir)
    prepare_output_dir(output_dir, overwrite=overwrite, resume=bool(resume))
    if resume and resume != "latest":
        from hubtune.training.checkpoint import read_state

        read_state(Path(resume))
    set_seed(recipe.seed, deterministic=recipe.train.deterministic)
    if recipe.train.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    model, datas = build(recipe)
    strategy = build_strategy(recipe.strategy.type, recipe.strategy.options)
    if overwrite and not resume and output_dir.exists():
        shutil.rmtree(output_dir)
    # a step trains one task: the other heads get no gradient, which DDP must expect (same task on every process)
    accelerator = make_accelerator(recipe, output_dir,
                                   kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
    accelerator.init_trackers(redact(recipe.name or output_dir.name), config=_flat(redact(recipe.to_dict())))
    trainer = MultiTaskTrainer(recipe, model, strategy, datas, accelerator, output_dir)
    trainer.fit(resume=resume)
    validate = (lambda: trainer.evaluate("validation").metrics) if "validation" in trainer.eval_loaders else None
    strategy.finalize(accelerator.unwrap_model(trainer.model), validate)
    evals = {split: trainer.evaluate_tasks(split) for split in trainer.eval_loaders}
    metrics = {t.name: {split: evals[split][t.name].metrics for split in evals if t.name in evals[split]}
               for t in recipe.tasks or []}
    unwrapped = trainer.export_model()
    trainable, total = unwrapped.count_parameters()
    result = RunResult(output_dir, metrics, trainable, total, processes=accelerator.num_processes)
    if accelerator.is_main_process:
        from hubtune.multitask.artifacts import write_artifacts

        write_artifacts(recipe, unwrapped, trainer, strategy, datas, evals, result)
        _print_summary(result)
    return finish_run(recipe, result, accelerator, push)


def _print_summary(result: RunResult) -> None:
    lines = [f"artifacts: {result.output_dir}",
             f"trainable parameters: {result.trainable_params:,} of {result.total_params:,}"]
    for task, splits in result.metrics.items():
        for split, m in splits.items():
            lines.append(f"{task} {split}: " + "  ".join(f"{k}={v:.4f}" for k, v in m.items()))
    print("\n".join(lines), flush=True)
