"""The adaptation methods (``ADAPTATION_METHODS`` registry): small modules that turn one joint forward into a loss.

An adaptation method class has ``Options`` (a pydantic model of its ``adaptation.options``) and is built as
``cls(num_features, num_classes, options)``. ``loss(step)`` gets the split features/logits of
one source+target forward; ``source_weights(step)`` may reweight the supervised source loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from hubtune.adaptation import losses
from hubtune.registry import Registry


@dataclass
class Step:
    """What an adaptation method sees for one batch: features and logits of each domain, training progress in
    [0, 1], and for input-space methods the joint inputs and joint features."""

    source_feats: Tensor
    target_feats: Tensor
    source_logits: Tensor
    target_logits: Tensor
    progress: float
    inputs: Tensor | None = None
    joint_feats: Tensor | None = None


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AdaptationMethod(nn.Module):
    """Base adaptation method: no parameters, zero loss, no reweighting."""

    Options: ClassVar[type[BaseModel]] = _Options
    needs_classes: ClassVar[bool] = False
    needs_pixels: ClassVar[bool] = False

    def __init__(self, num_features: int, num_classes: int, options: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.opts: Any = self.Options.model_validate(options or {})
        self.num_features, self.num_classes = num_features, num_classes

    def loss(self, step: Step) -> Tensor:
        return step.source_feats.new_zeros(())

    def source_weights(self, step: Step) -> Tensor | None:
        return None

    def prime(self, example: Tensor) -> None:
        """Size lazily built modules on one target batch of inputs, before the optimizer exists."""


ADAPTATION_METHODS: Registry[type[AdaptationMethod]] = Registry("adaptation method", group="hubtune.adaptation_methods")


def discriminator(width: int, hidden: int, dropout: float = 0.5) -> nn.Module:
    """Domain discriminator ``width → hidden → hidden → 1`` (ReLU, dropout); linear when hidden is 0."""
    if hidden <= 0:
        return nn.Linear(width, 1)
    return nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1))


class _AdversarialOptions(_Options):
    hidden: int = Field(256, ge=0, description="discriminator width (0 = linear)")
    dropout: float = Field(0.5, ge=0.0, lt=1.0)
    gamma: float = Field(10.0, gt=0.0, description="steepness of the GRL ramp")
    max_coeff: float = Field(1.0, gt=0.0, description="final GRL coefficient")


@ADAPTATION_METHODS.register("dann")
class DANN(AdaptationMethod):
    """Domain-adversarial training: a discriminator on gradient-reversed features."""

    Options = _AdversarialOptions

    def __init__(self, num_features: int, num_classes: int, options: dict[str, Any] | None = None) -> None:
        super().__init__(num_features, num_classes, options)
        self.disc = discriminator(num_features, self.opts.hidden, self.opts.dropout)

    def coeff(self, progress: float) -> float:
        return losses.grl_coefficient(progress, self.opts.gamma, self.opts.max_coeff)

    def loss(self, step: Step) -> Tensor:
        c = self.coeff(step.progress)
        return losses.domain_bce(self.disc(losses.grl(step.source_feats, c)),
                                 self.disc(losses.grl(step.target_feats, c)))


class _CdanOptions(_AdversarialOptions):
    entropy: bool | None = Field(None, description="entropy conditioning (+E); default by method name")
    random_dim: int = Field(1024, ge=16, description="randomized multilinear map size when F·C > 4096")


@ADAPTATION_METHODS.register("cdan")
class CDAN(DANN):
    """Conditional adversarial adaptation: the discriminator sees ``features ⊗ softmax(logits)``."""

    Options = _CdanOptions
    needs_classes = True
    default_entropy = False

    def __init__(self, num_features: int, num_classes: int, options: dict[str, Any] | None = None) -> None:
        AdaptationMethod.__init__(self, num_features, num_classes, options)
        width = num_features * num_classes
        self.projection: tuple[Tensor, Tensor] | None = None
        if width > 4096:
            d = self.opts.random_dim
            self.register_buffer("rf", torch.randn(num_features, d, generator=torch.Generator().manual_seed(0)))
            self.register_buffer("rg", torch.randn(num_classes, d, generator=torch.Generator().manual_seed(1)))
            width = d
        self.random = width != num_features * num_classes
        self.disc = discriminator(width, self.opts.hidden, self.opts.dropout)

    def loss(self, step: Step) -> Tensor:
        c = self.coeff(step.progress)
        proj = (self.rf, self.rg) if self.random else None
        ps = F.softmax(step.source_logits.float(), 1).detach()
        pt = F.softmax(step.target_logits.float(), 1).detach()
        hs = losses.multilinear_map(step.source_feats, ps, proj)
        ht = losses.multilinear_map(step.target_feats, pt, proj)
        use_entropy = self.default_entropy if self.opts.entropy is None else self.opts.entropy
        ws = wt = None
        if use_entropy:
            ws, wt = losses.entropy_weights(ps), losses.entropy_weights(pt)
        return losses.domain_bce(self.disc(losses.grl(hs, c)), self.disc(losses.grl(ht, c)), ws, wt)


@ADAPTATION_METHODS.register("cdan_e")
class CDANE(CDAN):
    """CDAN+E: CDAN with entropy-conditioned sample weights."""

    default_entropy = True


class _MmdOptions(_Options):
    multipliers: list[float] = Field(default_factory=lambda: list(losses.DEFAULT_MULTIPLIERS))
    linear: bool = Field(False, description="linear-time estimate instead of the unbiased O(n²) one")
    logits: bool = Field(False, description="also match the softmax outputs (DAN on the last layer)")


@ADAPTATION_METHODS.register("mmd")
class MMD(AdaptationMethod):
    """DAN: multi-kernel MMD between source and target features."""

    Options = _MmdOptions

    def loss(self, step: Step) -> Tensor:
        o = self.opts
        out = losses.mk_mmd(step.source_feats, step.target_feats, o.multipliers, linear=o.linear)
        if o.logits:
            ps, pt = (F.softmax(x.float(), 1) for x in (step.source_logits, step.target_logits))
            out = out + losses.mk_mmd(ps, pt, o.multipliers, linear=o.linear)
        return out


ADAPTATION_METHODS.register("dan", MMD)


@ADAPTATION_METHODS.register("coral")
class CORAL(AdaptationMethod):
    """Deep CORAL: match second-order statistics of the features."""

    def loss(self, step: Step) -> Tensor:
        return losses.coral(step.source_feats, step.target_feats)


class _MccOptions(_Options):
    temperature: float = Field(2.5, gt=0.0)


@ADAPTATION_METHODS.register("mcc")
class MCC(AdaptationMethod):
    """Minimum Class Confusion on the target predictions."""

    Options = _MccOptions
    needs_classes = True

    def loss(self, step: Step) -> Tensor:
        return losses.mcc(step.target_logits, self.opts.temperature)


class _ImportanceOptions(_Options):
    hidden: int = Field(0, ge=0, description="domain classifier width (0 = logistic regression)")
    clip: float = Field(10.0, gt=1.0, description="largest importance weight")


@ADAPTATION_METHODS.register("importance")
class Importance(AdaptationMethod):
    """Instance-based transfer: a domain classifier on detached features estimates the density ratio
    ``p_t(x)/p_s(x) = P(t|x)/P(s|x)``; the source samples' supervised loss is weighted by it."""

    Options = _ImportanceOptions

    def __init__(self, num_features: int, num_classes: int, options: dict[str, Any] | None = None) -> None:
        super().__init__(num_features, num_classes, options)
        self.disc = discriminator(num_features, self.opts.hidden, 0.0)

    def loss(self, step: Step) -> Tensor:
        return losses.domain_bce(self.disc(step.source_feats.detach()), self.disc(step.target_feats.detach()))

    def source_weights(self, step: Step) -> Tensor:
        with torch.no_grad():
            p_source = torch.sigmoid(self.disc(step.source_feats.detach().float()).view(-1))
            ratio = (1 - p_source) / p_source.clamp_min(1e-6) * step.source_feats.shape[0] / step.target_feats.shape[0]
            return importance_weights(ratio, self.opts.clip)


def importance_weights(ratio: Tensor, clip: float = 10.0) -> Tensor:
    """Density ratios clipped to ``[1/clip, clip]`` and normalised to mean 1."""
    w = ratio.clamp(1.0 / clip, clip)
    return w / w.mean()


class _ContractiveOptions(_Options):
    jacobian_weight: float = Field(0.1, ge=0.0, description="λ of λ·E‖∇G(x)‖²")
    size: int = Field(16, ge=2, description="images are pooled to size×size as the reconstruction target")
    hidden: int = Field(256, ge=1, description="decoder width")
    probes: int = Field(1, ge=1, description="random projections for the Jacobian estimate")


@ADAPTATION_METHODS.register("contractive")
class Contractive(AdaptationMethod):
    """The contractive shared mapping: the backbone is G's encoder, shared by both domains; a decoder
    reconstructs the (pooled) input from G(x), and ``λ·‖∂G(x)/∂x‖_F²`` makes G contractive:
    ``min_G E‖dec(G(x)) − x‖² + λ E‖∇G(x)‖²`` on source and target; the head trains on G(x)."""

    Options = _ContractiveOptions
    needs_pixels = True

    def __init__(self, num_features: int, num_classes: int, options: dict[str, Any] | None = None) -> None:
        super().__init__(num_features, num_classes, options)
        self.decoder: nn.Module | None = None

    def _target(self, x: Tensor) -> Tensor:
        if x.ndim == 4 and x.shape[-1] > self.opts.size:
            x = F.adaptive_avg_pool2d(x, self.opts.size)
        return x.flatten(1).detach()

    def loss(self, step: Step) -> Tensor:
        if step.inputs is None or step.joint_feats is None:
            raise RuntimeError("contractive adaptation needs the joint inputs")
        target = self._target(step.inputs.float())
        if self.decoder is None:  # sized on the first batch, before the optimizer sees it: built in prime()
            raise RuntimeError("Contractive.prime(example_inputs) must run before training")
        recon = F.mse_loss(self.decoder(step.joint_feats.float()), target)
        return recon + self.opts.jacobian_weight * losses.contractive_penalty(step.joint_feats, step.inputs,
                                                                              self.opts.probes)

    def prime(self, example: Tensor) -> None:
        """Build the decoder for inputs shaped like ``example`` (one batch)."""
        width = self._target(example).shape[1]
        self.decoder = nn.Sequential(nn.Linear(self.num_features, self.opts.hidden), nn.ReLU(),
                                     nn.Linear(self.opts.hidden, width))
