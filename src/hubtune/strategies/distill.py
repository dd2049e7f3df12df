"""``distill``: knowledge distillation from a fine-tuned teacher (Hinton et al. 2015; DistilBERT, Sanh et al. 2019).

Every student parameter trains, as in ``full``. The loss is (see :mod:`hubtune.distillation`)
``(1 − alpha)·task loss + alpha·T²·KL(teacher_T ‖ student_T) + hidden_weight·cosine loss`` on the
last hidden states; ``student_layers`` builds the student from those layers of the teacher
(``init: teacher``, DistilBERT-style) or of the recipe's own backbone (``init: backbone``, the
baseline without a teacher when ``alpha`` and ``hidden_weight`` are 0). The teacher is loaded by
the run (an output folder, a hub repo or a transformers classification checkpoint), never trained,
never exported; the card names it and the compression.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hubtune.model import TransferModel
from hubtune.strategies.base import STRATEGIES, BaseStrategy


class DistillOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    teacher: str | None = Field(None, description="output folder, hub repo id (ns/name[@rev]) or transformers folder")
    temperature: float = Field(2.0, gt=0.0, description="softmax temperature of the logit KD term")
    alpha: float = Field(0.5, ge=0.0, le=1.0, description="weight of the KD term; 1 - alpha weighs the task loss")
    hidden_weight: float = Field(0.0, ge=0.0, description="weight of the cosine loss on last hidden states")
    student_layers: list[int] | None = Field(None, description="keep these encoder layers (e.g. [0, 5])")
    init: Literal["teacher", "backbone"] = Field("teacher", description="where student_layers are copied from")
    cache_teacher: bool | None = Field(None, description="cache teacher outputs per example (default: when "
                                                          "the data is not augmented)")
    layer_decay: float | None = Field(None, gt=0.0, le=1.0)

    @field_validator("student_layers")
    @classmethod
    def _layers(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (not v or any(i < 0 for i in v) or sorted(set(v)) != v):
            raise ValueError("student_layers must be a non-empty increasing list of layer indices, e.g. [0, 5]")
        return v

    @model_validator(mode="after")
    def _teacher_needed(self) -> DistillOptions:
        uses_teacher = self.alpha > 0 or self.hidden_weight > 0 or (self.student_layers and self.init == "teacher")
        if uses_teacher and not self.teacher:
            raise ValueError("teacher is missing: set strategy.teacher to an output folder or hub repo "
                             "(or alpha: 0, hidden_weight: 0, init: backbone to train the student alone)")
        return self


@STRATEGIES.register("distill")
class Distill(BaseStrategy):
    """Full fine-tuning of the student under the KD objective; ``describe`` reports teacher and compression."""

    name = "distill"
    Options = DistillOptions

    def __init__(self, options: BaseModel | None = None) -> None:
        super().__init__(options)
        self.report: dict[str, Any] = {}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), **({"distillation": self.report} if self.report else {})}

    def export(self, model: TransferModel, out_dir: Path) -> dict[str, Any]:
        """``hubtune.json`` records the teacher and the compression; the card shows them in one row."""
        r = self.report
        if not r:
            return {}
        line = f"student: {r['student_params']:,} parameters" + _layers(r.get("student_layers"))
        if "teacher" in r:
            line = (f"`{r['teacher']}` ({r['teacher_params']:,} parameters{_layers(r.get('teacher_layers'))}) → "
                    f"{line}; {r['compression']}; T={self.options.temperature}, alpha={self.options.alpha}, "
                    f"hidden_weight={self.options.hidden_weight}")
        return {"distillation": {**r, "summary": line}}


def _layers(n: int | None) -> str:
    return f", {n} layers" if n else ""


def distill_problems(recipe: Any) -> list[str]:
    """What a ``distill`` recipe cannot combine (checked before anything loads)."""
    if recipe.strategy.type != "distill":
        return []
    problems = []
    opts = recipe.strategy.options
    if recipe.adaptation is not None:
        problems.append("strategy.type: distill replaces the training loss, as adaptation: does; use one of them")
    if recipe.head.type not in ("classification", "multilabel", "regression"):
        problems.append(f"strategy.type: distill supports classification, multilabel and regression heads, "
                        f"not {recipe.head.type!r}")
    if (opts.get("student_layers") or opts.get("hidden_weight")) and recipe.backbone.source != "transformers":
        problems.append("strategy.student_layers: layer copies and hidden_weight need a transformers backbone; "
                        "remove them (logit KD works with any backbone)")
    return problems
