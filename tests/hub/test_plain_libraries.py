"""Models pushed with hubtune load with plain timm and transformers from the served hub.

The loading side runs in a fresh ``python`` without hubtune imported, with only ``HF_ENDPOINT``
(and ``HF_TOKEN`` for the private repo) pointing at the server.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from hubtune.hub import push

LOADER = textwrap.dedent(
    """
    import sys
    import numpy as np, torch, timm
    from transformers import AutoModelForSequenceClassification
    work = sys.argv[1]
    torch.manual_seed(0)
    vit = timm.create_model("hf-hub:dave/tiny-vit", pretrained=True).eval()
    bert = AutoModelForSequenceClassification.from_pretrained("dave/tiny-bert").eval()
    with torch.no_grad():
        a = vit(torch.from_numpy(np.load(f"{work}/image.npy"))).numpy()
        b = bert(input_ids=torch.from_numpy(np.load(f"{work}/ids.npy"))).logits.numpy()
    np.testing.assert_allclose(a, np.load(f"{work}/vit_logits.npy"), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b, np.load(f"{work}/bert_logits.npy"), rtol=1e-5, atol=1e-5)
    assert not any(m.startswith("hubtune") for m in sys.modules), "hubtune was imported"
    print("LOADED-OK")
    """
)


@pytest.mark.slow
def test_timm_and_transformers_load_pushed_models(hub_server, tmp_path: Path) -> None:
    import timm
    import torch
    from timm.models._hub import save_for_hf
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    vit = timm.create_model("test_vit", pretrained=False, num_classes=3).eval()
    cfg = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, vocab_size=100)
    bert = BertForSequenceClassification(cfg.__class__(**cfg.to_dict(), num_labels=3)).eval()
    image = torch.randn(2, 3, *vit.pretrained_cfg["input_size"][1:])
    ids = torch.randint(0, 100, (2, 12))
    with torch.no_grad():
        np.save(tmp_path / "vit_logits.npy", vit(image).numpy())
        np.save(tmp_path / "bert_logits.npy", bert(input_ids=ids).logits.numpy())
    np.save(tmp_path / "image.npy", image.numpy())
    np.save(tmp_path / "ids.npy", ids.numpy())
    save_for_hf(vit, tmp_path / "vit", safe_serialization=True)
    bert.save_pretrained(tmp_path / "bert")
    assert not list((tmp_path / "bert").glob("*.bin"))

    push(tmp_path / "vit", "dave/tiny-vit", hub=hub_server.url, token=hub_server.token)
    push(tmp_path / "bert", "dave/tiny-bert", hub=hub_server.url, token=hub_server.token, private=True)

    run = subprocess.run(
        [sys.executable, "-c", LOADER, str(tmp_path)],
        env=hub_server.env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0 and "LOADED-OK" in run.stdout, run.stdout[-2000:] + run.stderr[-4000:]
