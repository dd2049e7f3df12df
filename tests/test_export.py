"""Artifacts load with plain timm / transformers in a process that never imports hubtune."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hubtune.inference import predict
from hubtune.shared_data import shared_data

PLAIN_TIMM = """
import json, sys
import timm, torch
from PIL import Image
out, images = sys.argv[1], sys.argv[2:]
model = timm.create_model(f"local-dir:{out}", pretrained=True).eval()
cfg = timm.data.resolve_data_config({}, model=model)
tf = timm.data.create_transform(**cfg)
x = torch.stack([tf(Image.open(p).convert("RGB")) for p in images])
with torch.no_grad():
    probs = model(x).softmax(-1)
labels = model.pretrained_cfg.get("label_names")
assert "hubtune" not in sys.modules
print(json.dumps({"probs": probs.tolist(), "labels": labels}))
"""

PLAIN_TRANSFORMERS = """
import json, sys
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
out, texts = sys.argv[1], sys.argv[2:]
model = AutoModelForSequenceClassification.from_pretrained(out).eval()
tok = AutoTokenizer.from_pretrained(out)
with torch.no_grad():
    probs = model(**tok(texts, padding=True, return_tensors="pt")).logits.softmax(-1)
assert "hubtune" not in sys.modules
print(json.dumps({"probs": probs.tolist(), "labels": [model.config.id2label[i] for i in range(probs.shape[1])]}))
"""


def run_plain(code: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300,
                          env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _probs_by_label(ranked: list[tuple[str, float]]) -> dict[str, float]:
    return dict(ranked)


def test_timm_artifacts_load_without_hubtune(trained_vision: Path):
    out = trained_vision
    for name in ["model.safetensors", "config.json", "README.md", "recipe.yaml", "metrics.json", "hubtune.json"]:
        assert (out / name).is_file(), name
    assert not list(out.glob("*.bin")) and not list(out.glob("*.pt*"))
    config = json.loads((out / "config.json").read_text())
    assert config["architecture"] == "resnet18" and config["num_classes"] == 2
    images = sorted(str(p) for p in (shared_data("hymenoptera") / "val" / "bees").glob("*.jpg"))[:3]
    plain = run_plain(PLAIN_TIMM, str(out), *images)
    assert plain["labels"] == ["ants", "bees"]
    ours = predict(out, images, top_k=2)
    for row, ranked in zip(plain["probs"], ours, strict=True):
        mine = _probs_by_label(ranked)
        for label, p in zip(plain["labels"], row, strict=True):
            assert mine[label] == pytest.approx(p, abs=1e-5)


def test_transformers_artifacts_load_without_hubtune(trained_text: Path):
    out = trained_text
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert config["id2label"] == {"0": "0", "1": "1"}
    assert (out / "tokenizer.json").exists() or (out / "vocab.txt").exists()
    texts = ["a wonderful, moving film", "dull and lifeless", "it is a movie"]
    plain = run_plain(PLAIN_TRANSFORMERS, str(out), *texts)
    ours = predict(out, texts, top_k=2)
    for row, ranked in zip(plain["probs"], ours, strict=True):
        mine = _probs_by_label(ranked)
        for label, p in zip(plain["labels"], row, strict=True):
            assert mine[label] == pytest.approx(p, abs=1e-5)
