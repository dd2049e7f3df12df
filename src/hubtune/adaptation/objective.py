"""The training objective of an adaptation run: supervised source loss + weight × adaptation loss.

Each call pulls the next unlabeled target batch, concatenates it with the source batch and runs
ONE forward of the (possibly DDP-wrapped) model with ``return_features=True``, so batch norm,
Accelerate and DDP see a single pass. The method's modules are attached to the model as
``model.adaptation`` (optimised and wrapped with it) but hidden from its ``state_dict`` so the
exported model is the plain model; their weights travel in the objective's ``state_dict``.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from hubtune.adaptation.methods import ADAPTATION_METHODS, AdaptationMethod, Step
from hubtune.errors import DataError
from hubtune.recipe import AdaptationConfig, Recipe

ATTR = "adaptation"
_PADS = {"input_ids": 0, "attention_mask": 0, "token_type_ids": 0}


def concat_inputs(source: dict[str, Tensor], target: dict[str, Tensor]) -> dict[str, Tensor]:
    """Model inputs of both batches stacked (text padded to the longer length); labels dropped."""
    out = {}
    for key, s in source.items():
        if key == "labels" or key not in target:
            continue
        t = target[key].to(s.device)
        if s.ndim == 2 and key in _PADS and s.shape[1] != t.shape[1]:
            width = max(s.shape[1], t.shape[1])
            s, t = (F.pad(x, (0, width - x.shape[1]), value=_PADS[key]) for x in (s, t))
        out[key] = torch.cat([s, t])
    return out


def attach_method(model: nn.Module, method: nn.Module) -> None:
    """``model.adaptation = method``, left out of ``state_dict`` and ignored when loading one."""
    model.add_module(ATTR, method)

    def hide(module: nn.Module, state: dict[str, Any], prefix: str, meta: Any) -> None:
        for key in [k for k in state if k.startswith(f"{prefix}{ATTR}.")]:
            del state[key]

    def ignore(module: nn.Module, keys: Any) -> None:
        keys.missing_keys[:] = [k for k in keys.missing_keys if f"{ATTR}." not in k]

    model._register_state_dict_hook(hide)
    model.register_load_state_dict_post_hook(ignore)


class AdaptationObjective:
    """``objective(model, batch) -> loss``; ``state_dict`` keeps the step count and the method's weights."""

    def __init__(self, cfg: AdaptationConfig, method: AdaptationMethod, loader: DataLoader, total_steps: int,
                 grad_accum: int = 1, label_smoothing: float = 0.0) -> None:
        self.cfg, self.method, self.loader = cfg, method, loader
        self.total_steps, self.grad_accum, self.label_smoothing = max(1, total_steps), grad_accum, label_smoothing
        self.calls = 0
        self.target_epoch = 0
        self._iter: Iterator[dict[str, Tensor]] | None = None
        self.last: dict[str, float] = {}

    @property
    def progress(self) -> float:
        return min(1.0, self.calls / self.grad_accum / self.total_steps)

    def next_target(self, device: torch.device) -> dict[str, Tensor]:
        """The next target batch on ``device`` (the loader restarts, reshuffled, when exhausted)."""
        for _ in range(2):
            if self._iter is None:
                sampler = getattr(self.loader, "generator", None)
                if isinstance(sampler, torch.Generator):
                    sampler.manual_seed(1000 + self.target_epoch)
                self._iter = iter(self.loader)
            try:
                batch = next(self._iter)
                return {k: v.to(device, non_blocking=True) for k, v in batch.items() if k != "labels"}
            except StopIteration:
                self._iter, self.target_epoch = None, self.target_epoch + 1
        raise DataError("adaptation.target: the target training split gives no batch")

    def __call__(self, model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
        device = next(iter(batch.values())).device
        target = self.next_target(device)
        joint = concat_inputs(batch, target)
        pixels = joint.get("pixel_values")
        if self.method.needs_pixels and pixels is not None:
            pixels.requires_grad_(True)
        logits, feats = model(joint, return_features=True)
        n = batch["labels"].shape[0]
        step = Step(feats[:n].float(), feats[n:].float(), logits[:n].float(), logits[n:].float(), self.progress,
                    inputs=pixels, joint_feats=feats)
        supervised = self._supervised(logits[:n], batch["labels"], self.method.source_weights(step))
        extra = self.method.loss(step)
        if model.training:
            self.calls += 1
        return supervised + self.cfg.weight * extra

    def _supervised(self, logits: Tensor, labels: Tensor, weights: Tensor | None) -> Tensor:
        if labels.ndim == 1 and not labels.is_floating_point():
            per = F.cross_entropy(logits.float(), labels, reduction="none", label_smoothing=self.label_smoothing)
            return per.mean() if weights is None else (per * weights).mean()
        if labels.ndim == 2 and labels.is_floating_point():
            return F.binary_cross_entropy_with_logits(logits.float(), labels)
        return F.mse_loss(logits.float().view_as(labels), labels.float())

    def state_dict(self) -> dict[str, Any]:
        from safetensors.torch import save

        tensors = {k: v.detach().cpu().contiguous() for k, v in self.method.state_dict().items()}
        blob = base64.b64encode(save(tensors)).decode() if tensors else ""
        return {"calls": self.calls, "target_epoch": self.target_epoch, "method": blob}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        from safetensors.torch import load

        self.calls = int(state.get("calls", 0))
        self.target_epoch = int(state.get("target_epoch", 0))
        self._iter = None
        blob = state.get("method") or state.get("adapter")  # "adapter": checkpoints written before the rename
        if blob:
            self.method.load_state_dict(load(base64.b64decode(blob)))


def estimate_total_steps(recipe: Recipe) -> int:
    """Optimizer steps of the run, from the recipe and the size of the source train split."""
    from hubtune.data import SplitNotFound, load_split_table

    cfg = recipe.train
    if cfg.max_steps:
        return cfg.max_steps
    n = len(load_split_table(recipe.data, "train"))
    try:
        load_split_table(recipe.data, "validation")
    except SplitNotFound:
        n = int(n * (1 - recipe.data.validation_size))
    if recipe.data.max_train_samples:
        n = min(n, recipe.data.max_train_samples)
    return max(1, math.ceil(math.ceil(n / cfg.batch_size) / cfg.grad_accum) * cfg.epochs)


def target_loader(cfg: AdaptationConfig, recipe: Recipe, preprocessing: Any, head_spec: Any,
                  batch_size: int) -> DataLoader:
    """A shuffling loader over the target train split (labels are loaded but never used)."""
    from hubtune.data import build_data

    tcfg = cfg.target.model_copy(update={"validation": cfg.target.train, "test": None})
    bundle = build_data(tcfg, preprocessing, head_spec, seed=recipe.seed, splits=("train",))
    if len(bundle.train) < batch_size:
        raise DataError(f"adaptation.target: {len(bundle.train)} target rows, fewer than one batch of {batch_size}")
    return DataLoader(bundle.train, batch_size=batch_size, shuffle=True, drop_last=True,
                      collate_fn=bundle.collate_fn, num_workers=cfg.target.num_workers,
                      generator=torch.Generator().manual_seed(recipe.seed))


def build_objective(recipe: Recipe, model: Any, backbone: Any) -> AdaptationObjective:
    """The adaptation objective for ``recipe``; attaches the method's modules to ``model``."""
    cfg = recipe.adaptation
    if cfg is None:
        raise ValueError("build_objective needs a recipe with an adaptation: block")
    cls = ADAPTATION_METHODS.get(cfg.method)
    method = cls(model.num_features, model.num_labels, cfg.options)
    batch_size = cfg.batch_size or recipe.train.batch_size
    loader = target_loader(cfg, recipe, backbone.preprocessing, model.head_spec, batch_size)
    if method.needs_pixels:
        method.prime(next(iter(loader))["pixel_values"])
    attach_method(model, method)
    total = cfg.ramp_steps or estimate_total_steps(recipe)
    return AdaptationObjective(cfg, method, loader, total, recipe.train.grad_accum, recipe.train.label_smoothing)
