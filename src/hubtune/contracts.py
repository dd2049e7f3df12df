"""The contracts between hubtune's parts: backbones, heads, strategies, data.

A backbone factory gives a :class:`Backbone` (module, num_features, preprocessing); a head
factory takes ``(num_features, num_labels)``; a strategy prepares parameter groups and
optional extra losses. Third-party entries only need to honour these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from torch import Tensor, nn

Modality = Literal["image", "text", "vector", "audio"]
ProblemType = Literal[
    "single_label_classification", "multi_label_classification", "regression", "token_classification",
    "semantic_segmentation", "object_detection",
]


@dataclass
class Preprocessing:
    """How raw inputs become model inputs.

    ``data_config`` is timm's pretrained data config (input_size, mean, std, interpolation,
    crop_pct) for images; ``tokenizer`` / ``image_processor`` are transformers objects.
    """

    modality: Modality
    data_config: dict[str, Any] = field(default_factory=dict)
    tokenizer: Any = None
    image_processor: Any = None
    feature_extractor: Any = None  # audio: a transformers feature extractor (saved with the model)


@dataclass
class Backbone:
    """A pretrained feature extractor.

    ``module(inputs)`` returns pooled features ``(batch, num_features)`` (or per-token
    features for token tasks). ``blocks`` groups the parameter names of ``module`` from the
    input (stem, embeddings) to the output (last block): layer-wise strategies use them.
    ``family`` picks the native export layout: ``timm``, ``transformers`` or ``custom``.
    """

    module: nn.Module
    num_features: int
    preprocessing: Preprocessing
    family: Literal["timm", "transformers", "custom"]
    blocks: list[list[str]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


class BackboneFactory(Protocol):
    """Builds a :class:`Backbone` from the recipe's ``backbone:`` block (a ``hubtune.recipe.BackboneConfig``)."""

    def __call__(self, cfg: Any) -> Backbone: ...


class HeadFactory(Protocol):
    def __call__(self, num_features: int, num_labels: int, *, hidden: list[int], dropout: float) -> nn.Module: ...


class DenseHooks:
    """What a dense head (segmentation, detection: ``hubtune.dense``) adds to its :class:`HeadSpec`.

    ``HeadSpec.dense`` holds one (``None`` for plain heads); the shared modules call these hooks when it is
    set, so the engine and the face stay task-agnostic. ``recipe_problems``, ``forward`` and ``card_extra``
    have working defaults; the others are required of a dense head.
    """

    def recipe_problems(self, recipe: Any) -> list[str]:
        """Problems of this head's combination with the recipe (backbone source, data format, strategy)."""
        return []

    def prepare(self, backbone: Backbone, num_labels: int, head_cfg: Any) -> tuple[Backbone, nn.Module]:
        """The model around ``backbone``'s weights: ``(encoder as the Backbone strategies see, head)``."""
        raise NotImplementedError

    def forward(self, model: Any, batch: dict[str, Any]) -> Any:
        """The model's output for ``batch`` (a detector also takes the targets while training)."""
        return model.head(model.backbone_forward(batch))

    def build_data(self, cfg: Any, preprocessing: Preprocessing, *, seed: int,
                   splits: Any = ("train", "validation", "test"), train_transforms: bool = True) -> Any:
        """The task's :class:`~hubtune.data.DataBundle` (its own formats, checked before training)."""
        raise NotImplementedError

    def evaluate(self, model: nn.Module, batches: Any, metrics: Any, label_names: list[str] | None,
                 accelerator: Any = None) -> dict[str, float]:
        """The split's metrics, streamed and gathered across processes when ``accelerator`` is given."""
        raise NotImplementedError

    def export(self, model: Any, out: Path) -> str:
        """Write the task library's native layout into ``out``; returns the layout's name."""
        raise NotImplementedError

    def load_parts(self, folder: Path, meta: dict[str, Any]) -> tuple[Backbone, nn.Module]:
        """``(Backbone, head)`` of an exported folder, for ``hubtune eval`` / ``predict``."""
        raise NotImplementedError

    def card_extra(self, model: Any, data: Any, metrics: dict[str, dict[str, float]], out: Path) -> dict[str, Any]:
        """Extra model-card context (classes, per-class table, a prediction picture written into ``out``)."""
        return {}

    def predict_files(self, model: Any, inputs: list[str], out_dir: Path, threshold: float = 0.0) -> list[dict]:
        """``hubtune predict --out``: overlays and ``predictions.json`` for ``inputs``."""
        raise NotImplementedError

    def peft_targets(self, encoder: nn.Module) -> list[str]:
        """Module names of the encoder a PEFT adapter wraps by default (``strategy: peft``)."""
        raise NotImplementedError

    def peft_adapter(self, model: Any, config: Any) -> Any:
        """The trained adapter re-expressed on the task library's native model (saved as ``adapter/``)."""
        raise NotImplementedError


@dataclass(frozen=True)
class HeadSpec:
    """A task head: how to build it, its loss, and its native transformers class.

    ``dense`` is set by dense heads (:class:`DenseHooks`) and ``None`` for plain ones.
    """

    name: str
    build: HeadFactory
    problem_type: ProblemType
    auto_class: str
    pipeline_tag: str
    default_metrics: tuple[str, ...]
    loss: Callable[..., Tensor]
    predict: Callable[[Tensor], Tensor]
    dense: DenseHooks | None = None


ParamGroup = dict[str, Any]


@runtime_checkable
class Strategy(Protocol):
    """A transfer strategy.

    ``setup`` freezes/prepares the model once; ``param_groups`` returns optimizer groups
    (each with ``params`` and ``lr``); ``extra_loss`` adds a regulariser (or ``None``);
    ``on_epoch_start(epoch, model)`` applies the phase of ``epoch`` to the model (idempotent:
    it is also called on resume) and returns True when the set of trainable parameters
    changed, so the trainer rebuilds the optimizer and schedule.
    ``finalize(model, evaluate)`` runs after training, before the final evaluation (WiSE-FT picks its
    interpolation there); ``export(model, out_dir)`` writes extra artifacts before the native export
    and returns what ``hubtune.json`` records. ``hubtune.strategies.BaseStrategy`` implements all of
    it as full fine-tuning; subclass it.
    ``state_dict``/``load_state_dict`` carry the strategy's phase across a resume.
    """

    def setup(self, model: nn.Module) -> None: ...

    def param_groups(self, model: nn.Module, lr: float, weight_decay: float, head_lr_mult: float) -> list[ParamGroup]: ...

    def extra_loss(self, model: nn.Module) -> Tensor | None: ...

    def on_epoch_start(self, epoch: int, model: nn.Module) -> bool: ...

    def finalize(self, model: nn.Module, evaluate: Callable[[], dict[str, float]] | None) -> None: ...

    def export(self, model: nn.Module, out_dir: Path) -> dict[str, Any]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...
