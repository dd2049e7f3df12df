"""The recipe's ``adaptation:`` block, validated with pydantic; problems carry ``adaptation.<key>`` paths."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hubtune.recipe import DataConfig

if TYPE_CHECKING:
    from hubtune.recipe import Recipe


class AdaptationConfig(BaseModel):
    """Unsupervised domain adaptation: a method from ``ADAPTERS`` and the unlabeled target data.

    ``target`` has the fields of ``data:``; its labels are never read in training (the target
    rows are only passed through the model). Report target accuracy with ``data.test`` pointing
    at labelled target rows (for example ``data.test: usps_test`` with ``digits_shift``).
    ``selection``: ``source_val`` keeps the epoch with the best *source* validation metric
    (``eval.keep_best: true``); ``last`` keeps the final weights (``eval.keep_best: false``).
    Target labels are never used for selection.
    """

    model_config = ConfigDict(extra="forbid")
    method: str = Field(description="dann | mmd | coral | mcc | cdan | cdan_e | importance | contractive")
    weight: float = Field(1.0, ge=0.0, description="weight of the adaptation loss")
    target: DataConfig
    batch_size: int | None = Field(None, ge=1, description="target batch size (default: train.batch_size)")
    ramp_steps: int | None = Field(None, ge=1, description="steps of the GRL ramp (default: the run's steps)")
    selection: Literal["source_val", "last"] = "source_val"
    options: dict[str, Any] = Field(default_factory=dict, description="method options (see each adapter)")


def parse_config(raw: dict[str, Any] | AdaptationConfig) -> AdaptationConfig:
    """Validate the raw ``adaptation:`` mapping (raises pydantic's ``ValidationError``)."""
    return raw if isinstance(raw, AdaptationConfig) else AdaptationConfig.model_validate(raw)


def config_problems(raw: dict[str, Any]) -> tuple[AdaptationConfig | None, list[str]]:
    """``(config or None, problems)`` with each problem as ``adaptation.<path>: message``."""
    try:
        return parse_config(raw), []
    except ValidationError as e:
        return None, _format("adaptation", e)


def _format(prefix: str, err: ValidationError) -> list[str]:
    out = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"] if x not in ("str", "SplitConfig"))
        path = f"{prefix}.{loc}" if loc else prefix
        if e["type"] == "extra_forbidden":
            out.append(f"{path}: unknown key")
        elif e["type"] == "missing":
            out.append(f"{path}: required key is missing")
        else:
            out.append(f"{path}: {e['msg']}")
    return list(dict.fromkeys(out))


def adaptation_problems(recipe: Recipe) -> list[str]:
    """Every problem of ``recipe.adaptation`` (schema, method, options, combinations, paths)."""
    from hubtune.adaptation.methods import ADAPTERS

    if recipe.adaptation is None:
        return []
    cfg, problems = config_problems(recipe.adaptation)
    if cfg is None:
        return problems
    if cfg.method.lower() not in ADAPTERS:
        return [f"adaptation.method: {ADAPTERS.unknown_message(cfg.method)}"]
    adapter = ADAPTERS.get(cfg.method)
    try:
        adapter.Options.model_validate(cfg.options)
    except ValidationError as e:
        problems += _format("adaptation.options", e)
    if cfg.selection == "source_val" and not recipe.eval.keep_best:
        problems.append("adaptation.selection: source_val needs eval.keep_best: true (or set selection: last)")
    if cfg.selection == "last" and recipe.eval.keep_best:
        problems.append("adaptation.selection: last needs eval.keep_best: false (or set selection: source_val)")
    if recipe.head.type != "classification" and (adapter.needs_classes or cfg.method.lower() == "importance"):
        problems.append(f"adaptation.method: {cfg.method} needs head.type: classification")
    if adapter.needs_pixels and recipe.backbone.source == "transformers":
        problems.append(f"adaptation.method: {cfg.method} needs image/vector inputs, not a text backbone")
    problems += _target_path_problems(cfg.target)
    return problems


def _target_path_problems(target: DataConfig) -> list[str]:
    from hubtune.checks import _path_problems

    probe = type("_R", (), {"data": target})()
    return [p.replace("data.", "adaptation.target.", 1) for p in _path_problems(probe)]  # type: ignore[arg-type]
