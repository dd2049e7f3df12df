"""Knowledge distillation (``strategy: {type: distill}``): the KD loss, layer copies, the teacher cache, a real run."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from hubtune.backbones import build_backbone
from hubtune.distillation import (
    DistillObjective,
    check_compatible,
    encoder_layers,
    hidden_loss,
    kd_loss,
    select_layers,
)
from hubtune.errors import CheckpointError, RecipeError
from hubtune.heads import HEADS
from hubtune.model import TransferModel
from hubtune.recipe import BackboneConfig, HeadConfig
from hubtune.strategies.distill import DistillOptions


@pytest.fixture(scope="module")
def bert4_dir(tmp_path_factory: pytest.TempPathFactory, minilm_path: Path) -> Path:
    """A 4-layer, 32-wide BERT with all-MiniLM-L6-v2's real tokenizer (the teacher's architecture)."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    out = tmp_path_factory.mktemp("bert4")
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=128)).save_pretrained(out)
    AutoTokenizer.from_pretrained(minilm_path).save_pretrained(out)
    return out


def _model(folder: Path, labels: list[str], seed: int = 0) -> TransferModel:
    torch.manual_seed(seed)
    backbone = build_backbone(BackboneConfig(source="transformers", name=str(folder)))
    return TransferModel(backbone, HEADS.get("classification"), len(labels), labels, HeadConfig())


def _batch(model: TransferModel, texts: list[str], labels: list[int]) -> dict[str, torch.Tensor]:
    enc = model.preprocessing.tokenizer(texts, padding=True, return_tensors="pt")
    return {**enc, "labels": torch.tensor(labels)}


TEXTS = ["a gripping , funny film", "dull and far too long", "the plot is a mess", "wonderful acting throughout"]


def test_kd_loss_is_hintons_scaled_kl():
    s, t = torch.randn(5, 3), torch.randn(5, 3)
    p_t = F.softmax(t / 2.0, -1)
    expected = (p_t * (p_t.log() - F.log_softmax(s / 2.0, -1))).sum(-1).mean() * 4.0
    assert kd_loss(s, t, "single_label_classification", 2.0) == pytest.approx(float(expected), rel=1e-5)
    assert kd_loss(t, t, "single_label_classification", 2.0) == pytest.approx(0.0, abs=1e-6)
    assert float(kd_loss(s, t, "regression", 2.0)) == pytest.approx(float(F.mse_loss(s, t)))
    h = torch.randn(2, 4, 8)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    assert float(hidden_loss(h, h, mask)) == pytest.approx(0.0, abs=1e-6)
    noisy = h.clone()
    noisy[0, 2:] = -h[0, 2:]  # padding positions differ: masked out, so still zero
    assert float(hidden_loss(noisy, h, mask)) == pytest.approx(0.0, abs=1e-6)


def test_student_layers_are_copies_of_the_teachers(bert4_dir: Path):
    teacher = _model(bert4_dir, ["neg", "pos"], seed=1)
    student = _model(bert4_dir, ["neg", "pos"], seed=2)
    select_layers(student, teacher.net, [0, 3])
    _, _, kept = encoder_layers(student.net.base_model)
    _, _, source = encoder_layers(teacher.net.base_model)
    assert len(kept) == 2 and len(source) == 4 and student.net.config.num_hidden_layers == 2
    for mine, theirs in ((kept[0], source[0]), (kept[1], source[3])):
        for a, b in zip(mine.parameters(), theirs.parameters(), strict=True):
            assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()  # a copy, not shared storage
    assert all(p.requires_grad for p in student.parameters())
    assert len(student.blocks) == 4  # embeddings, 2 layers, pooler
    student(_batch(student, TEXTS, [1, 0, 0, 1]))  # runs with 2 layers


def test_teacher_outputs_are_cached_per_example(bert4_dir: Path):
    teacher = _model(bert4_dir, ["neg", "pos"], seed=1).eval()
    student = _model(bert4_dir, ["neg", "pos"], seed=2)
    opts = DistillOptions(teacher="t", alpha=0.7, hidden_weight=1.0)
    cached, plain = DistillObjective(teacher, opts, cache=True), DistillObjective(teacher, opts, cache=False)
    batch = _batch(student, TEXTS, [1, 0, 0, 1])
    student.eval().requires_grad_(False)
    first = cached(student, batch)
    assert cached.teacher_calls == 1 and cached.cache.misses == 4
    # the same rows reordered and padded to another length: all hits, same loss as without a cache
    order = [2, 0, 3, 1]
    moved = {k: v[order] for k, v in batch.items()}
    moved["input_ids"] = F.pad(moved["input_ids"], (0, 5))
    moved["attention_mask"] = F.pad(moved["attention_mask"], (0, 5))
    moved["token_type_ids"] = F.pad(moved["token_type_ids"], (0, 5))
    again = cached(student, moved)
    assert cached.teacher_calls == 1 and cached.cache.hits == 4
    assert float(again) == pytest.approx(float(plain(student, moved)), rel=1e-3)
    assert float(first) == pytest.approx(float(plain(student, batch)), rel=1e-3)


def test_kd_moves_the_student_toward_the_teacher(bert4_dir: Path):
    """alpha=1: only the teacher's soft targets train the student; its KL to the teacher falls."""
    teacher = _model(bert4_dir, ["neg", "pos"], seed=1).eval()
    torch.manual_seed(3)
    with torch.no_grad():  # a teacher with a clear opinion
        teacher.final_linear().weight.normal_(std=2.0)
    student = _model(bert4_dir, ["neg", "pos"], seed=2)
    select_layers(student, student.net, [0, 3])
    batch = _batch(student, TEXTS, [0, 0, 0, 0])  # labels the teacher does not share: ignored at alpha=1
    objective = DistillObjective(teacher, DistillOptions(teacher="t", alpha=1.0, temperature=1.0), cache=True)
    opt = torch.optim.Adam(student.parameters(), lr=3e-3)

    def kl() -> float:
        student.eval()
        with torch.no_grad():
            return float(kd_loss(student(batch), teacher(batch), "single_label_classification", 1.0))

    start = kl()
    student.train()
    for _ in range(25):
        opt.zero_grad()
        objective(student, batch).backward()
        opt.step()
    assert kl() < 0.2 * start
    assert objective.teacher_calls == 1  # the teacher ran once; 24 steps read the cache


def test_teacher_that_does_not_fit_is_refused(bert4_dir: Path, tiny_bert_dir: Path):
    teacher = _model(bert4_dir, ["neg", "pos"])
    with pytest.raises(CheckpointError, match="labels"):
        check_compatible(teacher, _model(bert4_dir, ["pos", "neg"]), DistillOptions(teacher="t"))
    with pytest.raises(CheckpointError, match="tokenizer"):  # this folder's word-level vocabulary differs
        check_compatible(teacher, _model(tiny_bert_dir, ["neg", "pos"]), DistillOptions(teacher="t"))


def test_distill_recipe_problems_are_reported_at_once(tiny_vision_recipe, tmp_path: Path):
    from hubtune.validation import recipe_from_dict

    bad = tiny_vision_recipe(tmp_path / "s", strategy={"type": "distill", "student_layers": [0, 1], "alpha": 0.5},
                             head={"type": "token_classification"})
    with pytest.raises(RecipeError) as err:
        recipe_from_dict(bad)
    text = str(err.value)
    assert "teacher is missing" in text
    assert "needs a transformers backbone" in text or "need a transformers backbone" in text
    assert "distill supports classification" in text
    with pytest.raises(RecipeError, match="increasing list"):
        recipe_from_dict(tiny_vision_recipe(tmp_path / "s", strategy={"type": "distill", "teacher": "x",
                                                                       "student_layers": [3, 1]}))


@pytest.mark.slow
def test_distilled_student_from_a_hub_teacher(bert4_dir: Path, tiny_text_recipe, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch):
    """Teacher trained, pushed to the local hub; a 2-layer student learns from the repo id and is a normal output."""
    from transformers import AutoModelForSequenceClassification

    from hubtune import api
    from hubtune.cli import main

    monkeypatch.setenv("HUBTUNE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    teacher = api.train(tiny_text_recipe(tmp_path / "teacher", backbone={"name": str(bert4_dir)}))
    api.push(teacher.output_dir, "me/teacher4")
    missing = tiny_text_recipe(tmp_path / "nope", backbone={"name": str(bert4_dir)},
                               strategy={"type": "distill", "teacher": str(tmp_path / "no-such-run")})
    with pytest.raises(CheckpointError, match="neither a folder nor a repo"):
        api.train(missing)
    assert not (tmp_path / "nope").exists()  # refused before anything was written
    recipe = tiny_text_recipe(tmp_path / "student", backbone={"name": str(bert4_dir)},
                              strategy={"type": "distill", "teacher": "me/teacher4", "student_layers": [0, 3],
                                        "hidden_weight": 1.0, "temperature": 2.0},
                              train={"epochs": 2})
    run = api.train(recipe)
    native = AutoModelForSequenceClassification.from_pretrained(run.output_dir)
    assert native.config.num_hidden_layers == 2
    meta = json.loads((run.output_dir / "hubtune.json").read_text())["strategy"]["distillation"]
    assert meta["teacher"] == "me/teacher4" and meta["teacher_layers"] == 4 and meta["student_layers"] == 2
    assert meta["teacher_params"] > meta["student_params"] == run.total_params
    rows = run.metrics["validation"]
    assert 0.0 <= rows["accuracy"] <= 1.0
    # 64 training rows, 2 epochs: the teacher saw each row once, the second epoch read the cache
    assert (meta["teacher_cache_misses"], meta["teacher_cache_hits"]) == (64, 64)
    card = (run.output_dir / "README.md").read_text()
    assert "| Distillation | `me/teacher4` (" in card and "4 layers) → student:" in card and "2 layers" in card
    assert main(["train", str(_write(recipe, tmp_path / "r.yaml")), "strategy.teacher=me/absent", "--overwrite"]) == 2


def _write(recipe: dict, path: Path) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(copy.deepcopy(recipe)))
    return path


@pytest.mark.slow
def test_logit_kd_from_a_timm_teacher_with_cached_pixels(trained_vision: Path, tiny_vision_recipe, tmp_path: Path):
    """Images: un-augmented data hits the teacher cache from the second epoch on; augmented data never does."""
    from hubtune import api

    recipe = tiny_vision_recipe(tmp_path / "kd", strategy={"type": "distill", "teacher": str(trained_vision),
                                                          "alpha": 0.9, "temperature": 3.0},
                                data={"augment": False}, train={"epochs": 2})
    meta = json.loads((api.train(recipe).output_dir / "hubtune.json").read_text())["strategy"]["distillation"]
    assert meta["teacher_cache"] is True and (meta["teacher_cache_misses"], meta["teacher_cache_hits"]) == (48, 48)
    assert meta["teacher_params"] == meta["student_params"]  # same architecture: KD without compression
    augmented = tiny_vision_recipe(tmp_path / "aug", strategy={"type": "distill", "teacher": str(trained_vision)})
    meta = json.loads((api.train(augmented).output_dir / "hubtune.json").read_text())["strategy"]["distillation"]
    assert meta["teacher_cache"] is False and "teacher_cache_hits" not in meta
