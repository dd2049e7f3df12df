"""The ``privacy:`` recipe block (differentially private fine-tuning with Opacus) and its static checks.

Schema only: no Opacus import here. :func:`privacy_problems` lists the recipe combinations that
would break the privacy accounting; :func:`privacy_card` words a finished run's guarantee.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DP_STRATEGIES = ("linear_probe", "bitfit", "peft", "full")


PRV_MAX_TARGET_EPSILON = 50.0  # the σ search probes σ*/2, whose ε the PRV accountant takes minutes on beyond ~1000


class PrivacyConfig(BaseModel):
    """DP-SGD: per-sample clipping to ``max_grad_norm``, Gaussian noise, an accountant.

    Give ``target_epsilon`` (the noise multiplier is then solved for the whole run) or
    ``noise_multiplier``. ``delta`` defaults to 1/(10·N), N = training examples. The logical
    (noisy) batch is ``train.batch_size × train.grad_accum`` examples in expectation; physical
    batches are at most ``train.batch_size``.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    target_epsilon: float | None = Field(None, gt=0.0, description="ε to spend over the whole run")
    noise_multiplier: float | None = Field(None, gt=0.0, description="σ (instead of target_epsilon)")
    delta: float | None = Field(None, gt=0.0, lt=1.0, description="δ; default 1/(10·N)")
    max_grad_norm: float = Field(1.0, gt=0.0, description="per-sample clipping norm C")
    accountant: Literal["prv", "rdp"] = "prv"
    clipping: Literal["flat", "per_layer", "ghost"] = Field(
        "flat", description="per_layer: C split evenly as C/sqrt(k); ghost: flat clipping from per-sample gradient "
        "norms only (Opacus ghost clipping: less memory)")
    poisson_sampling: bool = Field(True, description="the guarantee assumes Poisson sampling; off = shuffled batches")
    batchnorm: Literal["freeze", "refuse"] = Field(
        "freeze", description="trainable BatchNorm: freeze it at its pretrained statistics, or refuse the run")
    train_embeddings: bool = Field(False, description="transformers: let the token embeddings train too")

    @model_validator(mode="after")
    def _one_noise_source(self) -> PrivacyConfig:
        if (self.target_epsilon is None) == (self.noise_multiplier is None):
            raise ValueError("give exactly one of privacy.target_epsilon and privacy.noise_multiplier")
        if self.accountant == "prv" and (self.target_epsilon or 0.0) > PRV_MAX_TARGET_EPSILON:
            raise ValueError(f"privacy.target_epsilon {self.target_epsilon:g} with the prv accountant: solving σ "
                             f"for ε above {PRV_MAX_TARGET_EPSILON:g} makes Opacus's PRV accountant stall (and such "
                             "an ε guarantees little); set privacy.accountant: rdp or a smaller target_epsilon")
        return self


def _same_split(recipe: Any) -> bool:
    data = recipe.data
    return data.validation is not None and data.validation == data.train


def privacy_problems(recipe: Any) -> list[str]:
    """Combinations that break DP accounting, each with its key path and the fix."""
    p = recipe.privacy
    if p is None:
        return []
    problems = []
    if recipe.strategy.type not in DP_STRATEGIES:
        problems.append(f"strategy.type: {recipe.strategy.type!r} is not supported with privacy: "
                        f"use one of {', '.join(DP_STRATEGIES)}")
    if recipe.train.group_by_length:
        problems.append("train.group_by_length: length-grouped batches are not Poisson samples and void the "
                        "DP guarantee; remove it (privacy uses Poisson sampling)")
    if recipe.adaptation is not None:
        problems.append("adaptation: domain-adaptation losses and target data are outside the DP accounting; "
                        "remove the adaptation block or the privacy block")
    if recipe.train.precision == "fp16":
        problems.append("train.precision: fp16 loss scaling is not supported with privacy; use bf16 or no")
    if recipe.train.compile:
        problems.append("train.compile: per-sample gradient hooks do not run under torch.compile; remove it")
    if recipe.strategy.options.get("freeze_bn") is False:
        problems.append("strategy.freeze_bn: a frozen backbone's BatchNorm in train mode mixes the examples of a "
                        "batch (its output depends on the others); remove freeze_bn: false")
    if _same_split(recipe) and (recipe.eval.early_stopping or recipe.eval.keep_best):
        problems.append("eval.early_stopping: model selection on the training split leaks it outside the DP "
                        "accounting; hold out a validation split or set eval.keep_best: false and no early stopping")
    return problems


def privacy_card(summary: dict[str, Any]) -> tuple[str, str]:
    """(summary-table value, plain-language note) for a run's ``privacy`` summary."""
    row = (f"(ε = {summary['epsilon']:.3g}, δ = {summary['delta']:.2g})-DP, {summary['accountant']} accountant; "
           f"noise σ = {summary['noise_multiplier']:.3g}, clip C = {summary['max_grad_norm']:g} "
           f"({summary['clipping']}), sample rate q = {summary['sample_rate']:.4g}, {summary['steps']} steps, "
           f"{summary['epochs']} epoch(s), Poisson sampling: {summary['poisson_sampling']}")
    note = ("Differential privacy: the guarantee covers the {n} fine-tuning examples — each one's influence on the "
            "trained weights is bounded (ε = {eps:.3g}, δ = {delta:.2g}). It does not cover the public pretraining "
            "data of the base model, the validation data used to pick the epoch, nor anything that leaks through "
            "the label set or preprocessing.").format(n=summary["num_examples"], eps=summary["epsilon"],
                                                       delta=summary["delta"])
    if not summary["poisson_sampling"]:
        note += " Batches were shuffled, not Poisson-sampled: the stated ε assumes Poisson sampling."
    return row, note
