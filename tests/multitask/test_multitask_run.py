"""A real multi-task run (a tiny BERT on SST-2 + Amazon books): per-task metrics, card, exports, reload, CLI, hub."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from mt_helpers import text_tasks_recipe
from safetensors.torch import load_file

import hubtune
from hubtune.cli import main

TEXTS = ["a gripping , beautifully acted film .", "dull and far too long .", "I could not put this book down."]


@pytest.fixture(scope="module")
def text_run(tmp_path_factory, tiny_bert_dir, data_root):
    out = tmp_path_factory.mktemp("mt-text") / "out"
    recipe = text_tasks_recipe(out, tiny_bert_dir, multitask={"sampling": "round_robin"},
                               train={"epochs": 2, "trackers": ["tensorboard"]})
    return hubtune.train(recipe), tiny_bert_dir


def test_metrics_are_keyed_by_task_each_with_its_own_metrics(text_run) -> None:
    run, _ = text_run
    out = run.output_dir
    assert set(run.metrics) == {"sst2", "books"}
    assert set(run.metrics["sst2"]["validation"]) == {"loss", "accuracy", "f1"}
    assert set(run.metrics["books"]["validation"]) == {"loss", "accuracy", "f1", "precision"}
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["metrics"] == run.metrics
    assert doc["tasks"]["sst2"]["train_examples"] == 64 and doc["tasks"]["books"]["train_examples"] == 32
    assert doc["sampling"]["sampling"] == "round_robin" and doc["sampling"]["steps_per_epoch"] == 4 + 2
    epochs = [r for r in doc["history"] if r.get("split") == "validation"]
    assert len(epochs) == 2
    for row in epochs:  # the best epoch is picked on the mean accuracy over the tasks
        assert row["accuracy"] == pytest.approx((row["sst2/accuracy"] + row["books/accuracy"]) / 2)
    assert doc["best_value"] == max(r["accuracy"] for r in epochs)
    assert doc["selection"]["metric"] == "accuracy"
    train_rows = [r for r in doc["history"] if "train_loss" in r]
    assert train_rows and all({"train_loss/sst2", "train_loss/books"} <= set(r) for r in train_rows)  # round robin
    # each task's exported model scores what the run reported, on that task's own validation split
    again = hubtune.evaluate(out, "validation", task="books")
    assert again["accuracy"] == pytest.approx(run.metrics["books"]["validation"]["accuracy"])
    assert again["loss"] == pytest.approx(run.metrics["books"]["validation"]["loss"], abs=1e-5)


def test_tensorboard_has_each_tasks_curves(text_run) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run, _ = text_run
    events = EventAccumulator(str(next((run.output_dir / "runs").rglob("events.out.tfevents.*")).parent)).Reload()
    tags = set(events.Tags()["scalars"])
    assert {"validation/sst2/accuracy", "validation/books/precision", "validation/accuracy",
            "train/sst2/loss", "train/books/loss", "train/loss"} <= tags


def test_card_has_one_model_index_entry_per_task(text_run) -> None:
    from huggingface_hub import ModelCard

    run, _ = text_run
    card = ModelCard.load(run.output_dir / "README.md")
    results = card.data.eval_results
    assert {(r.task_name, r.dataset_split) for r in results} == {("sst2", "validation"), ("books", "validation")}
    for r in results:
        assert r.metric_value == pytest.approx(run.metrics[r.task_name]["validation"][r.metric_type])
    assert {r.dataset_name for r in results if r.task_name == "books"} == {"books.jsonl"}
    assert "## Tasks" in card.text and "`tasks/books/`" in card.text and "round_robin" in card.text
    assert 'subfolder="tasks/sst2"' in card.text


def test_each_task_folder_has_its_own_card_with_that_tasks_metrics(text_run) -> None:
    from huggingface_hub import ModelCard

    run, _ = text_run
    for task, other in (("sst2", "books"), ("books", "sst2")):
        card = ModelCard.load(run.output_dir / "tasks" / task / "README.md")
        results = card.data.eval_results
        assert {r.dataset_split for r in results} == {"validation"}
        assert {r.metric_type: r.metric_value for r in results} == pytest.approx(run.metrics[task]["validation"])
        assert card.data.pipeline_tag == "text-classification" and "multi-task" not in (card.data.tags or [])
        assert f"Task `{task}` of the multi-task run" in card.text and f"`{other}`" in card.text
        assert f'subfolder="tasks/{task}"' in card.text and "confusion_matrix.png" in card.text
        params = sum(t.numel() for t in load_file(run.output_dir / "tasks" / task / "model.safetensors").values())
        assert f"| Trainable parameters | {params:,} of {params:,} (100.00%) |" in card.text  # this task's model
        assert "trainable_params" not in card.text  # not the whole multi-task model's count


PLAIN = textwrap.dedent(
    """
    import json, sys
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    out = {}
    for folder in sys.argv[2:]:
        tok = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
        with torch.no_grad():
            logits = model(**tok(json.loads(sys.argv[1]), padding=True, truncation=True, return_tensors="pt")).logits
        out[folder] = logits.softmax(-1).tolist()
    assert not any(m.startswith("hubtune") for m in sys.modules), "hubtune was imported"
    print(json.dumps(out))
    """
)


def test_each_task_folder_loads_with_plain_transformers_and_predicts_the_same(text_run) -> None:
    run, bert_dir = text_run
    folders = [str(run.output_dir / "tasks" / t) for t in ("sst2", "books")]
    proc = subprocess.run([sys.executable, "-c", PLAIN, json.dumps(TEXTS), *folders], capture_output=True, text=True,
                          timeout=180, env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    plain = json.loads(proc.stdout.strip().splitlines()[-1])
    for task, folder in zip(("sst2", "books"), folders, strict=True):
        ours = hubtune.predict(run.output_dir, TEXTS, top_k=2, task=task)
        for probs, ranked in zip(plain[folder], ours, strict=True):
            assert {label: p for label, p in ranked} == pytest.approx({str(i): p for i, p in enumerate(probs)}, abs=1e-5)
    a, b = (load_file(str(Path(f) / "model.safetensors")) for f in folders)
    base = load_file(str(bert_dir / "model.safetensors"))
    shared = [k for k in a if k.startswith("bert.")]
    assert shared and all(torch.equal(a[k], b[k]) for k in shared)  # one backbone, trained by both tasks
    assert not torch.equal(a["bert.encoder.layer.0.attention.self.query.weight"],
                           base["encoder.layer.0.attention.self.query.weight"])
    assert not torch.equal(a["classifier.weight"], b["classifier.weight"])  # a head per task


def test_the_whole_model_reloads_from_one_safetensors(text_run) -> None:
    from hubtune.data import predict_inputs
    from hubtune.export import load_exported
    from hubtune.multitask import load

    run, _ = text_run
    state = load_file(str(run.output_dir / "model.safetensors"))
    assert {k.split(".")[0] for k in state} == {"backbone", "heads"}
    assert {k.split(".")[1] for k in state if k.startswith("heads.")} == {"sst2", "books"}
    model = load(run.output_dir)
    batch = predict_inputs(TEXTS, model.preprocessing)
    with torch.no_grad():
        for task in ("sst2", "books"):
            single = load_exported(run.output_dir / "tasks" / task).eval()
            assert torch.allclose(model({**batch, "task": task}), single(batch), atol=1e-6)
        assert not torch.allclose(model({**batch, "task": "sst2"}), model({**batch, "task": "books"}))


def test_cli_eval_and_predict_name_the_task(text_run, capsys) -> None:
    run, _ = text_run
    out = str(run.output_dir)
    assert main(["eval", out, "--split", "validation"]) == 0
    printed = capsys.readouterr().out
    assert "sst2/accuracy=" in printed and "books/precision=" in printed
    assert main(["predict", out, TEXTS[0]]) == 2
    assert "pass --task" in capsys.readouterr().err
    assert main(["predict", out, TEXTS[0], "--task", "sst2", "--top-k", "2"]) == 0
    assert TEXTS[0] in capsys.readouterr().out
    assert main(["eval", out, "--split", "validation", "--task", "nope"]) == 2
    assert "has the tasks sst2, books" in capsys.readouterr().err
    assert main(["export", out, "--format", "onnx"]) == 2  # whole-model tools name the per-task folders
    assert "holds a multi-task model (sst2, books): use one task's folder" in capsys.readouterr().err


HUB_LOADER = textwrap.dedent(
    """
    import json, sys
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    repo, task, texts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    tok = AutoTokenizer.from_pretrained(repo, subfolder=f"tasks/{task}")
    model = AutoModelForSequenceClassification.from_pretrained(repo, subfolder=f"tasks/{task}").eval()
    with torch.no_grad():
        probs = model(**tok(texts, padding=True, return_tensors="pt")).logits.softmax(-1)
    assert not any(m.startswith("hubtune") for m in sys.modules), "hubtune was imported"
    print(json.dumps(probs.tolist()))
    """
)


@pytest.fixture
def served_hub(tmp_path: Path):
    """A real ``hubtune hub serve`` on a free port, with one all-namespace token."""
    from hubtune.hub.users import TokenBook

    book = TokenBook()
    token = book.add("tester", ["*"])[0]
    book.save(tmp_path / "tokens.json")
    cmd = [sys.executable, "-m", "hubtune", "hub", "serve", "--root", str(tmp_path / "root"), "--port", "0",
           "--tokens-file", str(tmp_path / "tokens.json")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = proc.stdout.readline().split(" at ")[1].split()[0]
        yield url, token
    finally:
        proc.terminate()
        proc.wait(10)


def test_push_to_a_served_hub_then_plain_load_pull_and_fine_tune_a_task(text_run, tmp_path, monkeypatch,
                                                                         served_hub, tiny_text_recipe) -> None:
    from hub_helpers import online_client

    from hubtune.multitask import is_multitask

    run, _ = text_run
    url, token = served_hub
    monkeypatch.setenv("HF_TOKEN", token)
    with online_client():
        assert main(["push", str(run.output_dir), "me/sst2-books", "--hub", url]) == 0
        pulled = hubtune.pull("me/sst2-books", to=tmp_path / "pulled", hub=url)
        assert main(["push", str(run.output_dir / "tasks" / "books"), "me/books", "--hub", url]) == 0  # one task alone
        alone = hubtune.pull("me/books", to=tmp_path / "alone", hub=url)
    assert 'from_pretrained("me/books")' in (alone / "README.md").read_text()
    assert hubtune.predict(alone, TEXTS, top_k=2) == hubtune.predict(run.output_dir, TEXTS, top_k=2, task="books")
    env = {"PATH": "/usr/bin:/bin", "HF_ENDPOINT": url, "HF_TOKEN": token, "HF_HUB_DISABLE_XET": "1",
           "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    proc = subprocess.run([sys.executable, "-c", HUB_LOADER, "me/sst2-books", "books", json.dumps(TEXTS)],
                          capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    from_hub = json.loads(proc.stdout.strip().splitlines()[-1])
    ours = hubtune.predict(run.output_dir, TEXTS, top_k=2, task="books")
    for probs, ranked in zip(from_hub, ours, strict=True):
        assert {label: p for label, p in ranked} == pytest.approx({str(i): p for i, p in enumerate(probs)}, abs=1e-5)
    assert is_multitask(pulled) and (pulled / "tasks" / "books" / "model.safetensors").is_file()
    assert not (pulled / "checkpoints").exists()
    nxt = hubtune.train(tiny_text_recipe(tmp_path / "next", backbone={"name": str(pulled / "tasks" / "books")}))
    assert 0.0 <= nxt.metrics["validation"]["accuracy"] <= 1.0
    assert json.loads((tmp_path / "next" / "hubtune.json").read_text())["format"] == "transformers"
