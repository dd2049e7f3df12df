"""The head contract: dense heads declare their hooks (``HeadSpec.dense``), plain heads have none, and the
shared modules (validation, data) drive a third-party dense head through them."""

from __future__ import annotations

from typing import Any

import pytest

import hubtune
from hubtune.contracts import DenseHooks, HeadSpec, Preprocessing
from hubtune.heads import HEADS, mlp_head
from hubtune.recipe import DataConfig
from tiny_recipes import TINY_MLP


class ToyHooks(DenseHooks):
    def recipe_problems(self, recipe: Any) -> list[str]:
        return [f"head.type: toy_dense refuses data.format {recipe.data.format!r}"]

    def build_data(self, cfg: Any, preprocessing: Any, *, seed: int, splits: Any = ("train",),
                   train_transforms: bool = True) -> Any:
        return ("toy bundle", cfg.format, seed, tuple(splits))


@pytest.fixture
def toy_head():
    spec = HeadSpec("toy_dense", mlp_head, "semantic_segmentation", "", "image-segmentation", ("miou",),
                    lambda *a, **k: None, lambda x: x, dense=ToyHooks())
    HEADS.register("toy_dense", spec)
    try:
        yield spec
    finally:
        HEADS._entries.pop("toy_dense")


def test_plain_heads_have_no_dense_hooks_and_dense_heads_declare_them():
    for name in ("classification", "multilabel", "regression", "token_classification"):
        assert HEADS.get(name).dense is None
    for name in ("semantic_segmentation", "object_detection"):
        hooks = HEADS.get(name).dense
        assert isinstance(hooks, DenseHooks)
        assert type(hooks).prepare is not DenseHooks.prepare and type(hooks).export is not DenseHooks.export


def test_validation_and_data_call_a_third_party_heads_declared_hooks(toy_head):
    problems = hubtune.validate({**TINY_MLP, "head": {"type": "toy_dense"}})
    assert "head.type: toy_dense refuses data.format 'digits'" in problems
    bundle = hubtune.data.build_data(DataConfig(format="digits"), Preprocessing("vector"), toy_head, seed=3,
                                     splits=("train",))
    assert bundle == ("toy bundle", "digits", 3, ("train",))


def test_required_hooks_left_out_fail_loudly():
    with pytest.raises(NotImplementedError):
        DenseHooks().prepare(None, 2, None)  # type: ignore[arg-type]
    assert DenseHooks().recipe_problems(None) == [] and DenseHooks().card_extra(None, None, {}, None) == {}  # type: ignore[arg-type]
