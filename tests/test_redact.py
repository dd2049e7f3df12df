"""The one redactor: values masked, never key substrings."""

from __future__ import annotations

import pytest

from hubtune import card
from hubtune.redact import MASK, is_secret_field, redact, scrub


@pytest.mark.parametrize("name", ["token", "hf_token", "hub_token", "access_token", "api_key", "apiKey", "password",
                                  "client_secret", "secret", "credentials", "AWS_SECRET_KEY"])
def test_secret_fields_are_masked(name: str) -> None:
    assert is_secret_field(name)
    assert redact({name: "value-1"}, secrets=[]) == {name: MASK}


@pytest.mark.parametrize("name", ["tokens", "tokenizer", "num_virtual_tokens", "max_tokens", "pad_token",
                                  "eos_token", "tokenizer_name", "key", "image_key", "monkey", "max_length"])
def test_ordinary_fields_are_kept(name: str) -> None:
    assert not is_secret_field(name)
    assert redact({name: "value-1"}, secrets=[]) == {name: "value-1"}


def test_token_classification_columns_survive() -> None:
    recipe = {"data": {"columns": {"tokens": "words", "labels": "ner_tags"}},
              "backbone": {"tokenizer": "bert-base-cased"}, "strategy": {"num_virtual_tokens": 20}}
    assert redact(recipe, secrets=[]) == recipe


def test_values_of_secret_env_vars_are_masked_anywhere(monkeypatch) -> None:
    monkeypatch.setenv("MY_API_KEY", "k-0123456789abcdef")
    monkeypatch.setenv("DB_PASSWORD", "correct horse battery")
    monkeypatch.setenv("LANG_NAME", "not-a-secret-value")  # name does not look secret
    text = "key k-0123456789abcdef pw correct horse battery lang not-a-secret-value"
    assert scrub(text) == "key *** pw *** lang not-a-secret-value"
    assert redact({"description": text, "n": 3})["description"] == scrub(text)


def test_token_patterns_are_masked_without_env() -> None:
    token = "hf_" + "Ab1" * 12
    assert scrub(f"push with {token}.", secrets=[]) == "push with ***."
    assert scrub("hth_" + "x9" * 20, secrets=[]) == MASK


def test_the_card_uses_the_same_redactor() -> None:
    assert card.redact is redact and card.scrub is scrub
