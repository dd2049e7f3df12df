"""One training run from a validated recipe: build, fit, evaluate, export, card, push.

Every user error surfaces before the output folder is created, and the final artifacts
are written into a staging folder and moved into place, finishing with ``hubtune.json``
(so a folder that has it is complete).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubtune.errors import OutputError
from hubtune.recipe import Recipe
from hubtune.redact import redact
from hubtune.training.lock import OutputLock, check_writable

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    output_dir: Path
    metrics: dict[str, dict[str, float]]
    trainable_params: int
    total_params: int
    pushed: str | None = None
    processes: int = 1  # Accelerate processes that trained it


def prepare_output_dir(path: Path, *, overwrite: bool, resume: bool) -> None:
    """Refuse to clobber a previous run unless ``--overwrite`` or ``--resume``; check writability."""
    if path.exists() and any(path.iterdir()) and not (overwrite or resume):
        raise OutputError(
            f"output folder {path} already exists and is not empty: pass --overwrite to replace it, "
            "--resume to continue its training, or set output_dir=<new folder>"
        )
    check_writable(path)


def _precision(recipe: Recipe) -> str:
    import torch

    p = recipe.train.precision
    if p != "auto":
        return p
    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"


def make_accelerator(recipe: Recipe, output_dir: Path, **extra: Any) -> Any:
    """The run's Accelerator; ``extra`` goes to it as is (e.g. ``kwargs_handlers``)."""
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration

    trackers = [t for t in recipe.train.trackers if _tracker_available(t)]
    return Accelerator(
        mixed_precision=_precision(recipe),
        gradient_accumulation_steps=recipe.train.grad_accum,
        log_with=trackers or None,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "runs")),
        **extra,
    )


def _tracker_available(name: str) -> bool:
    import importlib.util

    module = {"tensorboard": "tensorboard", "comet_ml": "comet_ml"}.get(name, name)
    return importlib.util.find_spec(module) is not None


def train(recipe: Recipe, *, overwrite: bool = False, resume: str | None = None, push: bool | None = None) -> RunResult:
    """Run the recipe end to end; returns the metrics per split and where the artifacts are.

    The output folder's lock is held throughout: a second run on it fails (exit 2) naming this one.
    Multi-task recipes (``tasks:``) run through :func:`hubtune.api.train` (``hubtune.multitask``)."""
    if recipe.tasks is not None:
        from hubtune.errors import RecipeError

        raise RecipeError("tasks: a multi-task recipe trains with hubtune.api.train (or hubtune train), not run.train")
    with OutputLock(Path(recipe.output_dir)):
        return _train(recipe, overwrite=overwrite, resume=resume, push=push)


def _train(recipe: Recipe, *, overwrite: bool, resume: str | None, push: bool | None) -> RunResult:
    import torch
    from accelerate.utils import set_seed

    from hubtune.backbones import build_backbone
    from hubtune.data import build_data
    from hubtune.heads import HEADS
    from hubtune.model import TransferModel
    from hubtune.strategies import build_strategy
    from hubtune.training.trainer import Trainer

    output_dir = Path(recipe.output_dir)
    prepare_output_dir(output_dir, overwrite=overwrite, resume=bool(resume))
    if resume and resume != "latest":
        from hubtune.training.checkpoint import read_state

        read_state(Path(resume))  # a bad --resume PATH fails before anything is built or written
    set_seed(recipe.seed, deterministic=recipe.train.deterministic)
    if recipe.train.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    spec = HEADS.get(recipe.head.type)
    teacher = _teacher(recipe)  # distill: the teacher's folder, found (or pulled) before any weight loads
    backbone = build_backbone(recipe.backbone)
    data = build_data(recipe.data, backbone.preprocessing, spec, seed=recipe.seed, train_transforms=_augment(recipe))
    num_labels = recipe.head.num_labels or data.num_labels
    _check_num_labels(recipe, data.num_labels)
    head = None
    if spec.dense is not None:  # dense heads (hubtune.dense) build their model around the backbone
        backbone, head = spec.dense.prepare(backbone, num_labels, recipe.head)
    model = TransferModel(backbone, spec, num_labels, data.labels, recipe.head, head=head)
    strategy = build_strategy(recipe.strategy.type, recipe.strategy.options)
    objective = _objective(recipe, model, backbone) or _distillation(recipe, model, strategy, teacher)

    if overwrite and not resume and output_dir.exists():
        shutil.rmtree(output_dir)
    accelerator = make_accelerator(recipe, output_dir)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
    accelerator.init_trackers(redact(recipe.name or output_dir.name), config=_flat(redact(recipe.to_dict())))
    trainer = Trainer(recipe, model, strategy, data, accelerator, output_dir, objective=objective)
    trainer.fit(resume=resume)
    # e.g. WiSE-FT picks its interpolation on validation
    validate = (lambda: trainer.evaluate("validation").metrics) if "validation" in trainer.eval_loaders else None
    strategy.finalize(accelerator.unwrap_model(trainer.model), validate)
    evals = {split: trainer.evaluate(split) for split in trainer.eval_loaders}
    metrics = {split: e.metrics for split, e in evals.items()}
    unwrapped = trainer.export_model()  # every rank: under FSDP this gathers the full state dict
    trainable, total = unwrapped.count_parameters()
    result = RunResult(output_dir, metrics, trainable, total, processes=accelerator.num_processes)
    if accelerator.is_main_process:
        from hubtune.artifacts import write_artifacts

        write_artifacts(recipe, unwrapped, trainer.state, strategy, data, evals, result)
        _print_summary(result)
    return finish_run(recipe, result, accelerator, push)


def finish_run(recipe: Recipe, result: RunResult, accelerator: Any, push: bool | None) -> RunResult:
    """After the artifacts are written: push them when asked (main process), then end the run on every process."""
    accelerator.wait_for_everyone()
    if (recipe.hub.push if push is None else push) and accelerator.is_main_process:
        from hubtune.hub import push as hub_push

        result.pushed = str(hub_push(result.output_dir, recipe.hub.repo_id, hub=recipe.hub.endpoint,
                                     private=recipe.hub.private, branch=recipe.hub.branch, message=recipe.hub.message))
    accelerator.wait_for_everyone()
    accelerator.end_training()  # last: it also tears down the process group of a multi-process run
    return result


def _augment(recipe: Recipe) -> bool:
    """Training augmentation, except for a cached probe: cached features are keyed by the input's pixels, so
    augmented crops (new every epoch) would never hit and the probe would pay the backbone every epoch."""
    if recipe.strategy.options.get("cache_features") and recipe.data.augment:
        log.warning("strategy.cache_features: the probe trains on un-augmented images (data.augment is not used), so "
                    "every epoch after the first reads cached features; set cache_features: false for augmented crops")
        return False
    return True


def _check_num_labels(recipe: Recipe, found: int) -> None:
    from hubtune.errors import DataError

    if recipe.head.num_labels is not None and recipe.head.num_labels != found:
        raise DataError(
            f"head.num_labels is {recipe.head.num_labels} but the training data has {found} label(s); "
            "remove head.num_labels to infer it, or fix the data"
        )


def _teacher(recipe: Recipe) -> Path | None:
    teacher = recipe.strategy.options.get("teacher") if recipe.strategy.type == "distill" else None
    if not teacher:
        return None
    from hubtune.distillation import resolve_teacher

    return resolve_teacher(str(teacher))


def _distillation(recipe: Recipe, model: Any, strategy: Any, teacher: Path | None) -> Any:
    if recipe.strategy.type != "distill":
        return None
    from hubtune.distillation import build_distillation

    return build_distillation(recipe, model, strategy, teacher)


def _objective(recipe: Recipe, model: Any, backbone: Any) -> Any:
    if recipe.adaptation is None:
        return None
    from hubtune.adaptation import build_objective

    return build_objective(recipe, model, backbone)


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        else:
            out[key] = v if isinstance(v, int | float | str | bool) else str(v)
    return out


def _print_summary(result: RunResult) -> None:
    lines = [f"artifacts: {result.output_dir}",
             f"trainable parameters: {result.trainable_params:,} of {result.total_params:,}"]
    for split, m in result.metrics.items():
        lines.append(f"{split}: " + "  ".join(f"{k}={v:.4f}" for k, v in m.items()))
    print("\n".join(lines), flush=True)
