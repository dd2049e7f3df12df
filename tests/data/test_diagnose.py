"""A file that is not the table its format says: the error names the problem, not "An error occurred"."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hubtune.cli import main
from hubtune.data import load_split_table
from hubtune.errors import DataError
from hubtune.recipe import DataConfig

GENERIC = "An error occurred while generating the dataset"


def _jpeg(hymenoptera: Path, dest: Path) -> Path:
    """A real photo under a table's name."""
    shutil.copy(next((hymenoptera / "train" / "ants").glob("*.jpg")), dest)
    return dest


CASES = {  # file name, format, content (None: a real JPEG), what the message must say
    "jpeg as csv": ("d.csv", "csv", None, ["is not text", "NUL bytes", "data.format"]),
    "jpeg as json": ("d.json", "json", None, ["is not text", "json expects"]),
    "latin-1 csv": ("d.csv", "csv", "text,label\ncaf\xe9,1\n".encode("latin-1"),
                    ["is not UTF-8 text (line 2", "byte 0xe9", "re-save it as UTF-8"]),
    "empty csv": ("d.csv", "csv", b"", ["is empty", "header row"]),
    "extra field": ("d.csv", "csv", b"text,label\nfine,1\nnot, fine,0\n",
                    ["line 3 has 3 field(s) but the header has 2 (text, label)", "quote fields"]),
    "extra tsv field": ("d.tsv", "tsv", b"text\tlabel\na\t1\nb\t0\tc\n", ["line 3 has 3 field(s)"]),
    "bad json line": ("d.jsonl", "jsonl", b'{"text": "a", "label": 1}\n{"text": "b", label: 0}\n',
                      ["line 2 is not valid JSON"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_table_file_says_what_is_wrong(case: str, tmp_path: Path, hymenoptera: Path) -> None:
    name, fmt, content, fragments = CASES[case]
    path = tmp_path / name
    if content is None:
        _jpeg(hymenoptera, path)
    else:
        path.write_bytes(content)
    with pytest.raises(DataError) as err:
        load_split_table(DataConfig(format=fmt, path=str(path), validation=None), "train")
    message = str(err.value)
    assert GENERIC not in message and str(path) in message and "data.train" in message
    for fragment in fragments:
        assert fragment in message


def test_bad_file_in_a_folder_is_named(tmp_path: Path, hymenoptera: Path) -> None:
    (tmp_path / "train.csv").write_text("text,label\nfine,1\n")
    _jpeg(hymenoptera, tmp_path / "validation.csv")
    assert len(load_split_table(DataConfig(format="csv", path=str(tmp_path)), "train")) == 1
    with pytest.raises(DataError, match=r"validation\.csv is not text"):
        load_split_table(DataConfig(format="csv", path=str(tmp_path)), "validation")


def test_cli_exits_2_on_a_binary_csv(tmp_path: Path, hymenoptera: Path, tiny_bert_dir: Path, capsys) -> None:
    import yaml

    data = _jpeg(hymenoptera, tmp_path / "reviews.csv")
    recipe = {"output_dir": str(tmp_path / "out"), "backbone": {"source": "transformers", "name": str(tiny_bert_dir)},
              "head": {"type": "classification"}, "data": {"format": "csv", "path": str(data)},
              "train": {"epochs": 1, "trackers": []}}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    assert main(["train", str(tmp_path / "r.yaml")]) == 2
    err = capsys.readouterr().err
    assert f"{data} is not text" in err and GENERIC not in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
