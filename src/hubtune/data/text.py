"""Text → token ids: one batched ``datasets.map`` per split (cached), no padding at map time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import datasets

from hubtune.data.labels import LabelEncoder
from hubtune.errors import DataError


def _texts(values: list[Any]) -> list[str]:
    return ["" if v is None else str(v) for v in values]


@dataclass
class Tokenize:
    """Batched map function: ``text`` (+ ``text_pair``) and ``label`` → input ids and ``labels``."""

    tokenizer: Any
    max_length: int
    encoder: LabelEncoder | None = None

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        pair = _texts(batch["text_pair"]) if "text_pair" in batch else None
        out = dict(self.tokenizer(_texts(batch["text"]), pair, truncation=True, max_length=self.max_length))
        if self.encoder is not None and "label" in batch:
            out["labels"] = [self.encoder(v) for v in batch["label"]]
        return out


@dataclass
class TokenizeWords:
    """Batched map function for token classification: labels on each word's first sub-token, else -100."""

    tokenizer: Any
    max_length: int
    encoder: LabelEncoder

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        words = [_texts(row) for row in batch["tokens"]]
        enc = self.tokenizer(words, is_split_into_words=True, truncation=True, max_length=self.max_length)
        labels = []
        for i, tags in enumerate(batch["tags"]):
            ids, previous, row = self.encoder(tags), None, []
            for word in enc.word_ids(i):
                row.append(-100 if word is None or word == previous else ids[word])
                previous = word
            labels.append(row)
        out = dict(enc)
        out["labels"] = labels
        return out


def empty_texts(table: datasets.Dataset, columns: tuple[str, ...] = ("text", "text_pair")) -> dict[str, list[int]]:
    """Row numbers (from 1) whose text is missing or blank, per text column of ``table`` that has any."""
    found = {}
    for column in (c for c in columns if c in table.column_names):
        rows = [i + 1 for i, v in enumerate(table[column]) if v is None or not str(v).strip()]
        if rows:
            found[column] = rows
    return found


def tokenize_table(table: datasets.Dataset, tokenizer: Any, max_length: int, encoder: LabelEncoder | None,
                   split: str, words: bool = False) -> datasets.Dataset:
    """Tokenize ``table`` once (``datasets`` caches the result); only model inputs and ``labels`` remain."""
    if tokenizer is None:
        raise DataError("the backbone gave no tokenizer for text data (preprocessing.tokenizer is None)")
    if words and not getattr(tokenizer, "is_fast", False):
        raise DataError("token classification needs a fast tokenizer (word_ids()); use a model with tokenizer.json")
    fn: Any = TokenizeWords(tokenizer, max_length, encoder) if words else Tokenize(tokenizer, max_length, encoder)
    return table.map(fn, batched=True, remove_columns=table.column_names, desc=f"Tokenizing {split}")
