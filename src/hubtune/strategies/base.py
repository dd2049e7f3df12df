"""The strategy base class, its registry and option validation."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError
from torch import Tensor

from hubtune.contracts import ParamGroup
from hubtune.model import TransferModel
from hubtune.registry import Registry


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BaseStrategy:
    """Full fine-tuning behaviour; subclasses override what they change.

    ``Options`` (a pydantic model, extra keys forbidden) validates ``strategy:`` options.
    """

    Options: ClassVar[type[BaseModel]] = NoOptions
    name: ClassVar[str] = "base"

    def __init__(self, options: BaseModel | None = None) -> None:
        self.options = options if options is not None else self.Options()

    def setup(self, model: TransferModel) -> None:
        """Freeze or prepare the model once, before the optimizer is built."""

    def param_groups(self, model: TransferModel, lr: float, weight_decay: float, head_lr_mult: float) -> list[ParamGroup]:
        """Backbone and head groups, no weight decay on biases and norms."""
        groups = split_decay(model.backbone_parameters(), lr, weight_decay)
        groups += split_decay(model.head_parameters(), lr * head_lr_mult, weight_decay)
        return groups

    def extra_loss(self, model: TransferModel) -> Tensor | None:
        return None

    def on_epoch_start(self, epoch: int, model: TransferModel) -> bool:
        return False

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the phase saved by :meth:`state_dict`."""

    def describe(self) -> dict[str, Any]:
        """What the model card says about the strategy."""
        return {"name": self.name, **self.options.model_dump()}


def split_decay(named: Any, lr: float, weight_decay: float, **extra: Any) -> list[ParamGroup]:
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


STRATEGIES: Registry[type[BaseStrategy]] = Registry("strategy")


def strategy_problems(type_name: str, options: Mapping[str, Any]) -> list[str]:
    """Problems with ``strategy:`` (unknown type, bad options), each with its key path."""
    if type_name not in STRATEGIES:
        return [f"strategy.type: {STRATEGIES.unknown_message(type_name)}"]
    cls = STRATEGIES.get(type_name)
    try:
        cls.Options.model_validate(dict(options))
    except ValidationError as e:
        problems = []
        known = list(cls.Options.model_fields)
        for err in e.errors():
            path = "strategy." + ".".join(str(x) for x in err["loc"])
            if err["type"] == "extra_forbidden":
                close = difflib.get_close_matches(str(err["loc"][-1]), known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                problems.append(f"{path}: unknown option for strategy {type_name!r}{hint} (known: {', '.join(known) or 'none'})")
            else:
                problems.append(f"{path}: {err['msg']} (got {err.get('input')!r})")
        return problems
    return []


def build_strategy(type_name: str, options: Mapping[str, Any]) -> BaseStrategy:
    cls = STRATEGIES.get(type_name)
    return cls(cls.Options.model_validate(dict(options)))
