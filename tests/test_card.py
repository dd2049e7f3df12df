"""Model cards: front matter from ModelCardData, parse-back offline, merge, no secrets."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from hubtune.card import CardInfo, merge_with_existing, redact, render_card, write_card

TOKEN = "hf_TestTokenDoNotLeak0123456789abcdef"


def _info(**kw) -> CardInfo:
    base = {
        "model_name": "effnet-ants-bees",
        "family": "timm",
        "base_model": "hf-hub:timm/tf_efficientnet_lite0.in1k",
        "base_model_path_is_local": False,
        "task": "classification",
        "pipeline_tag": "image-classification",
        "modality": "image",
        "dataset": "/data/hymenoptera",
        "dataset_info": {"splits": {"train": 244, "validation": 153}, "format": "imagefolder"},
        "labels": ["ants", "bees"],
        "strategy": "lp-ft",
        "strategy_options": {"probe_epochs": 2},
        "trainable_params": 2_562,
        "total_params": 3_373_634,
        "hyperparameters": {"lr": 3e-4, "epochs": 5, "batch_size": 32},
        "metrics": {"validation": {"accuracy": 0.9216, "f1": 0.9211}, "test": {"accuracy": 0.9, "loss": 0.31}},
        "curves_image": "training_curves.png",
        "confusion_image": "confusion_matrix.png",
        "hubtune_version": "0.1.0",
        "trust_remote_code": False,
        "notes": ["trained on a small dataset"],
        "extra": {},
    }
    return CardInfo(**{**base, **kw})


def test_card_parses_back_with_model_index(tmp_path: Path) -> None:
    info = _info()
    path = write_card(tmp_path, info, repo_id="me/effnet-ants-bees")
    assert path == tmp_path / "README.md"
    card = ModelCard.load(path)
    data = card.data
    assert data.library_name == "timm" and data.pipeline_tag == "image-classification"
    assert data.base_model == "timm/tf_efficientnet_lite0.in1k"
    assert "hubtune" in data.tags and data.model_name == "effnet-ants-bees"
    assert "model-index" in data.to_dict()
    got = {(r.dataset_split, r.metric_type): r.metric_value for r in data.eval_results}
    want = {(s, m): v for s, values in info.metrics.items() for m, v in values.items()}
    assert got == pytest.approx(want)
    assert {r.task_type for r in data.eval_results} == {"image-classification"}
    text = card.text
    for needle in (
        "## Evaluation",
        "| accuracy | 0.9216 | 0.9000 |",
        "![Training curves](training_curves.png)",
        'timm.create_model("hf-hub:me/effnet-ants-bees"',
        "2,562 of 3,373,634 (0.08%)",
        "| `lr` | 0.0003 |",
        "hubtune 0.1.0",
        "trained on a small dataset",
    ):
        assert needle in text, needle
    assert "/data" not in text  # local paths are shown by name only


@pytest.mark.parametrize(
    ("kw", "library", "needles"),
    [
        (
            {
                "family": "transformers",
                "base_model": "prajjwal1/bert-tiny",
                "modality": "text",
                "pipeline_tag": "text-classification",
                "dataset": "stanfordnlp/sst2",
            },
            "transformers",
            ['AutoModelForSequenceClassification.from_pretrained("me/m")', "datasets/stanfordnlp/sst2"],
        ),
        (
            {
                "family": "transformers",
                "base_model": "prajjwal1/bert-tiny",
                "modality": "text",
                "task": "token_classification",
                "pipeline_tag": "token-classification",
                "labels": ["O", "B-PER", "I-PER"],
            },
            "transformers",
            ['pipeline("token-classification", model="me/m"', "AutoModelForTokenClassification"],
        ),
        (
            {
                "family": "transformers",
                "base_model": "prajjwal1/bert-tiny",
                "modality": "text",
                "extra": {"adapter": "peft"},
            },
            "peft",
            ['PeftModel.from_pretrained(base, "me/m")', 'from_pretrained("prajjwal1/bert-tiny", num_labels=2'],
        ),
        (
            {"family": "timm", "task": "regression", "pipeline_tag": "", "labels": None},
            "timm",
            ["real value per input", 'timm.create_model("hf-hub:me/m"'],
        ),
        (
            {
                "family": "custom",
                "base_model": "/models/x.pth",
                "base_model_path_is_local": True,
                "notes": ["head is an MLP: loads with hubtune only"],
            },
            None,
            ["hubtune pull me/m", "head is an MLP", "a local checkpoint (`x.pth`)"],
        ),
    ],
)
def test_task_families_and_loaders(kw: dict, library: str | None, needles: list[str]) -> None:
    card = render_card(_info(**kw), repo_id="me/m")
    assert card.data.library_name == library
    for needle in needles:
        assert needle in card.text, needle
    if kw.get("base_model_path_is_local"):
        assert card.data.base_model is None
    if kw.get("dataset") == "stanfordnlp/sst2":
        assert card.data.datasets == ["stanfordnlp/sst2"]


def test_no_token_or_secret_in_card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", TOKEN + "2")
    info = _info(
        hyperparameters={"lr": 1e-3, "hub_token": TOKEN, "max_tokens": 128, "nested": {"db_password": "pa55word!"}},
        extra={"auth": {"secret_key": "s3cr3t-value"}, "note": f"pushed with {TOKEN}", "other": TOKEN + "2"},
        strategy_options={"api_key": "abcd1234"},
        notes=[f"token was {TOKEN}"],
        dataset=f"https://user:{TOKEN}@example.com/data",
    )
    text = write_card(tmp_path, info, repo_id="me/m").read_text()
    for secret in (TOKEN, "pa55word!", "s3cr3t-value", "abcd1234"):
        assert secret not in text
    assert "| `max_tokens` | 128 |" in text  # numbers under token-like keys are not secrets


def test_redact_is_a_copy() -> None:
    original = {"token": "x1234", "items": [{"password": "p"}], "n": 1}
    assert redact(original) == {"token": "***", "items": [{"password": "***"}], "n": 1}
    assert original["token"] == "x1234"


def test_merge_keeps_user_sections_and_yaml(tmp_path: Path) -> None:
    first = write_card(tmp_path, _info(), repo_id="me/m")
    card = ModelCard.load(first)
    card.data.tags = [*card.data.tags, "my-tag"]
    card.data.license = "mit"
    card.data.language = ["en"]
    card.data.my_key = {"keep": True}
    card.text = "# My intro\n\nWritten by hand.\n\n" + card.text + "\n## Acknowledgements\n\nThanks, bees.\n"
    first.write_text(str(card))

    second = ModelCard.load(write_card(tmp_path, _info(metrics={"validation": {"accuracy": 0.95}}), repo_id="me/m"))
    assert second.data.license == "mit" and second.data.language == ["en"] and second.data.my_key == {"keep": True}
    assert "my-tag" in second.data.tags and "hubtune" in second.data.tags
    assert [(r.metric_type, r.metric_value) for r in second.data.eval_results] == [("accuracy", 0.95)]
    text = second.text
    assert text.index("Written by hand.") < text.index("# effnet-ants-bees") < text.index("Thanks, bees.")
    assert text.count("<!-- hubtune:begin") == 1 and "| accuracy | 0.9500 |" in text and "0.9216" not in text


def test_merge_without_markers_appends_and_none_passes_through() -> None:
    new = render_card(_info(), repo_id="me/m")
    assert merge_with_existing(new, None) is new
    user = ModelCard("---\nlicense: apache-2.0\nbase_model: old/base\n---\n# Hand-written card\n")
    merged = merge_with_existing(new, user)
    assert merged.text.startswith("# Hand-written card") and "<!-- hubtune:end -->" in merged.text
    assert merged.data.license == "apache-2.0" and merged.data.base_model == "timm/tf_efficientnet_lite0.in1k"


def test_non_finite_metrics_are_left_out_of_model_index() -> None:
    card = render_card(_info(metrics={"validation": {"accuracy": 0.5, "pearson": math.nan}}))
    assert [r.metric_type for r in card.data.eval_results] == ["accuracy"]
    assert "| pearson | — |" in card.text and "<namespace>/effnet-ants-bees" in card.text


def test_template_dir_overrides_by_name(tmp_path: Path) -> None:
    (tmp_path / "image_classification.md").write_text(
        '{% extends "_base.md" %}{% block summary %}Custom summary for {{ title }}.{% endblock %}'
    )
    card = render_card(_info(), template_dir=tmp_path)
    assert "Custom summary for effnet-ants-bees." in card.text and "## Evaluation" in card.text
