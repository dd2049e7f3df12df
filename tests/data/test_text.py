"""Text data: SST-2 with per-split columns, file formats, multilabel, regression, token tags, predict_inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets
import pytest
import torch

from hubtune.contracts import Preprocessing
from hubtune.data import build_data, load_split_table, predict_inputs
from hubtune.heads import HEADS
from hubtune.recipe import DataConfig

CLS = HEADS.get("classification")
ROWS = [{"review": f"{'great fun' if i % 2 else 'dull and slow'} film number {i}", "stars": "pos" if i % 2 else "neg"}
        for i in range(20)]


def test_sst2_per_split_columns(sst2: Path, text_pre: Preprocessing, tokenizer: Any) -> None:
    cfg = DataConfig(format="tsv", path=str(sst2), max_train_samples=64, max_eval_samples=32, max_length=16,
                     validation={"path": str(sst2 / "dev.tsv"), "columns": {"text": "content"}},
                     test={"path": str(sst2 / "test.tsv"), "columns": {"text": "content"}})
    bundle = build_data(cfg, text_pre, CLS, seed=0)
    assert bundle.labels == ["0", "1"] and bundle.num_labels == 2
    assert bundle.info["splits"] == {"train": 64, "validation": 32, "test": 32}
    assert bundle.info["columns"]["train"]["text"] == "sentence"
    assert bundle.info["columns"]["validation"]["text"] == "content"
    again = build_data(cfg, text_pre, CLS, seed=0, splits=("train",))
    assert again.train[:]["input_ids"] == bundle.train[:]["input_ids"]  # deterministic subsample
    items = [bundle.train[i] for i in range(8)]
    batch = bundle.collate_fn(items)
    longest = max(len(it["input_ids"]) for it in items)
    assert batch["input_ids"].shape == (8, longest) <= (8, 16)  # padded per batch, truncated to max_length
    assert set(batch) >= {"input_ids", "attention_mask", "labels"} and batch["labels"].dtype == torch.long
    assert batch["attention_mask"].sum(1).tolist() == [len(it["input_ids"]) for it in items]
    assert tokenizer.decode(items[0]["input_ids"]).startswith("[CLS]")


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "parquet"])
def test_file_formats(tmp_path: Path, text_pre: Preprocessing, fmt: str) -> None:
    table = datasets.Dataset.from_list(ROWS)
    path = tmp_path / f"train.{fmt}"
    {"csv": table.to_csv, "parquet": table.to_parquet}.get(fmt, table.to_json)(str(path))
    cfg = DataConfig(format=fmt, path=str(path), columns={"text": "review", "label": "stars"}, validation_size=0.2)
    bundle = build_data(cfg, text_pre, CLS, seed=3)
    assert bundle.labels == ["neg", "pos"] and bundle.info["validation_from_train"]
    assert (len(bundle.train), len(bundle.validation)) == (16, 4)
    assert sum(bundle.validation[:]["labels"]) == 2  # stratified


def test_folder_of_files_and_text_pair(tmp_path: Path, text_pre: Preprocessing) -> None:
    for split, n in (("train", 6), ("dev", 4)):
        rows = [{"sentence1": f"a {i}", "sentence2": f"b {i}", "label": i % 2} for i in range(n)]
        datasets.Dataset.from_list(rows).to_csv(str(tmp_path / f"{split}.csv"))
    bundle = build_data(DataConfig(format="csv", path=str(tmp_path)), text_pre, CLS, seed=0)
    assert len(bundle.validation) == 4 and bundle.info["columns"]["train"]["text_pair"] == "sentence2"
    assert 1 in bundle.train[0]["token_type_ids"]
    assert len(load_split_table(DataConfig(format="csv", path=str(tmp_path)), "validation")) == 4


def test_multilabel(tmp_path: Path, text_pre: Preprocessing) -> None:
    rows = [{"text": f"t{i}", "label": [["sport"], ["news", "sport"], ["art"]][i % 3]} for i in range(9)]
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    bundle = build_data(DataConfig(format="jsonl", path=str(path), validation=None), text_pre,
                        HEADS.get("multilabel"), seed=0)
    assert bundle.labels == ["art", "news", "sport"]
    batch = bundle.collate_fn([bundle.train[i] for i in range(len(bundle.train))])
    assert batch["labels"].dtype == torch.float32 and batch["labels"].shape == (len(bundle.train), 3)
    assert set(batch["labels"].sum(1).tolist()) <= {1.0, 2.0}


def test_regression(tmp_path: Path, text_pre: Preprocessing) -> None:
    path = tmp_path / "scores.csv"
    datasets.Dataset.from_list([{"text": f"s{i}", "score": i / 4} for i in range(10)]).to_csv(str(path))
    bundle = build_data(DataConfig(format="csv", path=str(path)), text_pre, HEADS.get("regression"), seed=0)
    assert bundle.labels is None and bundle.num_labels == 1
    batch = bundle.collate_fn([bundle.train[i] for i in range(3)])
    assert batch["labels"].dtype == torch.float32 and batch["labels"].shape == (3,)


def test_token_classification(tmp_path: Path, text_pre: Preprocessing, tokenizer: Any) -> None:
    rows = [{"tokens": ["Angela", "Merkel", "visited", "Washingtonville"], "ner_tags": ["B-PER", "I-PER", "O", "B-LOC"]},
            {"tokens": ["Hello", "Paris"], "ner_tags": ["O", "B-LOC"]}] * 3
    path = tmp_path / "ner.json"
    path.write_text(json.dumps(rows))
    cfg = DataConfig(format="json", path=str(path), validation=None, validation_size=0.34)
    bundle = build_data(cfg, text_pre, HEADS.get("token_classification"), seed=0)
    assert bundle.labels == ["B-LOC", "B-PER", "I-PER", "O"]
    items = [bundle.train[i] for i in range(len(bundle.train))]
    batch = bundle.collate_fn(items)
    assert batch["labels"].shape == batch["input_ids"].shape and batch["labels"].dtype == torch.long
    long_row = next(i for i, it in enumerate(items) if len(it["input_ids"]) == batch["input_ids"].shape[1])
    enc = tokenizer(rows[0]["tokens"], is_split_into_words=True)
    expected = []
    for k, w in enumerate(enc.word_ids()):
        first = w is not None and (k == 0 or enc.word_ids()[k - 1] != w)
        expected.append([1, 2, 3, 0][w] if first else -100)
    assert batch["labels"][long_row].tolist() == expected
    assert (batch["labels"] == -100).any() and (batch["labels"][batch["attention_mask"] == 0] == -100).all()


def test_predict_inputs_texts(text_pre: Preprocessing) -> None:
    batch = predict_inputs(["a short one", "a somewhat longer sentence than the first"], text_pre, max_length=8)
    assert batch["input_ids"].shape == (2, 8) and batch["attention_mask"][0].sum() < 8
