"""Models trained and pushed by hubtune load with plain timm and transformers from the served hub.

The outputs of real hubtune runs are pushed with the ``hubtune push`` CLI; the loading side runs in
a fresh ``python`` that never imports hubtune, with only ``HF_ENDPOINT`` (and ``HF_TOKEN`` for the
private repo) pointing at the server, and compares against the same files read from the local folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from hubtune.cli import main

LOADER = textwrap.dedent(
    """
    import sys
    import torch, timm
    from transformers import AutoModelForSequenceClassification
    vision_dir, text_dir = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    hub_vit = timm.create_model("hf-hub:dave/trained-vision", pretrained=True).eval()
    local_vit = timm.create_model(f"local-dir:{vision_dir}", pretrained=True).eval()
    hub_bert = AutoModelForSequenceClassification.from_pretrained("dave/trained-text").eval()
    local_bert = AutoModelForSequenceClassification.from_pretrained(text_dir).eval()
    image = torch.randn(2, *hub_vit.pretrained_cfg["input_size"])
    ids = torch.randint(0, hub_bert.config.vocab_size, (2, 12))
    with torch.no_grad():
        assert torch.equal(hub_vit(image), local_vit(image))
        assert torch.equal(hub_bert(input_ids=ids).logits, local_bert(input_ids=ids).logits)
    assert hub_vit.num_classes == local_vit.num_classes > 1
    assert not any(m.startswith("hubtune") for m in sys.modules), "hubtune was imported"
    print("LOADED-OK", hub_vit.num_classes, hub_bert.config.num_labels)
    """
)


@pytest.mark.slow
def test_plain_libraries_load_models_pushed_by_hubtune(trained_vision, trained_text, hub_server, monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    assert main(["push", str(trained_vision), "dave/trained-vision", "--hub", hub_server.url]) == 0
    assert main(["push", str(trained_text), "dave/trained-text", "--hub", hub_server.url, "--private"]) == 0
    run = subprocess.run(
        [sys.executable, "-c", LOADER, str(trained_vision), str(trained_text)],
        env=hub_server.env,
        cwd=trained_vision.parent,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0 and "LOADED-OK" in run.stdout, run.stdout[-2000:] + run.stderr[-4000:]
    labels = json.loads((trained_text / "config.json").read_text())["id2label"]
    assert run.stdout.split()[-1] == str(len(labels))
