"""transformers backbones: ``AutoModel`` + ``AutoTokenizer`` / ``AutoImageProcessor``.

The name is a hub id, a local folder, or a repo of hubtune's hub. Training attaches the
native ``AutoModelFor<Task>`` head (see :mod:`hubtune.model`), so the artifacts are a standard
transformers checkpoint.
"""

from __future__ import annotations

import re
from pathlib import Path

from transformers import AutoConfig, AutoModel, PretrainedConfig

from hubtune.backbones.weights import PYPI_HUB_IDS, resolve_weights_path
from hubtune.contracts import Backbone, Preprocessing
from hubtune.errors import CheckpointError
from hubtune.recipe import BackboneConfig

_LAYER = re.compile(r"(?:^|\.)(?:layer|layers|h|block|blocks)\.(\d+)\.")


def resolve_transformers_path(name: str, revision: str | None) -> tuple[str, str | None]:
    """A local folder stays; ``pypi:<package>`` is the folder installed from PyPI; a repo id
    known to hubtune's hub becomes its downloaded folder; anything else goes to transformers."""
    if name.startswith("pypi:"):
        return str(resolve_weights_path(name)), None
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path.resolve()), None
    from hubtune.hub import resolve_checkpoint

    try:
        return str(resolve_checkpoint(name if revision is None else f"{name}@{revision}")), None
    except Exception:  # not in hubtune's hub: let transformers fetch it from HF_ENDPOINT
        return name, revision


def load_config(path: str, revision: str | None, trust_remote_code: bool) -> PretrainedConfig:
    try:
        return AutoConfig.from_pretrained(path, revision=revision, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot load a transformers config from {path!r}: {str(e).splitlines()[0]}") from None


def build_transformers(cfg: BackboneConfig) -> Backbone:
    path, revision = resolve_transformers_path(cfg.name, cfg.revision)
    config = load_config(path, revision, cfg.trust_remote_code)
    for key, value in cfg.kwargs.items():
        setattr(config, key, value)
    kwargs = {"revision": revision, "trust_remote_code": cfg.trust_remote_code, "config": config}
    try:
        module = AutoModel.from_pretrained(path, **kwargs) if cfg.pretrained else AutoModel.from_config(config)
    except (OSError, RuntimeError, ValueError) as e:
        raise CheckpointError(f"cannot load transformers model {cfg.name!r}: {str(e).splitlines()[0][:400]}") from None
    return Backbone(
        module=module,
        num_features=_hidden_size(config),
        preprocessing=_preprocessing(path, revision, config, cfg.trust_remote_code),
        family="transformers",
        blocks=transformers_blocks(module),
        info={
            "name": cfg.name,
            "path": path,
            "revision": revision,
            "architecture": config.model_type,
            "base_model": _base_model_id(cfg.name, config),
            "trust_remote_code": cfg.trust_remote_code,
        },
    )


def _hidden_size(config: PretrainedConfig) -> int:
    for attr in ("hidden_size", "d_model", "dim", "n_embd"):
        if isinstance(getattr(config, attr, None), int):
            return getattr(config, attr)
    sizes = getattr(config, "hidden_sizes", None)
    if sizes:
        return int(sizes[-1])
    raise CheckpointError(f"cannot tell the feature size of a {config.model_type} model (no hidden_size)")


def _preprocessing(path: str, revision: str | None, config: PretrainedConfig, trust: bool) -> Preprocessing:
    if is_audio_config(config):
        return _audio_preprocessing(path, revision, trust)
    vision = hasattr(config, "image_size") or hasattr(config, "num_channels")
    if vision:
        from transformers import AutoImageProcessor

        proc = AutoImageProcessor.from_pretrained(path, revision=revision, trust_remote_code=trust)
        size = getattr(config, "image_size", 224)
        size = size if isinstance(size, int) else size[0]
        data_config = {
            "input_size": (getattr(config, "num_channels", 3), size, size),
            "mean": tuple(getattr(proc, "image_mean", (0.5, 0.5, 0.5))),
            "std": tuple(getattr(proc, "image_std", (0.5, 0.5, 0.5))),
            "interpolation": "bicubic",
            "crop_pct": 1.0,
        }
        return Preprocessing("image", data_config=data_config, image_processor=proc)
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(path, revision=revision, trust_remote_code=trust)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot load the tokenizer of {path!r}: {str(e).splitlines()[0]}") from None
    return Preprocessing("text", tokenizer=tok)


def is_audio_config(config: PretrainedConfig) -> bool:
    """Whether transformers has an ``AutoModelForAudioClassification`` for this model type."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES

    return config.model_type in MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES


def _audio_preprocessing(path: str, revision: str | None, trust: bool) -> Preprocessing:
    """The model's own ``AutoFeatureExtractor`` (raw waveform or log-mel features)."""
    from transformers import AutoFeatureExtractor

    try:
        fe = AutoFeatureExtractor.from_pretrained(path, revision=revision, trust_remote_code=trust)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot load the feature extractor of {path!r} (preprocessor_config.json): "
                              f"{str(e).splitlines()[0]}") from None
    audio = {"sampling_rate": int(fe.sampling_rate), "duration": 1.0, "input": "feature_extractor"}
    return Preprocessing("audio", data_config={"audio": audio}, feature_extractor=fe)


def transformers_blocks(module) -> list[list[str]]:
    """Embeddings first, then one group per numbered layer, then anything after (pooler, norm)."""
    before: list[str] = []
    layers: dict[int, list[str]] = {}
    after: list[str] = []
    for name, _ in module.named_parameters():
        m = _LAYER.search(name)
        if m:
            layers.setdefault(int(m.group(1)), []).append(name)
        elif layers:
            after.append(name)
        else:
            before.append(name)
    groups = [before] + [layers[i] for i in sorted(layers)] + [after]
    return [g for g in groups if g]


def _base_model_id(name: str, config: PretrainedConfig) -> str:
    if name.startswith("pypi:"):
        return PYPI_HUB_IDS.get(name[5:], name)
    if not Path(name).expanduser().is_dir():
        return name
    recorded = getattr(config, "_name_or_path", "") or ""
    return recorded if recorded and not Path(recorded).is_dir() and "/" in recorded else name
