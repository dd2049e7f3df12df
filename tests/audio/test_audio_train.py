"""Audio end to end on real FSDD clips: train, per-speaker metrics, card, predict, plain-library load, source → target.

Tiny models (timm ``test_efficientnet``, a 2-layer Wav2Vec2 config) keep these to seconds; the transfer
claims (ImageNet init vs random init vs Wav2Vec2, the cross-speaker curve) are measured in ``bench/audio.py``.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

import hubtune
from hubtune.cli import main
from hubtune.export import load_exported
from hubtune.recipe_yaml import deep_merge

ROOT = Path(__file__).resolve().parents[2]
PATTERN = r"(?P<label>\d)_(?P<speaker>[a-z]+)_(?P<take>\d+)\.wav"
TEST_FILTER = {"speaker": ["nicolas", "yweweler"], "take": "0..1"}  # 40 clips, two speakers never trained on


def _recipe(out: Path, fsdd: Path, **top) -> dict:
    recipe = {
        "backbone": {"source": "spectrogram", "name": "test_efficientnet", "pretrained": False,
                     "kwargs": {"num_mel_bins": 32}},
        "head": {"type": "classification"},
        "data": {"format": "audio", "path": str(fsdd), "test": "test", "num_workers": 0, "audio": {
            "pattern": PATTERN,
            "splits": {"train": {"speaker": ["george", "jackson", "lucas"], "take": "0..2"},
                       "validation": {"speaker": ["george"], "take": "3..3"}, "test": TEST_FILTER},
            "augment": {"time_shift": 0.1, "noise": 0.001, "freq_masks": 1, "time_masks": 1}}},
        "train": {"epochs": 1, "batch_size": 16, "lr": 1e-3, "trackers": []},
        "output_dir": str(out),
    }
    return deep_merge(recipe, top)


@pytest.fixture(scope="module")
def fsdd(data_root: Path) -> Path:
    return data_root / "fsdd" / "recordings"


def _test_files(fsdd: Path) -> list[Path]:
    return [fsdd / f"{d}_{s}_{t}.wav" for s in TEST_FILTER["speaker"] for d in range(10) for t in (0, 1)]


def _card_snippet(folder: Path, heading: str, tmp_path: Path) -> Path:
    """The card's Python snippet after ``heading``, pointed at ``folder``, with hubtune made unimportable."""
    card = (folder / "README.md").read_text()
    code = re.search(re.escape(heading) + r".*?```python\n(.*?)```", card, re.S).group(1)
    code = code.replace('snapshot_download("', '(lambda repo: FOLDER)("')
    code = re.sub(r'from_pretrained\("[^"]+"', "from_pretrained(FOLDER", code)
    script = tmp_path / "plain.py"
    script.write_text(f"import sys\nsys.modules['hubtune'] = None\nFOLDER = {str(folder)!r}\n" + code)
    return script


def _plain_top3(script: Path, wav: Path, tmp_path: Path) -> list[tuple[str, float]]:
    (tmp_path / "example.wav").write_bytes(wav.read_bytes())
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return [(str(k), float(v)) for k, v in ast.literal_eval(out.stdout.strip().splitlines()[-1])]


def _same(plain: list[tuple[str, float]], ours: list[tuple[str, float]]) -> None:
    assert [k for k, _ in plain] == [k for k, _ in ours]
    assert all(abs(a - b) < 1e-3 for (_, a), (_, b) in zip(plain, ours, strict=True))


@pytest.fixture(scope="module")
def spectrogram_run(fsdd, tmp_path_factory) -> Path:
    """One spectrogram run (random-init tiny timm model), shared: the tests below only read it."""
    return hubtune.train(_recipe(tmp_path_factory.mktemp("audio") / "spec", fsdd)).output_dir


def test_spectrogram_run_reports_speakers_and_plain_timm_reproduces_predictions(fsdd, spectrogram_run, tmp_path):
    out = spectrogram_run
    fe = json.loads((out / "preprocessor_config.json").read_text())
    assert (fe["feature_extractor_type"], fe["sampling_rate"], fe["num_mel_bins"], fe["max_length"]) == (
        "ASTFeatureExtractor", 16000, 32, 98)
    files = _test_files(fsdd)
    ranked = hubtune.predict(out, [str(f) for f in files], top_k=3)
    assert all(len(r) == 3 and len({k for k, _ in r}) == 3 and r[0][1] >= r[1][1] >= r[2][1] for r in ranked)
    by_speaker = json.loads((out / "metrics.json").read_text())["by_speaker"]["test"]
    for speaker in TEST_FILTER["speaker"]:  # the per-speaker table agrees with predict on that speaker's clips
        hits = [r[0][0] == f.name[0] for f, r in zip(files, ranked, strict=True) if f"_{speaker}_" in f.name]
        assert by_speaker[speaker] == {"accuracy": pytest.approx(sum(hits) / len(hits)), "examples": len(hits)}
    card = (out / "README.md").read_text()
    assert "| Sample rate | 16000 Hz" in card and "| Clip duration | 1.0 s" in card
    assert "| test | nicolas |" in card and "![Log-mel spectrograms" in card
    assert (out / "spectrograms.png").read_bytes()[:4] == b"\x89PNG"
    script = _card_snippet(out, "With plain [timm]", tmp_path)
    _same(_plain_top3(script, files[5], tmp_path), ranked[5])
    assert hubtune.evaluate(out, "test")["accuracy"] == pytest.approx(run_metrics(out)["test"]["accuracy"])


def run_metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())["metrics"]


def test_cli_predict_ranks_labels_of_wav_files(fsdd, spectrogram_run, capsys):
    wavs = [str(f) for f in _test_files(fsdd)[:2]]
    assert main(["predict", str(spectrogram_run), *wavs, "--top-k", "3"]) == 0
    printed = capsys.readouterr().out
    ranked = hubtune.predict(spectrogram_run, wavs, top_k=3)
    for wav, top in zip(wavs, ranked, strict=True):
        assert f"{wav}\t" + ", ".join(f"{label} ({p:.3f})" for label, p in top) in printed.splitlines()


def test_transformers_audio_model_from_config_loads_with_plain_transformers(fsdd, tmp_path):
    recipe = _recipe(tmp_path / "w2v", fsdd, backbone={"source": "transformers", "kwargs": {},
                                                       "name": str(ROOT / "recipes/audio/tiny-wav2vec2")},
                     data={"audio": {"duration": 0.75}})  # predict must use it too, not a 1 s default
    out = hubtune.train(recipe).output_dir
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["Wav2Vec2ForSequenceClassification"]
    assert json.loads((out / "preprocessor_config.json").read_text())["sampling_rate"] == 8000
    assert "| Clip duration | 0.75 s" in (out / "README.md").read_text()
    assert load_exported(out).preprocessing.data_config["audio"]["duration"] == 0.75
    wav = _test_files(fsdd)[7]
    ours = hubtune.predict(out, [str(wav)], top_k=3)[0]
    _same(_plain_top3(_card_snippet(out, "With plain [transformers]", tmp_path), wav, tmp_path), ours)


def test_target_speaker_fine_tunes_from_the_pushed_source(fsdd, spectrogram_run, tmp_path, monkeypatch):
    monkeypatch.setenv("HUBTUNE_HOME", str(tmp_path / "home"))
    source = spectrogram_run
    hubtune.push(source, "me/fsdd-source", hub="local")
    target = _recipe(tmp_path / "target", fsdd, backbone={"name": "me/fsdd-source", "kwargs": {}, "pretrained": True},
                     strategy={"type": "linear_probe"})
    target["data"]["audio"]["splits"] = {"train": {"speaker": ["nicolas"], "take": "2..2"},
                                         "validation": {"speaker": ["nicolas"], "take": "3..3"}, "test": TEST_FILTER}
    run = hubtune.train(target)
    fe = json.loads((run.output_dir / "preprocessor_config.json").read_text())
    assert fe["num_mel_bins"] == 32  # the pushed model's feature settings, not the default 64
    before, after = load_file(source / "model.safetensors"), load_file(run.output_dir / "model.safetensors")
    backbone = [k for k in before if not k.startswith("classifier")]
    assert backbone and all(before[k].equal(after[k]) for k in backbone)  # the pushed backbone, kept frozen
    assert not before["classifier.weight"].equal(after["classifier.weight"])
    assert run.metrics["test"]["accuracy"] >= 0.0 and json.loads(
        (run.output_dir / "metrics.json").read_text())["by_speaker"]["test"].keys() == {"nicolas", "yweweler"}
