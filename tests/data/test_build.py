"""``build_data`` warnings a new user needs: empty texts, a validation split too small to mean anything."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
import yaml

from hubtune.contracts import Preprocessing
from hubtune.data import build_data
from hubtune.heads import HEADS
from hubtune.recipe import DataConfig

CLS = HEADS.get("classification")
REPO = Path(__file__).resolve().parents[2]


def _csv(path: Path, rows: list[dict]) -> str:
    datasets.Dataset.from_list(rows).to_csv(str(path), index=False)
    return str(path)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("hubtune")]


def test_empty_texts_are_named(tmp_path: Path, text_pre: Preprocessing, caplog) -> None:
    rows = [{"review": f"text {i}", "label": i % 2} for i in range(100)]
    rows[2]["review"], rows[30]["review"] = "", "   "
    cfg = DataConfig(format="csv", path=_csv(tmp_path / "d.csv", rows), columns={"text": "review"}, validation_size=0.2)
    with caplog.at_level(logging.WARNING):
        build_data(cfg, text_pre, CLS, seed=0)
    assert _warnings(caplog) == [
        "data.train: 2 of 100 text(s) in column 'text' (review) are empty, at row(s) 3, 31; they train on an empty "
        "input: drop or fill them"]


def test_clean_data_gives_no_warning(tmp_path: Path, text_pre: Preprocessing, caplog) -> None:
    rows = [{"text": f"text {i}", "label": i % 2} for i in range(100)]
    cfg = DataConfig(format="csv", path=_csv(tmp_path / "d.csv", rows), validation_size=0.2)
    with caplog.at_level(logging.WARNING):
        bundle = build_data(cfg, text_pre, CLS, seed=0)
    assert len(bundle.validation) == 20 and _warnings(caplog) == []


def test_tiny_carved_validation_warns(tmp_path: Path, text_pre: Preprocessing, caplog) -> None:
    rows = [{"text": f"text {i}", "label": i % 2} for i in range(30)]
    cfg = DataConfig(format="csv", path=_csv(tmp_path / "d.csv", rows))  # default validation_size: 3 rows
    with caplog.at_level(logging.WARNING):
        bundle = build_data(cfg, text_pre, CLS, seed=0)
    (message,) = _warnings(caplog)
    assert message.startswith(f"the validation split has only {len(bundle.validation)} example(s), fewer than 10")
    assert "raise data.validation_size" in message


def test_validation_with_fewer_rows_than_classes_warns(tmp_path: Path, text_pre: Preprocessing, caplog) -> None:
    train = [{"text": f"text {i}", "label": f"class{i % 12}"} for i in range(48)]
    validation = [{"text": f"other {i}", "label": f"class{i}"} for i in range(11)]
    cfg = DataConfig(format="csv", train={"path": _csv(tmp_path / "t.csv", train)},
                     validation={"path": _csv(tmp_path / "v.csv", validation)})
    with caplog.at_level(logging.WARNING):
        build_data(cfg, text_pre, CLS, seed=0)
    (message,) = _warnings(caplog)
    assert "only 11 example(s), fewer than the 12 classes" in message and "give data.validation more rows" in message


@pytest.mark.slow
def test_cli_shows_both_warnings_on_a_4_row_csv(tmp_path: Path, tiny_bert_dir: Path) -> None:
    """The issue's case: 4 rows, one empty text, auto-split validation of 1 row; it still trains."""
    data = _csv(tmp_path / "four.csv", [{"text": "great film", "label": 1}, {"text": "", "label": 0},
                                         {"text": "dull", "label": 0}, {"text": "loved it", "label": 1}])
    recipe = {"output_dir": str(tmp_path / "out"), "backbone": {"source": "transformers", "name": str(tiny_bert_dir)},
              "head": {"type": "classification"}, "data": {"format": "csv", "path": data, "validation_size": 0.25},
              "train": {"epochs": 1, "batch_size": 2, "trackers": []}}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    env = {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "hubtune", "train", str(tmp_path / "r.yaml")], capture_output=True,
                          text=True, cwd=REPO, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "data.train: 1 of 4 text(s) in column 'text' (text) are empty, at row(s) 2" in done.stderr
    assert "the validation split has only 1 example(s), fewer than the 2 classes" in done.stderr
