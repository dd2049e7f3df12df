"""Domain adaptation losses as pure functions of (source features, target features[, logits]).

- :func:`grl` / :func:`grl_coefficient`: gradient reversal (Ganin & Lempitsky 2015) with the
  ramp ``λ(p) = 2 / (1 + exp(-10 p)) - 1``.
- :func:`mk_mmd`: multi-kernel MMD² with Gaussian kernels (Long et al. 2015), unbiased O(n²) or
  linear-time estimate.
- :func:`coral`: Deep CORAL, ``‖C_s − C_t‖_F² / (4 d²)`` (Sun & Saenko 2016).
- :func:`mcc`: Minimum Class Confusion on target logits (Jin et al. 2020).
- :func:`multilinear_map`, :func:`entropy_weights`: the conditioning of CDAN(+E) (Long et al. 2018).
- :func:`domain_bce`: the (weighted) domain classification loss of DANN / CDAN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

DEFAULT_MULTIPLIERS = (0.25, 0.5, 1.0, 2.0, 4.0)


class _ReverseGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, coeff: float) -> Tensor:  # type: ignore[override]
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        return -ctx.coeff * grad, None


def grl(x: Tensor, coeff: float = 1.0) -> Tensor:
    """Identity forward; the gradient is multiplied by ``-coeff`` on the way back."""
    return _ReverseGrad.apply(x, float(coeff))


def grl_coefficient(progress: float, gamma: float = 10.0, high: float = 1.0) -> float:
    """DANN's ramp ``high · (2 / (1 + exp(-γ p)) − 1)`` for training progress ``p`` in [0, 1]."""
    p = min(max(progress, 0.0), 1.0)
    return high * (2.0 / (1.0 + math.exp(-gamma * p)) - 1.0)


def gaussian_kernels(x: Tensor, y: Tensor, bandwidth: Tensor | float,
                     multipliers: Sequence[float] = DEFAULT_MULTIPLIERS) -> Tensor:
    """Sum over ``multipliers`` of ``exp(-‖x_i − y_j‖² / (m · bandwidth))``: an ``(n, m)`` matrix."""
    d2 = torch.cdist(x, y).pow(2)
    return sum(torch.exp(-d2 / (m * bandwidth)) for m in multipliers)  # type: ignore[return-value]


def median_bandwidth(source: Tensor, target: Tensor) -> Tensor:
    """Mean pairwise squared distance of the pooled samples (no gradient): the base bandwidth."""
    z = torch.cat([source, target]).detach()
    n = z.shape[0]
    d2 = torch.cdist(z, z).pow(2)
    return (d2.sum() / max(n * n - n, 1)).clamp_min(1e-8)


def mk_mmd(source: Tensor, target: Tensor, multipliers: Sequence[float] = DEFAULT_MULTIPLIERS,
           bandwidth: float | None = None, linear: bool = False) -> Tensor:
    """Multi-kernel MMD² between two samples.

    Unbiased: ``mean_{i≠j} k(s_i,s_j) + mean_{i≠j} k(t_i,t_j) − 2 mean k(s_i,t_j)``. Linear-time
    (``linear``): the mean over consecutive pairs of ``k(s,s') + k(t,t') − k(s,t') − k(s',t)``.
    ``bandwidth`` defaults to the mean pairwise squared distance.
    """
    source, target = source.float(), target.float()
    bw = bandwidth if bandwidth is not None else median_bandwidth(source, target)
    if linear:
        n = min(source.shape[0], target.shape[0]) // 2 * 2
        s1, s2, t1, t2 = source[0:n:2], source[1:n:2], target[0:n:2], target[1:n:2]

        def k(a: Tensor, b: Tensor) -> Tensor:
            d2 = (a - b).pow(2).sum(1)
            return sum(torch.exp(-d2 / (m * bw)) for m in multipliers)  # type: ignore[return-value]

        return (k(s1, s2) + k(t1, t2) - k(s1, t2) - k(s2, t1)).mean()
    n, m = source.shape[0], target.shape[0]
    kss = gaussian_kernels(source, source, bw, multipliers)
    ktt = gaussian_kernels(target, target, bw, multipliers)
    kst = gaussian_kernels(source, target, bw, multipliers)
    ss = (kss.sum() - kss.diagonal().sum()) / max(n * (n - 1), 1)
    tt = (ktt.sum() - ktt.diagonal().sum()) / max(m * (m - 1), 1)
    return ss + tt - 2 * kst.mean()


def covariance(x: Tensor) -> Tensor:
    """Unbiased feature covariance ``(XᵀX − (1ᵀX)ᵀ(1ᵀX)/n) / (n − 1)``."""
    n = x.shape[0]
    ones = x.sum(0, keepdim=True)
    return (x.T @ x - ones.T @ ones / n) / max(n - 1, 1)


def coral(source: Tensor, target: Tensor) -> Tensor:
    """Deep CORAL loss ``‖C_s − C_t‖_F² / (4 d²)``."""
    source, target = source.float(), target.float()
    d = source.shape[1]
    return (covariance(source) - covariance(target)).pow(2).sum() / (4 * d * d)


def entropy(probs: Tensor, eps: float = 1e-8) -> Tensor:
    """Row-wise Shannon entropy (nats)."""
    return -(probs * (probs + eps).log()).sum(1)


def mcc(target_logits: Tensor, temperature: float = 2.5) -> Tensor:
    """Minimum Class Confusion: normalised off-diagonal mass of the entropy-weighted class
    correlation ``Yᵀ W Y`` of the target predictions, divided by the number of classes."""
    b, c = target_logits.shape
    y = F.softmax(target_logits.float() / temperature, dim=1)
    w = 1 + torch.exp(-entropy(y).detach())
    w = b * w / w.sum()
    conf = (y * w[:, None]).T @ y
    conf = conf / conf.sum(1, keepdim=True)
    return (conf.sum() - conf.trace()) / c


def entropy_weights(probs: Tensor) -> Tensor:
    """CDAN+E weights ``1 + exp(−H(g))``, normalised to mean 1 (no gradient)."""
    w = 1 + torch.exp(-entropy(probs.detach()))
    return w / w.mean()


def multilinear_map(features: Tensor, probs: Tensor, projection: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """CDAN's conditioning ``f ⊗ g`` flattened; with ``projection = (R_f, R_g)`` the randomized
    map ``(f R_f) ⊙ (g R_g) / √d``."""
    if projection is None:
        return torch.bmm(probs.unsqueeze(2), features.unsqueeze(1)).flatten(1)
    rf, rg = projection
    return (features @ rf) * (probs @ rg) / math.sqrt(rf.shape[1])


def domain_bce(source_logits: Tensor, target_logits: Tensor, source_weights: Tensor | None = None,
               target_weights: Tensor | None = None) -> Tensor:
    """Binary domain classification loss: source = 1, target = 0 (optionally weighted per sample)."""
    logits = torch.cat([source_logits, target_logits]).float().view(-1)
    labels = torch.cat([torch.ones(source_logits.shape[0]), torch.zeros(target_logits.shape[0])]).to(logits)
    weights = None
    if source_weights is not None and target_weights is not None:
        weights = torch.cat([source_weights, target_weights]).to(logits)
    return F.binary_cross_entropy_with_logits(logits, labels, weight=weights)


def contractive_penalty(features: Tensor, inputs: Tensor, probes: int = 1) -> Tensor:
    """Estimate of ``E‖∂f/∂x‖_F²`` per sample with random projections (Hutchinson):
    ``E_v ‖vᵀ J‖² = ‖J‖_F²`` for ``v ~ N(0, I)``. ``inputs`` must require grad; keeps the graph."""
    total = features.new_zeros(())
    for _ in range(probes):
        v = torch.randn_like(features)
        (g,) = torch.autograd.grad((features * v).sum(), inputs, create_graph=True)
        total = total + g.pow(2).flatten(1).sum(1).mean()
    return total / probes
