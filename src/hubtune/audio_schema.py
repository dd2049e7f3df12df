"""The ``data.audio:`` block of a recipe (``data.format: audio``): fields, splits, duration, augmentation.

Schema only (pydantic); reading the files lives in :mod:`hubtune.data.audio`. Example::

    data:
      format: audio
      path: ../shared/data/fsdd/recordings
      audio:
        pattern: '(?P<label>\\d)_(?P<speaker>[a-z]+)_(?P<take>\\d+)\\.wav'
        split_by: speaker
        splits: {train: [george, jackson, lucas], validation: [yweweler], test: [nicolas]}
        duration: 1.0
        augment: {time_shift: 0.1, noise: 0.005, freq_masks: 1, time_masks: 1}

A split is a filter: ``{field: [values]}`` (every field must match), or with ``split_by`` a bare
list of that field's values. Values are compared as strings (``take: [0, 1]`` matches ``"0"``);
``"0..9"`` stands for the integers 0 to 9.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

SPECTROGRAM_IMAGE = "spectrogram_image"  # Preprocessing.data_config["audio"]["input"]: log-mels → pixel_values


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AudioAugment(_Strict):
    """Training-time augmentation: waveform (time shift, noise) and SpecAugment masks on the features."""

    time_shift: float = Field(0.0, ge=0.0, lt=1.0, description="max roll of the clip, as a fraction of duration")
    noise: float = Field(0.0, ge=0.0, description="std of Gaussian noise added to the waveform (peak = 1)")
    freq_masks: int = Field(0, ge=0, description="SpecAugment frequency masks per example")
    freq_mask_width: int = Field(8, ge=1, description="max width of a frequency mask, in mel bins")
    time_masks: int = Field(0, ge=0, description="SpecAugment time masks per example")
    time_mask_width: int = Field(10, ge=1, description="max width of a time mask, in frames")


Filter = dict[str, list[str | int] | str | int] | list[str | int]


class AudioDataConfig(_Strict):
    """Where the clips' fields come from, how the splits are drawn, and the fixed clip length."""

    pattern: str | None = Field(None, description="regex on the file name (relative to data.path) with named "
                                                   "groups; one must be the label field")
    metadata: str | None = Field(None, description="CSV or JSON(L) file with a 'file' column and the fields")
    label_field: str = Field("label", description="the field holding the class label")
    extensions: list[str] = Field(default_factory=lambda: [".wav", ".flac", ".ogg"])
    split_by: str | None = Field(None, description="field whose values name the splits' members (e.g. speaker); "
                                                   "a value may be in only one split")
    splits: dict[str, Filter | None] = Field(default_factory=dict, description="train / validation / test filters "
                                                                         "(null: no such split, e.g. over a base recipe's)")
    duration: float = Field(1.0, gt=0.0, le=60.0, description="seconds: clips are cropped or zero-padded to it")
    augment: AudioAugment = Field(default_factory=AudioAugment)
