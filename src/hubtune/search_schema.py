"""The ``search:`` block of a recipe: the space, objective, budget, sampler, pruner and storage.

Schema only (pydantic): sampling and running trials live in :mod:`hubtune.search`. A space maps a
dotted recipe key to one distribution::

    train.lr: {log_uniform: [1.0e-5, 1.0e-3]}
    strategy.type: {choice: [full, lp_ft]}
    strategy.decay: {uniform: [0.6, 0.95], when: {strategy.type: layer_decay}}
    head.hidden: {choice: [[], [64]]}
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer, model_validator

KINDS = ("uniform", "log_uniform", "int", "log_int", "choice")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ParamSpec(_Strict):
    """One searched key: exactly one of the distribution kinds, optionally conditional."""

    uniform: tuple[float, float] | None = None
    log_uniform: tuple[float, float] | None = None
    int_: tuple[int, int] | None = Field(None, alias="int")
    log_int: tuple[int, int] | None = None
    choice: list[Any] | None = None
    step: float | None = Field(None, gt=0, description="grid step for uniform / int")
    when: dict[str, Any] = Field(default_factory=dict,
                                 description="sample only when these keys have these values (a value or a list)")

    @property
    def kind(self) -> str:
        return next(k for k in KINDS if self.bounds(k) is not None)

    def bounds(self, kind: str | None = None) -> Any:
        """The value given for ``kind`` (default: this spec's kind)."""
        kind = kind or self.kind
        return getattr(self, "int_" if kind == "int" else kind)

    @model_serializer(mode="wrap")
    def _compact(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        return {("int" if k == "int_" else k): v for k, v in data.items() if v is not None and v != {}}

    @model_validator(mode="after")
    def _one_kind(self) -> ParamSpec:
        given = [k for k in KINDS if self.bounds(k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(KINDS)} (got {', '.join(given) or 'none'})")
        kind = given[0]
        if kind == "choice":
            if not self.choice:
                raise ValueError("choice: needs at least one value")
            return self
        lo, hi = self.bounds(kind)
        if not lo < hi:
            raise ValueError(f"{kind}: [low, high] needs low < high (got [{lo}, {hi}])")
        if kind.startswith("log") and lo <= 0:
            raise ValueError(f"{kind}: the low end must be > 0 for a log scale (got {lo}); use uniform/int instead")
        if self.step is not None and kind.startswith("log"):
            raise ValueError(f"step: not allowed with {kind} (Optuna samples log scales without a grid)")
        return self


class SamplerConfig(_Strict):
    type: Literal["tpe", "random"] = "tpe"
    seed: int | None = None
    n_startup_trials: int = Field(4, ge=0, description="TPE: random trials before the model takes over")


class PrunerConfig(_Strict):
    type: Literal["median", "hyperband", "none"] = "median"
    n_startup_trials: int = Field(2, ge=0, description="median: finished trials before any pruning")
    n_warmup_steps: int = Field(0, ge=0, description="median: epochs reported before a trial can be pruned")
    min_resource: int = Field(1, ge=1, description="hyperband: smallest number of epochs")
    reduction_factor: int = Field(3, ge=2, description="hyperband")


class SearchConfig(_Strict):
    """Hyperparameter / source-model search with Optuna (``hubtune search RECIPE.yaml``)."""

    space: dict[str, ParamSpec] = Field(description="dotted recipe key -> distribution")
    metric: str | None = Field(None, description="validation metric to optimise (default: eval.best_metric or the "
                                                 "first eval metric); each trial is scored by its best epoch")
    direction: Literal["maximize", "minimize"] | None = Field(None, description="default: from the metric")
    n_trials: int | None = Field(None, ge=1, description="finished trials of the study (all workers together)")
    timeout: float | None = Field(None, gt=0, description="seconds for this worker; no new trial starts after it")
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    pruner: PrunerConfig = Field(default_factory=PrunerConfig)
    storage: str | None = Field(None, description="SQLAlchemy URL (default: sqlite in the output folder)")
    study_name: str | None = Field(None, description="default: the recipe name")
    enqueue_base: bool = Field(True, description="run the recipe's own values first, when they lie in the space")
    enqueue: list[dict[str, Any]] = Field(default_factory=list, description="value sets to try first "
                                          "(keys of the space), e.g. known good settings")
    max_retries: int = Field(1, ge=0, description="retries of a trial whose worker died")
    accelerate_config: str | None = Field(None, description="run each trial as `accelerate launch --config_file "
                                          "PATH -m hubtune train ...` (several processes or GPUs per trial)")

    @field_validator("sampler", "pruner", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value

    @field_validator("space")
    @classmethod
    def _keys(cls, space: dict[str, ParamSpec]) -> dict[str, ParamSpec]:
        if not space:
            raise ValueError("the space is empty: add at least one key, e.g. train.lr: {log_uniform: [1e-5, 1e-3]}")
        for key in space:
            if not key or any(not part for part in key.split(".")):
                raise ValueError(f"{key!r} is not a dotted recipe key (for example train.lr)")
            if key.split(".")[0] in ("search", "output_dir"):
                raise ValueError(f"{key!r} cannot be searched")
        return space

    @model_validator(mode="after")
    def _budget(self) -> SearchConfig:
        if self.n_trials is None and self.timeout is None:
            raise ValueError("no budget: set search.n_trials and/or search.timeout (seconds)")
        return self
