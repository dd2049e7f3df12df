"""Audio data: fields from file names or metadata, speaker splits, decoding, augmentation, validation errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from hubtune.audio_schema import AudioAugment
from hubtune.cli import main
from hubtune.data.audio import audio_split_table, list_clips
from hubtune.data.audio_features import fit_length, load_waveform, spec_augment
from hubtune.errors import DataError, RecipeError
from hubtune.recipe import DataConfig
from hubtune.validation import recipe_from_dict

PATTERN = r"(?P<label>\d)_(?P<speaker>[a-z]+)_(?P<take>\d+)\.wav"


@pytest.fixture(scope="module")
def fsdd(data_root: Path) -> Path:
    return data_root / "fsdd" / "recordings"


def _data(path: Path, **audio) -> DataConfig:
    return DataConfig(format="audio", path=str(path), test="test", audio={"pattern": PATTERN, **audio})


def _recipe(path: Path, tmp_path: Path, source: str = "spectrogram", **audio) -> dict:
    return {"backbone": {"source": source, "name": "test_efficientnet", "pretrained": False},
            "data": {"format": "audio", "path": str(path), "test": "test", "audio": {"pattern": PATTERN, **audio}},
            "output_dir": str(tmp_path / "out")}


def test_fields_come_from_the_file_name_and_speaker_splits_are_disjoint(fsdd):
    rows = list_clips(_data(fsdd), fsdd)
    assert len(rows) == 2500
    assert {r["speaker"] for r in rows} == {"george", "jackson", "lucas", "nicolas", "yweweler"}
    first = next(r for r in rows if Path(r["audio"]).name == "7_jackson_32.wav")
    assert (first["label"], first["speaker"], first["take"]) == ("7", "jackson", "32")
    cfg = _data(fsdd, split_by="speaker", splits={"train": ["george", "lucas"], "test": ["nicolas"]})
    train, test = audio_split_table(cfg, "train", fsdd), audio_split_table(cfg, "test", fsdd)
    assert set(train["speaker"]) == {"george", "lucas"} and len(train) == 1000
    assert set(test["speaker"]) == {"nicolas"} and len(test) == 500
    takes = _data(fsdd, splits={"train": {"speaker": ["nicolas"], "take": "0..4"}})
    table = audio_split_table(takes, "train", fsdd)
    assert len(table) == 50 and sorted({int(t) for t in table["take"]}) == [0, 1, 2, 3, 4]


def test_metadata_file_gives_the_fields(fsdd, tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    for name in ("0_george_0.wav", "1_lucas_3.wav", "1_nicolas_4.wav"):
        shutil.copy(fsdd / name, folder / f"clip-{name[0]}{name[2]}.wav")
    meta = tmp_path / "meta.csv"
    meta.write_text("file,word,speaker\nclip-0g.wav,zero,george\nclip-1l.wav,one,lucas\nclip-1n.wav,one,nicolas\n")
    cfg = DataConfig(format="audio", path=str(folder), audio={"metadata": str(meta), "label_field": "word"})
    rows = sorted(list_clips(cfg, folder), key=lambda r: r["audio"])
    assert [(r["label"], r["speaker"]) for r in rows] == [("zero", "george"), ("one", "lucas"), ("one", "nicolas")]


def test_every_problem_of_a_bad_audio_block_is_reported_at_once(fsdd, tmp_path):
    bad = _recipe(fsdd, tmp_path, split_by="speaker",
                  splits={"train": ["george", "alice"], "validation": ["lucas"], "test": ["george"]})
    with pytest.raises(RecipeError) as err:
        recipe_from_dict(bad)
    text = str(err.value)
    assert "no file has speaker = alice" in text and "known: george, jackson" in text
    assert "speaker george is in both train and test" in text
    no_label = _recipe(fsdd, tmp_path)
    no_label["data"]["audio"]["pattern"] = r"(?P<digit>\d)_.*\.wav"
    with pytest.raises(RecipeError, match=r"no named group for the label field 'label'.*digit"):
        recipe_from_dict(no_label)
    with pytest.raises(RecipeError, match=r"bare list needs data\.audio\.split_by"):
        recipe_from_dict(_recipe(fsdd, tmp_path, splits={"train": ["george"]}))
    with pytest.raises(RecipeError, match="'timm' cannot read audio; use spectrogram"):
        recipe_from_dict(_recipe(fsdd, tmp_path, source="timm"))


def test_cli_rejects_a_bad_audio_recipe_with_exit_2_before_loading_weights(fsdd, tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(f"backbone: {{source: spectrogram, name: tf_efficientnet_lite0}}\n"
                    f"data: {{format: audio, path: {fsdd}, audio: {{pattern: '{PATTERN}', split_by: speaker, "
                    f"splits: {{train: [bob]}}}}}}\n")
    assert main(["train", str(path), f"output_dir={tmp_path / 'out'}"]) == 2
    assert "no file has speaker = bob" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_decode_resample_and_fixed_length(fsdd, tmp_path):
    at8 = load_waveform(str(fsdd / "3_nicolas_1.wav"), 8000)
    at16 = load_waveform(str(fsdd / "3_nicolas_1.wav"), 16000)
    assert at8.dtype == np.float32 and abs(len(at16) - 2 * len(at8)) <= 1
    wave = np.arange(1, 11, dtype="float32")
    assert fit_length(wave, 4).tolist() == [1, 2, 3, 4]
    assert fit_length(wave, 12).tolist() == [*range(1, 11), 0, 0]
    assert fit_length(wave, 5, shift=2).tolist() == [0, 0, 1, 2, 3]
    assert fit_length(wave, 3, shift=-2).tolist() == [3, 4, 5]
    broken = tmp_path / "broken.wav"
    broken.write_text("not audio")
    with pytest.raises(DataError, match=r"cannot read audio file .*broken\.wav"):
        load_waveform(str(broken), 8000)


def test_spec_augment_masks_bands_within_their_width():
    feats = torch.arange(100 * 64, dtype=torch.float32).reshape(100, 64)
    aug = AudioAugment(freq_masks=1, freq_mask_width=8, time_masks=1, time_mask_width=10)
    rng = np.random.default_rng(0)
    changed = [(spec_augment(feats, aug, rng) != feats) for _ in range(20)]
    assert any(c.any() for c in changed)
    for c in changed:
        full_rows = int(c.all(dim=1).sum())  # a time mask covers whole rows
        full_cols = int(c.all(dim=0).sum())  # a frequency mask whole columns
        assert full_rows <= 10 and full_cols <= 8
    none = AudioAugment()
    assert torch.equal(spec_augment(feats, none, rng), feats)


def test_a_text_transformers_model_on_audio_is_refused_by_name(fsdd, tmp_path, tiny_bert_dir):
    import hubtune

    recipe = _recipe(fsdd, tmp_path, source="transformers", split_by="speaker",
                     splits={"train": ["george"], "test": ["nicolas"]})
    recipe["backbone"] = {"source": "transformers", "name": str(tiny_bert_dir)}
    with pytest.raises(DataError, match=r"reads text inputs, not audio: use backbone\.source: spectrogram"):
        hubtune.train(recipe)
    assert not (tmp_path / "out").exists()
