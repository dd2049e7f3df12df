"""What a run on audio reports: its settings, per-speaker metrics, and a picture of a few inputs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hubtune.contracts import Preprocessing
from hubtune.data.audio_features import SPECTROGRAM_IMAGE, audio_settings

_FE_KEYS = ("feature_extractor_type", "sampling_rate", "num_mel_bins", "max_length", "do_normalize", "mean", "std",
            "feature_size", "return_attention_mask")


def audio_info(built: dict[str, Any], preprocessing: Preprocessing) -> dict[str, Any]:
    """The card's audio facts: sample rate, clip duration, feature settings, speakers per split."""
    settings = audio_settings(preprocessing)
    fe = preprocessing.feature_extractor.to_dict()
    info: dict[str, Any] = {"audio": {
        "sample_rate": settings["sampling_rate"], "duration_s": settings["duration"],
        "model_input": "log-mel image (3 channels)" if settings.get("input") == SPECTROGRAM_IMAGE else "waveform",
        "features": {k: fe[k] for k in _FE_KEYS if k in fe},
    }}
    speakers = {split: sorted(set(g)) for split, table in built.items() if (g := split_groups(table))}
    if speakers:
        info["speakers"] = {split: ", ".join(names) for split, names in speakers.items()}
    return info


def split_groups(table: Any) -> list[str] | None:
    """The ``speaker`` column of a split (None without one), read past its lazy transform."""
    if table is None or "speaker" not in getattr(table, "column_names", ()):
        return None
    return [str(v) for v in table.with_format(None)["speaker"]]


def group_metrics(predictions: Sequence[int], references: Sequence[int],
                  groups: Sequence[str]) -> dict[str, dict[str, float]]:
    """Accuracy and example count per group (speaker)."""
    preds, refs, names = np.asarray(predictions), np.asarray(references), np.asarray(groups)
    out = {}
    for g in sorted(set(groups)):
        mask = names == g
        out[g] = {"accuracy": float((preds[mask] == refs[mask]).mean()), "examples": int(mask.sum())}
    return out


def save_spectrograms(path: Path, table: Any, predictions: Sequence[int], references: Sequence[int],
                      labels: list[str], preprocessing: Preprocessing, n: int = 6) -> bool:
    """A grid of the first ``n`` clips' log-mel spectrograms titled predicted / true label; False if none."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hubtune.data.audio_features import AudioTransform

    rows = table.with_format(None)[: min(n, len(table))]
    if not rows.get("audio"):
        return False
    mels = _log_mels(AudioTransform(preprocessing).waves(rows["audio"]), preprocessing)
    fig, axes = plt.subplots(1, len(mels), figsize=(2.2 * len(mels), 2.6), squeeze=False)
    for i, (ax, mel) in enumerate(zip(axes[0], mels, strict=True)):
        ax.imshow(mel.T, origin="lower", aspect="auto", cmap="magma")
        ok = predictions[i] == references[i]
        ax.set_title(f"pred {labels[predictions[i]]} / true {labels[references[i]]}", fontsize=8,
                     color="green" if ok else "red")
        ax.set_xlabel("frame", fontsize=7)
        ax.set_yticks([])
        ax.tick_params(labelsize=6)
    axes[0][0].set_ylabel("mel bin", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def _log_mels(waves: list[np.ndarray], preprocessing: Preprocessing) -> list[np.ndarray]:
    """The model's own log-mel features, or 64-bin Kaldi filterbanks for waveform models."""
    settings = audio_settings(preprocessing)
    if settings.get("input") == SPECTROGRAM_IMAGE:
        fe = preprocessing.feature_extractor
    else:
        from transformers import ASTFeatureExtractor

        from hubtune.data.audio_features import kaldi_frames

        rate = int(settings["sampling_rate"])
        fe = ASTFeatureExtractor(sampling_rate=rate, num_mel_bins=64, max_length=kaldi_frames(len(waves[0]), rate))
    out = fe(waves, sampling_rate=settings["sampling_rate"], return_tensors="np")["input_values"]
    return [np.asarray(x) for x in out]


def audio_outputs(staging: Path, data: Any, evals: dict[str, Any], model: Any) -> dict[str, Any]:
    """Per-speaker metrics (``by_speaker`` for metrics.json) and ``spectrograms.png`` for the card."""
    out: dict[str, Any] = {"by_speaker": {}, "image": None}
    classify = model.head_spec.problem_type == "single_label_classification"
    for split, ev in evals.items():
        groups = split_groups(getattr(data, split, None))
        if classify and groups and len(groups) == len(ev.predictions):
            out["by_speaker"][split] = group_metrics(ev.predictions, ev.references, groups)
    split = "test" if "test" in evals else next(iter(evals), None)
    table = getattr(data, split, None) if split else None
    if classify and table is not None and data.labels and save_spectrograms(
            staging / "spectrograms.png", table, evals[split].predictions, evals[split].references, data.labels,
            model.preprocessing):
        out["image"] = "spectrograms.png"
        out["image_split"] = split
    return out
