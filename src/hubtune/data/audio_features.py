"""Audio clips → model inputs: decode, resample, pad/crop, augment, features.

WAV/FLAC/OGG are decoded with ``soundfile`` (libsndfile ships inside its wheel). ``datasets``'
``Audio`` feature decodes through ``torchcodec``, which needs the FFmpeg shared libraries from
the system (Debian's ``ffmpeg``); ``soundfile`` needs nothing outside pip. Resampling is
``scipy.signal.resample_poly``. Clips are cropped to the first ``duration`` seconds or
zero-padded at the end (what a plain feature extractor call on the padded clip reproduces);
in training a random time shift moves the clip first.

The features are the model's own transformers feature extractor (saved next to the weights as
``preprocessor_config.json``): log-mel filterbanks (``ASTFeatureExtractor``) for spectrogram
backbones, whose ``(frames, mels)`` output becomes a 3-channel image, or the raw-waveform
extractor of a transformers audio model. SpecAugment masks are applied to 2-D features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from math import gcd
from typing import Any

import numpy as np
import torch

from hubtune.audio_schema import SPECTROGRAM_IMAGE, AudioAugment
from hubtune.contracts import Preprocessing
from hubtune.data.labels import LabelEncoder
from hubtune.errors import DataError

__all__ = ["SPECTROGRAM_IMAGE", "AudioTransform", "configure", "features", "load_waveform", "predict_audio"]


def load_waveform(path: str, rate: int) -> np.ndarray:
    """Mono float32 samples of ``path`` at ``rate`` Hz."""
    import soundfile as sf

    try:
        wave, sr = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        raise DataError(f"cannot read audio file {path}: {e}") from None
    wave = wave.mean(axis=1)
    if sr != rate:
        from scipy.signal import resample_poly

        g = gcd(int(sr), int(rate))
        wave = resample_poly(wave, rate // g, sr // g).astype("float32")
    return wave


def fit_length(wave: np.ndarray, n: int, shift: int = 0) -> np.ndarray:
    """Shift by ``shift`` samples (zeros come in), then crop to the first ``n`` / zero-pad at the end."""
    if shift > 0:
        wave = np.concatenate([np.zeros(shift, dtype=wave.dtype), wave])
    elif shift < 0:
        wave = wave[-shift:]
    out = np.zeros(n, dtype="float32")
    out[: min(n, len(wave))] = wave[:n]
    return out


def spec_augment(feats: torch.Tensor, aug: AudioAugment, rng: np.random.Generator) -> torch.Tensor:
    """SpecAugment (Park et al. 2019) time and frequency masks on a ``(frames, mels)`` tensor, filled with its mean."""
    feats = feats.clone()
    fill = float(feats.mean())
    for axis, count, width in ((1, aug.freq_masks, aug.freq_mask_width), (0, aug.time_masks, aug.time_mask_width)):
        size = feats.shape[axis]
        for _ in range(count):
            w = int(rng.integers(0, min(width, size) + 1))
            start = int(rng.integers(0, size - w + 1))
            if axis == 0:
                feats[start:start + w] = fill
            else:
                feats[:, start:start + w] = fill
    return feats


def audio_settings(preprocessing: Preprocessing) -> dict[str, Any]:
    """``{"sampling_rate", "duration", "input"}`` recorded in the preprocessing's data config."""
    settings = preprocessing.data_config.get("audio")
    if not settings:
        raise DataError(f"the backbone reads {preprocessing.modality} inputs, not audio: use backbone.source: "
                        "spectrogram, or a transformers audio model (AutoModelForAudioClassification)")
    return settings


def configure(preprocessing: Preprocessing, duration: float) -> None:
    """Fix the clip length (seconds) in the preprocessing; for log-mel extractors also their frame count."""
    settings = audio_settings(preprocessing)
    settings["duration"] = float(duration)
    fe = preprocessing.feature_extractor
    if settings.get("input") == SPECTROGRAM_IMAGE and hasattr(fe, "max_length"):
        fe.max_length = kaldi_frames(round(duration * fe.sampling_rate), fe.sampling_rate)


def kaldi_frames(samples: int, rate: int) -> int:
    """Frames of ``ASTFeatureExtractor``'s filterbank over ``samples``: windows of 400 samples every 160,
    edges snipped (25 ms every 10 ms at 16 kHz, the rate it is made for; its numpy path keeps these
    sample counts at any rate, its torchaudio path scales them, so spectrogram models use 16 kHz)."""
    if samples < 400:
        raise DataError(f"data.audio.duration is shorter than one 400-sample analysis window at {rate} Hz; raise it")
    return 1 + (samples - 400) // 160


def features(waves: Sequence[np.ndarray], preprocessing: Preprocessing) -> list[torch.Tensor]:
    """Model inputs of fixed-length clips: 3×frames×mels images, or the extractor's own input per clip."""
    settings = audio_settings(preprocessing)
    fe = preprocessing.feature_extractor
    out = fe(list(waves), sampling_rate=settings["sampling_rate"], return_tensors="pt")
    values = out[fe.model_input_names[0]]
    if settings.get("input") == SPECTROGRAM_IMAGE:
        return [v.unsqueeze(0).expand(3, -1, -1) for v in values]
    return list(values)


def input_key(preprocessing: Preprocessing) -> str:
    if audio_settings(preprocessing).get("input") == SPECTROGRAM_IMAGE:
        return "pixel_values"
    return str(preprocessing.feature_extractor.model_input_names[0])


@dataclass
class AudioTransform:
    """Batch transform for ``with_transform``: ``audio`` (paths) and ``label`` → model inputs and ``labels``."""

    preprocessing: Preprocessing
    training: bool = False
    augment: AudioAugment = field(default_factory=AudioAugment)
    encoder: LabelEncoder | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        self._key = input_key(self.preprocessing)
        self._rng_seed: int | None = None

    @property
    def _rng(self) -> np.random.Generator:
        """A generator seeded from torch's seed of this process: DataLoader workers get a new one every epoch."""
        if self._rng_seed != torch.initial_seed():
            self._rng_seed = torch.initial_seed()
            self._gen = np.random.default_rng([self._rng_seed % 2**63, self.seed])
        return self._gen

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {self._key: self.inputs(batch["audio"])}
        if self.encoder is not None and "label" in batch:
            out["labels"] = [self.encoder(v) for v in batch["label"]]
        return out

    def waves(self, paths: Sequence[str]) -> list[np.ndarray]:
        settings = audio_settings(self.preprocessing)
        rate = int(settings["sampling_rate"])
        n = round(settings["duration"] * rate)
        waves = []
        for path in paths:
            wave = load_waveform(path, rate)
            shift = 0
            if self.training and self.augment.time_shift:
                reach = int(self.augment.time_shift * n)
                shift = int(self._rng.integers(-reach, reach + 1))
            wave = fit_length(wave, n, shift)
            if self.training and self.augment.noise:
                wave = wave + self._rng.normal(0.0, self.augment.noise, n).astype("float32")
            waves.append(wave)
        return waves

    def inputs(self, paths: Sequence[str]) -> list[torch.Tensor]:
        feats = features(self.waves(paths), self.preprocessing)
        aug = self.augment
        if self.training and (aug.freq_masks or aug.time_masks):
            feats = [self._masked(f) for f in feats]
        return feats

    def _masked(self, f: torch.Tensor) -> torch.Tensor:
        if f.ndim == 3:  # spectrogram image: mask once, then repeat over the channels
            return spec_augment(f[0], self.augment, self._rng).unsqueeze(0).expand(3, -1, -1)
        return spec_augment(f, self.augment, self._rng) if f.ndim == 2 else f


def predict_audio(paths: Sequence[str], preprocessing: Preprocessing) -> dict[str, torch.Tensor]:
    """One batch of model inputs from audio file paths (no augmentation)."""
    transform = AudioTransform(preprocessing)
    return {transform._key: torch.stack(transform.inputs(list(paths)))}
