"""Custom backbones: a user's ``package.module:function`` that builds an ``nn.Module``.

The factory is called with ``backbone.kwargs`` and returns a module with a ``num_features``
attribute, a ``(module, num_features)`` pair, or a full :class:`~hubtune.contracts.Backbone`.
``backbone.weights`` may point at a state dict, e.g. a previous hubtune run's
``model.safetensors`` (its ``backbone.`` prefix is stripped): weights carried over to a new head.
"""

from __future__ import annotations

from torch import nn

from hubtune.backbones.weights import import_object, load_into, load_state_dict_file, resolve_weights_path
from hubtune.contracts import Backbone, Preprocessing
from hubtune.errors import CheckpointError
from hubtune.recipe import BackboneConfig


def build_custom(cfg: BackboneConfig) -> Backbone:
    factory = import_object(cfg.name)
    if not callable(factory):
        raise CheckpointError(f"backbone.name {cfg.name!r} is not callable")
    out = factory(**cfg.kwargs)
    if isinstance(out, Backbone):
        backbone = out
    else:
        module, num_features = out if isinstance(out, tuple) else (out, getattr(out, "num_features", None))
        if not isinstance(module, nn.Module) or not isinstance(num_features, int):
            raise CheckpointError(
                f"{cfg.name} must return an nn.Module with an int num_features attribute, or (module, num_features)"
            )
        modality = getattr(module, "modality", "vector")
        backbone = Backbone(
            module=module,
            num_features=num_features,
            preprocessing=Preprocessing(modality, data_config=dict(getattr(module, "data_config", {}))),
            family="custom",
            blocks=_child_blocks(module),
        )
    if cfg.weights:
        path = resolve_weights_path(cfg.weights)
        state = load_state_dict_file(path)
        if any(k.startswith("backbone.") for k in state):
            state = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
        load_into(backbone.module, state, remap=cfg.weights_remap, source=str(path))
    backbone.info.setdefault("name", cfg.name)
    backbone.info.setdefault("base_model", cfg.weights or cfg.name)
    backbone.info["factory"] = cfg.name
    backbone.info["factory_kwargs"] = dict(cfg.kwargs)
    return backbone


def _child_blocks(module: nn.Module) -> list[list[str]]:
    groups = [[n for n, _ in child.named_parameters(prefix=name)] for name, child in module.named_children()]
    return [g for g in groups if g] or [[n for n, _ in module.named_parameters()]]
