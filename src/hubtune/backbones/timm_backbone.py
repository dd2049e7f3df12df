"""timm backbones: any model name, ``hf-hub:`` id, hub repo id or local folder."""

from __future__ import annotations

import logging
from pathlib import Path

import timm
from torch import nn

from hubtune.backbones.weights import PYPI_HUB_IDS, load_into, load_state_dict_file, resolve_weights_path
from hubtune.contracts import Backbone, Preprocessing
from hubtune.errors import CheckpointError
from hubtune.recipe import BackboneConfig

log = logging.getLogger(__name__)


def timm_model_name(name: str, revision: str | None = None) -> str:
    """Turn a recipe name into something ``timm.create_model`` understands.

    A local folder becomes ``local-dir:``; a ``ns/name`` repo id that is not a timm name is
    fetched through hubtune's hub client (local hub or the configured endpoint).
    """
    if name.startswith(("hf-hub:", "local-dir:")):
        return name
    path = Path(name).expanduser()
    if path.is_dir():
        return f"local-dir:{path.resolve()}"
    if "/" in name:
        from hubtune.hub import resolve_checkpoint

        return f"local-dir:{resolve_checkpoint(name if revision is None else f'{name}@{revision}')}"
    return name


def build_timm(cfg: BackboneConfig) -> Backbone:
    """A timm model with its classifier removed (``num_classes=0``): pooled features out."""
    name = timm_model_name(cfg.name, cfg.revision)
    pretrained = cfg.pretrained and cfg.weights is None
    try:
        model = timm.create_model(name, pretrained=pretrained, num_classes=0, **cfg.kwargs)
    except RuntimeError as e:
        if "size mismatch" in str(e) or "Missing key" in str(e) or "Unexpected key" in str(e):
            raise CheckpointError(f"checkpoint {cfg.name!r} does not fit its architecture: {str(e)[:400]}") from None
        raise
    except (FileNotFoundError, OSError) as e:
        raise CheckpointError(f"cannot load timm model {cfg.name!r}: {e}") from None
    if cfg.weights:
        path = resolve_weights_path(cfg.weights)
        unused = load_into(model, load_state_dict_file(path), remap=cfg.weights_remap, source=str(path))
        if unused:
            log.info("weights %s: %d tensors not used (source head): %s", path.name, len(unused), unused[:4])
    data_config = timm.data.resolve_data_config({}, model=model)
    arch = model.pretrained_cfg.get("architecture") or getattr(model, "default_cfg", {}).get("architecture")
    return Backbone(
        module=model,
        num_features=model.num_features,
        preprocessing=Preprocessing("image", data_config=dict(data_config)),
        family="timm",
        blocks=timm_blocks(model),
        info={
            "name": cfg.name,
            "architecture": arch or cfg.name,
            "classifier": model.pretrained_cfg.get("classifier", "classifier"),
            "pretrained_cfg": dict(model.pretrained_cfg),
            "model_kwargs": dict(cfg.kwargs),
            "base_model": _base_model_id(cfg, model),
        },
    )


def timm_blocks(model: nn.Module) -> list[list[str]]:
    """Parameter names grouped stem → blocks → final layers with timm's own group matcher."""
    from timm.models import group_parameters

    try:
        groups = group_parameters(model, model.group_matcher(coarse=False))
    except (AttributeError, NotImplementedError):
        return [[n for n, _ in model.named_parameters()]]
    return [list(v) for _, v in sorted(groups.items())]


def _base_model_id(cfg: BackboneConfig, model: nn.Module) -> str:
    if cfg.weights and cfg.weights.startswith("pypi:"):
        return PYPI_HUB_IDS.get(cfg.weights[5:], cfg.weights)
    if cfg.weights:
        return str(model.pretrained_cfg.get("architecture", cfg.name))
    if cfg.name.startswith("hf-hub:"):
        return cfg.name[len("hf-hub:"):]
    return model.pretrained_cfg.get("hf_hub_id") or cfg.name
