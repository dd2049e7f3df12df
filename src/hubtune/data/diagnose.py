"""Say what is wrong with a CSV/TSV/JSON file that ``datasets`` failed to load.

``datasets`` wraps every reader error in "An error occurred while generating the dataset"; on
such a failure :func:`explain_table_error` reads the files itself and names the first problem:
not UTF-8 text (or not text at all), no header row, a row with the wrong number of fields, a
line that is not JSON.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path

_SNIFF = 8192
_DELIMITERS = {"csv": ",", "tsv": "\t"}
_EXPECT = {"csv": "comma-separated UTF-8 text with a header row", "tsv": "tab-separated UTF-8 text with a header row",
           "json": "UTF-8 JSON lines (one object per line) or a JSON list of objects",
           "jsonl": "UTF-8 JSON lines (one object per line)"}


def root_cause(error: BaseException) -> BaseException:
    """The innermost ``__cause__``/``__context__`` of ``error``."""
    seen = {id(error)}
    while (nxt := error.__cause__ or error.__context__) is not None and id(nxt) not in seen:
        seen.add(id(nxt))
        error = nxt
    return error


def explain_table_error(fmt: str, files: Iterable[Path], error: BaseException) -> str:
    """What is wrong with the first bad file in ``files`` (else the underlying reader error), and what to do."""
    for path in files:
        problem = file_problem(Path(path), fmt)
        if problem:
            return f"{path} {problem} ({fmt} expects {_EXPECT.get(fmt, 'a table')})"
    cause = root_cause(error)
    return f"{type(cause).__name__}: {str(cause).strip() or cause!r}"


def file_problem(path: Path, fmt: str) -> str | None:
    """The first problem of ``path`` read as ``fmt``, as a phrase ("is not UTF-8 text: ..."), or ``None``."""
    problem = _text_problem(path)
    if problem is not None:
        return problem
    if fmt in _DELIMITERS:
        return _csv_problem(path, _DELIMITERS[fmt])
    if fmt in ("json", "jsonl"):
        return _json_problem(path)
    return None


def _text_problem(path: Path) -> str | None:
    with path.open("rb") as f:
        head = f.read(_SNIFF)
    if b"\x00" in head:
        return ("is not text (it has NUL bytes: a binary file such as an image, archive or parquet file); "
                "point the recipe at the text file, or set data.format to the file's real format")
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as e:
                return (f"is not UTF-8 text (line {number}: {e.reason}, byte 0x{raw[e.start]:02x}): "
                        "re-save it as UTF-8, or if it is not a text file set data.format to its real format")
    if not head.strip():
        return "is empty: it needs a header row naming the columns (e.g. text,label), then one row per example"
    return None


def _csv_problem(path: Path, delimiter: str) -> str | None:
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        header = next(reader, [])
        try:
            for row in reader:
                if row and len(row) != len(header):
                    return (f"line {reader.line_num} has {len(row)} field(s) but the header has {len(header)} "
                            f"({', '.join(header)}): quote fields that contain {delimiter!r}, or fix that row")
        except csv.Error as e:
            return f"is not valid CSV at line {reader.line_num}: {e}"
    return None


def _json_problem(path: Path) -> str | None:
    text = path.read_text(encoding="utf-8-sig")
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None
    else:
        if isinstance(whole, list) and not all(isinstance(r, dict) for r in whole):
            return "is a JSON list whose items are not all objects: write one {\"column\": value, ...} object per row"
        return None if isinstance(whole, list | dict) else "is JSON but not a list of objects or JSON lines"
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            return f"line {number} is not valid JSON ({e.msg} at column {e.colno})"
        if not isinstance(row, dict):
            return f"line {number} is not a JSON object: write one {{\"column\": value, ...}} object per line"
    return None
