"""Splits, carving, subsampling, labels and the errors a user can fix."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import datasets
import pytest

from hubtune.contracts import Preprocessing
from hubtune.data import SplitNotFound, build_data, load_split_table
from hubtune.errors import DataError
from hubtune.heads import HEADS
from hubtune.recipe import DataConfig

CLS = HEADS.get("classification")


def _csv(path: Path, rows: list[dict]) -> str:
    datasets.Dataset.from_list(rows).to_csv(str(path))
    return str(path)


def _labels(ds: datasets.Dataset) -> list[int]:
    return [ds[i]["labels"] for i in range(len(ds))]


def test_carved_validation_is_seeded_and_stratified(tmp_path: Path, text_pre: Preprocessing) -> None:
    rows = [{"text": f"row {i}", "label": "rare" if i % 10 == 0 else "common"} for i in range(100)]
    cfg = DataConfig(format="csv", path=_csv(tmp_path / "d.csv", rows), validation_size=0.2)
    a, b = (build_data(cfg, text_pre, CLS, seed=7) for _ in range(2))
    c = build_data(cfg, text_pre, CLS, seed=8)
    assert a.info["validation_from_train"] and (len(a.train), len(a.validation)) == (80, 20)
    assert a.validation[:]["input_ids"] == b.validation[:]["input_ids"] != c.validation[:]["input_ids"]
    assert Counter(_labels(a.validation)) == {a.labels.index("common"): 18, a.labels.index("rare"): 2}


def test_max_samples_deterministic(sst2: Path, text_pre: Preprocessing) -> None:
    cfg = DataConfig(format="tsv", path=str(sst2 / "dev.tsv"), max_train_samples=10, max_eval_samples=5)
    one, two = (build_data(cfg, text_pre, CLS, seed=1) for _ in range(2))
    assert len(one.train) == 10 and len(one.validation) == 5
    assert one.train[:]["input_ids"] == two.train[:]["input_ids"]


def test_label_map_renames_and_merges(tmp_path: Path, text_pre: Preprocessing) -> None:
    rows = [{"text": f"t{i}", "label": i % 3} for i in range(12)]
    cfg = DataConfig(format="csv", path=_csv(tmp_path / "d.csv", rows), validation=None,
                     label_map={"0": "negative", "1": "positive", "2": "positive"})
    bundle = build_data(cfg, text_pre, CLS, seed=0)
    assert bundle.labels == ["negative", "positive"] and bundle.num_labels == 2
    assert set(_labels(bundle.train)) == {0, 1}
    bad = cfg.model_copy(update={"label_map": {"0": "negative"}})
    with pytest.raises(DataError, match=r"label_map has no entry for label\(s\) 1, 2"):
        build_data(bad, text_pre, CLS, seed=0)


def test_labels_sort_numerically(tmp_path: Path, text_pre: Preprocessing) -> None:
    rows = [{"text": f"t{i}", "label": v} for i, v in enumerate([10, 2, 1, 2, 10, 1])]
    cfg = DataConfig(format="csv", path=_csv(tmp_path / "d.csv", rows), validation=None)
    assert build_data(cfg, text_pre, CLS, seed=0).labels == ["1", "2", "10"]


def test_unseen_validation_label(tmp_path: Path, text_pre: Preprocessing) -> None:
    _csv(tmp_path / "train.csv", [{"text": "a", "label": "x"}, {"text": "b", "label": "y"}])
    _csv(tmp_path / "validation.csv", [{"text": "c", "label": "z"}, {"text": "d", "label": "x"}])
    with pytest.raises(DataError, match=r"validation split has label\(s\) the training set lacks: z"):
        build_data(DataConfig(format="csv", path=str(tmp_path)), text_pre, CLS, seed=0)


def test_missing_column_message(sst2: Path, text_pre: Preprocessing) -> None:
    cfg = DataConfig(format="tsv", path=str(sst2 / "train.tsv"), validation={"path": str(sst2 / "dev.tsv")},
                     columns={"text": "sentence"}, max_train_samples=5)
    with pytest.raises(DataError) as err:
        build_data(cfg, text_pre, CLS, seed=0)
    msg = str(err.value)
    assert "validation split" in msg and "'sentence'" in msg and "label, content" in msg
    assert "data.columns.text:" in msg


def test_undetectable_column_message(tmp_path: Path, text_pre: Preprocessing) -> None:
    cfg = DataConfig(format="csv", path=_csv(tmp_path / "d.csv", [{"body": "x", "label": 0}]))
    with pytest.raises(DataError, match=r"train split: no text column found .*columns are: body, label.*"
                                        r"data\.columns\.text: <column>"):
        build_data(cfg, text_pre, CLS, seed=0)


def test_empty_split(tmp_path: Path, text_pre: Preprocessing) -> None:
    (tmp_path / "train.csv").write_text("text,label\n")
    with pytest.raises(DataError, match="train split is empty"):
        build_data(DataConfig(format="csv", path=str(tmp_path / "train.csv")), text_pre, CLS, seed=0)


def test_missing_paths_and_splits(tmp_path: Path, text_pre: Preprocessing, hymenoptera: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv does not exist.*data\.path"):
        build_data(DataConfig(format="csv", path=str(tmp_path / "nope.csv")), text_pre, CLS, seed=0)
    with pytest.raises(DataError, match="HUBTUNE_DATA"):
        load_split_table(DataConfig(format="tsv", path="../shared/data/no-such-set/train.tsv"), "train")
    cfg = DataConfig(format="imagefolder", path=str(hymenoptera), test="test")
    with pytest.raises(SplitNotFound):
        load_split_table(cfg, "test")
    with pytest.raises(DataError, match=r"data\.test"):
        build_data(cfg, Preprocessing("vector"), CLS, seed=0)


def test_shared_data_path_resolves_via_env(sst2: Path) -> None:
    table = load_split_table(DataConfig(format="tsv", path="/elsewhere/shared/data/sst2/dev.tsv"), "train")
    assert len(table) == 872 and table.column_names == ["label", "content"]


def test_split_slicing_and_aliases(hymenoptera: Path) -> None:
    cfg = DataConfig(format="imagefolder", path=str(hymenoptera), train="train[:10]", validation="val")
    assert len(load_split_table(cfg, "train")) == 10
    assert len(load_split_table(cfg, "validation")) == 153


def test_hub_format_local_folder(tmp_path: Path, text_pre: Preprocessing) -> None:
    _csv(tmp_path / "train.csv", [{"text": f"t{i}", "label": i % 2} for i in range(6)])
    _csv(tmp_path / "test.csv", [{"text": "u", "label": 1}])
    bundle = build_data(DataConfig(format="hub", path=str(tmp_path), test="test"), text_pre, CLS, seed=0)
    assert len(bundle.test) == 1 and bundle.info["validation_from_train"]
    with pytest.raises(DataError, match=r"data\.train: split 'nope'"):
        build_data(DataConfig(format="hub", path=str(tmp_path), train="nope"), text_pre, CLS, seed=0)
