"""Everything a finished run leaves in its output folder, written atomically.

Files are written into a staging folder first and moved into place one by one, with
``hubtune.json`` last: a folder with ``hubtune.json`` holds a complete run.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from hubtune.atomic import atomic_write_json, atomic_write_text
from hubtune.export import META_FILE, export_model
from hubtune.model import is_native_timm
from hubtune.recipe import Recipe
from hubtune.redact import redact
from hubtune.version import __version__

log = logging.getLogger(__name__)


def write_artifacts(recipe: Recipe, model: Any, state: Any, strategy: Any, data: Any, evals: dict[str, Any],
                    result: Any) -> None:
    """Native model, recipe, metrics, plots and model card into ``result.output_dir``."""
    out = Path(result.output_dir)
    staging = out / ".export-tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    extra = strategy.export(model, staging)  # e.g. a PEFT adapter
    meta = export_model(model, staging, recipe.head)
    if extra:
        atomic_write_json(staging / META_FILE, {**meta, "strategy": extra})
    atomic_write_text(staging / "recipe.yaml", recipe.to_yaml())
    audio = _audio(staging, data, evals, model)
    atomic_write_json(staging / "metrics.json", {
        "metrics": result.metrics, "best_epoch": state.best_epoch, "best_value": state.best_value,
        "trainable_params": result.trainable_params, "total_params": result.total_params,
        "processes": result.processes, "strategy": redact(strategy.describe()), "history": state.history,
        **({"privacy": state.privacy} if getattr(state, "privacy", None) else {}),
        **({"by_speaker": audio["by_speaker"]} if audio.get("by_speaker") else {}),
    })
    images = _plots(staging, state, evals, data, model)
    if model.head_spec.dense is not None:  # dense heads: classes, per-class table, prediction picture
        extra = {**(extra or {}), **model.head_spec.dense.card_extra(model, data, result.metrics, staging)}
    _card(staging, recipe, model, strategy.describe(), data, result, images, {**(extra or {}), "privacy": getattr(state, "privacy", None),
                                                                 **({"audio": audio} if audio else {})})
    for path in sorted(staging.iterdir(), key=lambda p: p.name == META_FILE):
        if path.is_dir() and (out / path.name).is_dir():  # a folder artifact (adapter/) from an earlier run
            shutil.rmtree(out / path.name)
        os.replace(path, out / path.name)
    staging.rmdir()


def _plots(staging: Path, state: Any, evals: dict[str, Any], data: Any, model: Any) -> dict[str, str]:
    from hubtune.plots import save_confusion_matrix, save_training_curves

    images = {}
    if state.history:
        save_training_curves(staging / "training_curves.png", state.history)
        images["curves"] = "training_curves.png"
    split = "validation" if "validation" in evals else next(iter(evals), None)
    classify = model.head_spec.problem_type == "single_label_classification"
    if split and classify and data.labels:
        ev = evals[split]
        save_confusion_matrix(staging / "confusion_matrix.png", ev.references, ev.predictions, data.labels)
        images["confusion"] = "confusion_matrix.png"
    return images


def _card(staging: Path, recipe: Recipe, model: Any, strategy_options: dict[str, Any], data: Any, result: Any,
          images: dict[str, str], exported: dict[str, Any], notes: list[str] | None = None) -> None:
    from hubtune.card import CardInfo, write_card

    notes = list(notes or [])
    if model.family == "timm" and not is_native_timm(model):
        notes.append("The head is an MLP, which plain timm cannot build: load this model with hubtune.")
    if model.family == "custom":
        notes.append(f"Custom backbone {model.info.get('factory')}: load this model with hubtune and that factory.")
    if exported.get("privacy"):
        from hubtune.privacy_schema import privacy_card

        notes.append(privacy_card(exported["privacy"])[1])
    info = CardInfo(
        model_name=recipe.name or Path(recipe.output_dir).name,
        family=model.family,
        base_model=model.info.get("base_model"),
        base_model_path_is_local=bool(model.info.get("base_model")) and Path(str(model.info.get("base_model"))).exists(),
        task=recipe.head.type,
        pipeline_tag=_pipeline_tag(model),
        modality=model.preprocessing.modality,
        dataset=recipe.data.path if recipe.data.format == "hub" else (recipe.data.path or recipe.data.format),
        dataset_info=redact(data.info),
        labels=data.labels,
        strategy=recipe.strategy.type,
        strategy_options=redact(strategy_options),
        trainable_params=result.trainable_params,
        total_params=result.total_params,
        hyperparameters=redact(recipe.train.model_dump(mode="json")),
        metrics=result.metrics,
        curves_image=images.get("curves"),
        confusion_image=images.get("confusion"),
        hubtune_version=__version__,
        trust_remote_code=recipe.backbone.trust_remote_code,
        notes=notes,
        extra=redact(_card_extra(recipe, exported)),
    )
    write_card(staging, info, repo_id=recipe.hub.repo_id)


def _card_extra(recipe: Recipe, exported: dict[str, Any]) -> dict[str, Any]:
    """Rows for the card's summary table (and ``adapter`` for the PEFT loading snippet)."""
    extra: dict[str, Any] = {"Seed": recipe.seed, "Head": recipe.head.model_dump(mode="json")}
    if exported.get("dense"):
        extra["dense"] = exported["dense"]
    if exported.get("audio"):  # per-speaker table and spectrogram picture (model_cards/audio_classification.md)
        extra["audio"] = exported["audio"]
    if exported.get("distillation"):
        extra["Distillation"] = exported["distillation"]["summary"]
    if exported.get("adapter"):
        extra["adapter"] = "peft"
        extra["PEFT adapter"] = f"{exported.get('method')} in `{exported['adapter']}/` (merged: {exported.get('merged')})"
    if exported.get("privacy"):
        from hubtune.privacy_schema import privacy_card

        extra["Differential privacy"] = privacy_card(exported["privacy"])[0]
    if recipe.adaptation:
        a = recipe.adaptation
        extra["Domain adaptation"] = (
            f"{a.method} (weight {a.weight}) on unlabeled {a.target.path or a.target.format}; "
            f"model selection: {a.selection} (target labels never used)"
        )
    return extra


def _audio(staging: Path, data: Any, evals: dict[str, Any], model: Any) -> dict[str, Any]:
    if model.preprocessing.modality != "audio":
        return {}
    from hubtune.data.audio_report import audio_outputs

    return audio_outputs(staging, data, evals, model)


def _pipeline_tag(model: Any) -> str:
    if model.preprocessing.modality == "audio":
        return "audio-classification"
    if model.preprocessing.modality == "text" or model.head_spec.dense is not None:
        return model.head_spec.pipeline_tag
    return "image-classification" if "classification" in model.head_spec.problem_type else "image-feature-extraction"
