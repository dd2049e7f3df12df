"""Model cards: YAML front matter from ``huggingface_hub.ModelCardData``, body from Jinja templates.

Templates live in ``hubtune/model_cards/`` (one per task family, all extending ``_base.md``).
The generated body sits between ``<!-- hubtune:begin`` and ``<!-- hubtune:end -->`` markers so
that :func:`merge_with_existing` can replace it while keeping what a user wrote around it.
Secrets never reach a card: see :mod:`hubtune.redact`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from hubtune.atomic import atomic_write_text
from hubtune.hub.card_merge import CARD_TEMPLATE, merge_with_existing
from hubtune.redact import redact, scrub
from hubtune.version import __version__

TEMPLATES_DIR = Path(__file__).resolve().parent / "model_cards"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_MAX_LABELS = 50


@dataclass
class CardInfo:
    """Everything a card says about a trained model.

    ``dataset_info`` keys read: ``splits`` (split → example count), ``columns``, ``format``,
    ``config``, ``label_names``, ``local`` (True: ``dataset`` is a path, not a hub id); other
    keys are listed as they are. ``extra`` keys read: ``adapter`` ("peft"), ``license``,
    ``tags``, ``auto_class``, ``loader`` ("hubtune" when plain libraries cannot load it).
    """

    model_name: str
    family: str
    base_model: str | None = None
    base_model_path_is_local: bool = False
    task: str = "classification"
    pipeline_tag: str = ""
    modality: str = "image"
    dataset: str | None = None
    dataset_info: dict = field(default_factory=dict)
    labels: list[str] | None = None
    strategy: str = "full"
    strategy_options: dict = field(default_factory=dict)
    trainable_params: int = 0
    total_params: int = 0
    hyperparameters: dict = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    curves_image: str | None = None
    confusion_image: str | None = None
    hubtune_version: str = __version__
    trust_remote_code: bool = False
    notes: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    # multi-task: one dict per task (name, head, dataset, dataset_info, labels, metrics, pipeline_tag, ...)
    tasks: list[dict] = field(default_factory=list)


# ----------------------------------------------------------------------------- front matter


def _base_model_id(info: CardInfo) -> str | None:
    """The hub id of the base checkpoint, or None (local file, or a bare timm architecture name)."""
    if not info.base_model or info.base_model_path_is_local:
        return None
    name = re.sub(r"^hf[-_]hub:", "", info.base_model)
    if not _HUB_ID.match(name) or (info.family == "timm" and "/" not in name):
        return None
    return name


def _dataset_id(info: CardInfo) -> str | None:
    ds = info.dataset
    if not ds or info.dataset_info.get("local") or not _HUB_ID.match(ds) or os.path.exists(ds):
        return None
    return ds


def _library(info: CardInfo) -> str | None:
    if info.family == "smp":  # merged or not, the main files are smp's layout (an adapter/ may sit beside)
        return "segmentation-models-pytorch"
    if info.extra.get("adapter") == "peft":
        return "peft"
    return info.family if info.family in ("timm", "transformers") else None


def _pipeline_tag(info: CardInfo) -> str:
    if info.pipeline_tag:
        return info.pipeline_tag
    if info.task == "token_classification":
        return "token-classification"
    if info.modality == "image":
        return "image-feature-extraction" if info.task == "regression" else "image-classification"
    return "text-classification"


def _eval_results(info: CardInfo) -> list[EvalResult]:
    if info.tasks:  # multi-task: each task's results, on its own data, named by the task
        return [dataclasses.replace(r, task_name=t["name"]) for t in info.tasks for r in _eval_results(CardInfo(
            model_name=info.model_name, family=info.family, modality=info.modality, pipeline_tag=t["pipeline_tag"],
            dataset=t.get("dataset"), dataset_info=t.get("dataset_info") or {}, metrics=t["metrics"]))]
    ds_id = _dataset_id(info)
    common = {
        "task_type": _pipeline_tag(info),
        "dataset_type": ds_id or str(info.dataset_info.get("format") or "custom"),
        "dataset_name": ds_id or (Path(info.dataset).name if info.dataset else "custom"),
        "dataset_config": info.dataset_info.get("config"),
    }
    return [
        EvalResult(**common, dataset_split=split, metric_type=name, metric_name=name, metric_value=float(value))
        for split, values in info.metrics.items()
        for name, value in values.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ]


def card_data(info: CardInfo) -> ModelCardData:
    """The YAML front matter, including a ``model-index`` with every finite metric per split."""
    tags = ["hubtune", "transfer-learning", info.family, info.task, f"strategy-{info.strategy}"]
    tags += [str(t) for t in info.extra.get("tags", [])]
    ds_id = _dataset_id(info)
    return ModelCardData(
        base_model=_base_model_id(info),
        datasets=[ds_id] if ds_id else None,
        library_name=_library(info),
        pipeline_tag=_pipeline_tag(info),
        tags=list(dict.fromkeys(t for t in tags if t and t != "custom")),
        license=info.extra.get("license"),
        model_name=info.model_name,
        eval_results=_eval_results(info) or None,
    )


# ----------------------------------------------------------------------------- body


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) else "n/a"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value) or "—"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _flatten(d: dict, prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in d.items():
        name = f"{prefix}{key}"
        rows += _flatten(value, f"{name}.") if isinstance(value, dict) and value else [(name, _cell(value))]
    return rows


def _template_name(info: CardInfo) -> str:
    if info.tasks:
        return "multitask.md"
    if info.task == "semantic_segmentation":
        return "segmentation.md"
    if info.task == "object_detection":
        return "detection.md"
    if info.task == "token_classification":
        return "token_classification.md"
    if info.task == "regression":
        return "regression.md"
    if info.modality == "audio":
        return "audio_classification.md"
    return "image_classification.md" if info.modality == "image" else "text_classification.md"


def _auto_class(info: CardInfo) -> str:
    if info.extra.get("auto_class"):
        return str(info.extra["auto_class"])
    if info.task == "token_classification":
        return "AutoModelForTokenClassification"
    if info.modality == "audio":
        return "AutoModelForAudioClassification"
    return "AutoModelForImageClassification" if info.modality == "image" else "AutoModelForSequenceClassification"


def _loader(info: CardInfo) -> str:
    if info.extra.get("adapter") == "peft":
        return "peft"
    if info.family == "custom" or info.extra.get("loader") == "hubtune":
        return "hubtune"
    return "timm" if info.family == "timm" else "transformers"


def _notes(info: CardInfo) -> list[str]:
    notes = list(info.notes)
    if info.trust_remote_code:
        notes.append("Loading runs code from the model repository: pass `trust_remote_code=True` only if you trust it.")
    if info.base_model_path_is_local:
        notes.append("The base checkpoint was a local file, not a hub model; its provenance is not recorded here.")
    notes.append("Scores hold for the evaluation data above; expect them to change on data from other sources.")
    return notes


def _metric_table(metrics: dict[str, dict[str, float]]) -> tuple[list[str], list[tuple[str, list[str]]]]:
    splits = list(metrics)
    names = list(dict.fromkeys(m for values in metrics.values() for m in values))
    return splits, [(name, [_score(metrics[s].get(name)) for s in splits]) for name in names]


def _score(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) and math.isfinite(value) else "—"


def _base_context(info: CardInfo) -> dict[str, str]:
    base, base_id = info.base_model or "", _base_model_id(info)
    if base_id:
        shown = f"[{base_id}](https://huggingface.co/{base_id})"
    elif base:
        shown = f"a local checkpoint (`{Path(base).name}`)" if info.base_model_path_is_local else f"`{base}`"
    else:
        shown = "a model trained from scratch"
    ref = base if base and not info.base_model_path_is_local else "PATH/TO/BASE_MODEL"
    return {"base_display": shown, "base_phrase": f"a version of {shown}" if base else "a model", "base_ref": ref}


def _data_context(info: CardInfo) -> dict[str, Any]:
    ds_id, rest = _dataset_id(info), dict(info.dataset_info)
    if ds_id:
        shown = f"[{ds_id}](https://huggingface.co/datasets/{ds_id})"
    else:
        shown = f"`{Path(info.dataset).name}` (local data)" if info.dataset else ""
    splits = rest.pop("splits", None) or {}
    labels = info.labels or rest.pop("label_names", None) or []
    for key in ("label_names", "local"):
        rest.pop(key, None)
    more = " …" if len(labels) > _MAX_LABELS else ""
    return {
        "dataset_display": shown,
        "split_rows": [(k, _cell(v)) for k, v in splits.items()],
        "data_rows": _flatten(rest),
        "labels_display": ", ".join(f"`{_cell(x)}`" for x in labels[:_MAX_LABELS]) + more,
        "labels_count": len(labels),
        "num_labels": len(labels) if labels else info.extra.get("num_labels"),
    }


def _context(info: CardInfo, repo_id: str | None) -> dict[str, Any]:
    total = max(int(info.total_params), 0)
    metric_splits, metric_rows = _metric_table(info.metrics)
    phrases = {"multilabel": "multi-label {} classification", "regression": "{} regression"}
    return {
        **_base_context(info),
        **_data_context(info),
        "info": info,
        "title": info.model_name or (repo_id or "model").split("/")[-1],
        "repo": repo_id or f"<namespace>/{info.model_name}",
        "task_phrase": "token classification"
        if info.task == "token_classification"
        else phrases.get(info.task, "{} classification").format(info.modality),
        "strategy_rows": _flatten(info.strategy_options),
        "extra_rows": [(k, v) for k, v in _flatten(info.extra) if not k.startswith(("tags", "license", "auto_class", "dense", "audio."))],
        "trainable": f"{info.trainable_params:,}",
        "total": f"{total:,}",
        "share": f"{100 * info.trainable_params / total:.2f}%" if total else "n/a",
        "hyper_rows": _flatten(info.hyperparameters),
        "metric_splits": metric_splits,
        "metric_rows": metric_rows,
        "loader": _loader(info),
        "auto_class": _auto_class(info),
        "trust_arg": ", trust_remote_code=True" if info.trust_remote_code else "",
        "activation": {"classification": ".softmax(-1)", "multilabel": ".sigmoid()"}.get(info.task, ""),
        "notes": [_cell(n) for n in _notes(info)],
    }


def _environment(template_dir: str | os.PathLike[str] | None) -> jinja2.Environment:
    dirs = [str(template_dir)] if template_dir else []
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([*dirs, str(TEMPLATES_DIR)]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_card(
    info: CardInfo, repo_id: str | None = None, *, template_dir: str | os.PathLike[str] | None = None
) -> ModelCard:
    """Render the card for ``info`` (secrets redacted); ``template_dir`` overrides templates by name."""
    info = CardInfo(**redact(dataclasses.asdict(info)))
    body = _environment(template_dir).get_template(_template_name(info)).render(**_context(info, repo_id))
    body = re.sub(r"\n{3,}", "\n\n", body).strip() + "\n"
    card = ModelCard.from_template(card_data(info), template_str=CARD_TEMPLATE, body=body)
    clean = scrub(str(card))
    return card if clean == str(card) else ModelCard(clean)


# ----------------------------------------------------------------------------- merge / write


def write_card(output_dir: str | os.PathLike[str], info: CardInfo, repo_id: str | None = None, **kwargs: Any) -> Path:
    """Render the card and write ``output_dir/README.md`` atomically, merging with one already there."""
    path = Path(output_dir) / "README.md"
    card = render_card(info, repo_id, **kwargs)
    if path.is_file():
        card = merge_with_existing(card, ModelCard(path.read_text(encoding="utf-8"), ignore_metadata_errors=True))
    atomic_write_text(path, scrub(str(card)))
    return path
