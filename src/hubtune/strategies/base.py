"""The strategy base class, its registry, option validation and shared helpers.

Shared behaviour lives here so strategies compose through options rather than classes:
any strategy whose ``Options`` has a ``layer_decay`` factor gets layer-wise learning rates
(:func:`layer_decay_groups`), and every strategy reports its phase and trainable set to the
model card through :meth:`BaseStrategy.describe`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError
from torch import Tensor, nn

from hubtune.contracts import ParamGroup
from hubtune.model import TransferModel
from hubtune.recipe import validation_messages
from hubtune.registry import Registry

Evaluator = Callable[[], dict[str, float]]


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BaseStrategy:
    """Full fine-tuning behaviour; subclasses override what they change.

    ``Options`` (a pydantic model, extra keys forbidden) validates ``strategy:`` options.
    Optional hooks beyond the :class:`~hubtune.contracts.Strategy` protocol, no-ops here:
    ``finalize(model, evaluate)`` after training (before the final evaluation) and
    ``export(model, out_dir)`` before the native export (see :mod:`hubtune.artifacts`).
    """

    Options: ClassVar[type[BaseModel]] = NoOptions
    name: ClassVar[str] = "base"

    def __init__(self, options: BaseModel | None = None) -> None:
        self.options = options if options is not None else self.Options()
        self.phase = "train"
        self._summary: dict[str, Any] = {}

    def setup(self, model: TransferModel) -> None:
        """Freeze or prepare the model once, before the optimizer is built."""

    def param_groups(self, model: TransferModel, lr: float, weight_decay: float, head_lr_mult: float) -> list[ParamGroup]:
        """Record what trains (for the card), then build the groups (:meth:`build_groups`)."""
        self._summary = summarize(model)
        return self.build_groups(model, lr, weight_decay, head_lr_mult)

    def build_groups(self, model: TransferModel, lr: float, weight_decay: float, head_lr_mult: float) -> list[ParamGroup]:
        """Backbone and head groups (layer-wise when ``layer_decay`` is set), no decay on biases/norms."""
        decay = getattr(self.options, "layer_decay", None)
        if decay is not None:
            return layer_decay_groups(model, lr, weight_decay, head_lr_mult, decay)
        groups = split_decay(model.backbone_parameters(), lr, weight_decay)
        groups += split_decay(model.head_parameters(), lr * head_lr_mult, weight_decay)
        return groups

    def extra_loss(self, model: TransferModel) -> Tensor | None:
        return None

    def on_epoch_start(self, epoch: int, model: TransferModel) -> bool:
        return False

    def finalize(self, model: TransferModel, evaluate: Evaluator | None = None) -> None:
        """After training, before the final evaluation and export (e.g. weight interpolation)."""

    def export(self, model: TransferModel, out_dir: Path) -> dict[str, Any]:
        """Write extra artifacts into ``out_dir`` before the native export; may make ``model``
        native again (e.g. merge adapters). Returns what ``hubtune.json`` records as ``strategy``."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {"phase": self.phase}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Phases are a pure function of the epoch, so nothing needs restoring here."""

    def describe(self) -> dict[str, Any]:
        """What the model card says: name, options, phase, trainable parameters and frozen set."""
        return {"name": self.name, **self.options.model_dump(), "phase": self.phase, **self._summary}


def summarize(model: TransferModel) -> dict[str, Any]:
    """Trainable parameter count and share, and which backbone blocks are frozen."""
    trainable, total = model.count_parameters()
    params = dict(model.named_parameters())
    frozen = [i for i, block in enumerate(model.blocks)
              if block and all(n in params and not params[n].requires_grad for n in block)]
    head_trains = any(p.requires_grad for _, p in model.head_parameters())
    return {"trainable_params": trainable, "trainable_share": round(trainable / max(1, total), 6),
            "frozen_blocks": f"{len(frozen)} of {len(model.blocks)}" + (f" ({_ranges(frozen)})" if frozen else ""),
            "head_trainable": head_trains}


def _ranges(ids: list[int]) -> str:
    out, start = [], ids[0]
    for a, b in zip(ids, [*ids[1:], None], strict=True):
        if b != a + 1:
            out.append(f"{start}" if start == a else f"{start}-{a}")
            start = b
    return ", ".join(out)


def split_decay(named: Iterable[tuple[str, nn.Parameter]], lr: float, weight_decay: float, **extra: Any) -> list[ParamGroup]:
    """Two groups (with and without weight decay) of the trainable parameters in ``named``."""
    decay, no_decay = [], []
    for name, p in named:
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    groups = []
    if decay:
        groups.append({"params": decay, "lr": lr, "weight_decay": weight_decay, **extra})
    if no_decay:
        groups.append({"params": no_decay, "lr": lr, "weight_decay": 0.0, **extra})
    return groups


def layer_ids(model: TransferModel) -> tuple[dict[str, int], int]:
    """Backbone parameter name → layer id (``model.blocks`` order, input = 0) and the head's id."""
    ids = {name: i for i, block in enumerate(model.blocks) for name in block}
    return ids, len(model.blocks)


def layer_decay_groups(model: TransferModel, lr: float, weight_decay: float, head_lr_mult: float,
                       decay: float) -> list[ParamGroup]:
    """Layer-wise LR: ``lr * decay ** (num_layers - layer_id)``; the head (top id) ``lr * head_lr_mult``.

    Rates are set per group (no timm ``lr_scale``), so any ``LambdaLR`` schedule keeps the ratios.
    """
    ids, top = layer_ids(model)
    buckets: dict[int, list[tuple[str, nn.Parameter]]] = {}
    for name, p in model.backbone_parameters():
        buckets.setdefault(ids.get(name, 0), []).append((name, p))
    groups: list[ParamGroup] = []
    for lid in sorted(buckets):
        groups += split_decay(buckets[lid], lr * decay ** (top - lid), weight_decay, layer_id=lid)
    groups += split_decay(model.head_parameters(), lr * head_lr_mult, weight_decay, layer_id=top)
    return groups


def set_backbone_trainable(model: TransferModel, trainable: bool) -> None:
    for _, p in model.backbone_parameters():
        p.requires_grad_(trainable)


STRATEGIES: Registry[type[BaseStrategy]] = Registry("strategy", group="hubtune.strategies")


def strategy_problems(type_name: str, options: Mapping[str, Any]) -> list[str]:
    """Problems with ``strategy:`` (unknown type, bad options), each with its key path."""
    if type_name not in STRATEGIES:
        return [f"strategy.type: {STRATEGIES.unknown_message(type_name)}"]
    cls = STRATEGIES.get(type_name)
    try:
        cls.Options.model_validate(dict(options))
    except ValidationError as e:
        return validation_messages(e, cls.Options, "strategy", unknown=f"unknown option for strategy {type_name!r}")
    return []


def build_strategy(type_name: str, options: Mapping[str, Any]) -> BaseStrategy:
    cls = STRATEGIES.get(type_name)
    return cls(cls.Options.model_validate(dict(options)))
