"""PEFT adapters on transformers and timm (fused qkv): trainable share, export, plain-PEFT loading."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from hubtune.errors import RecipeError
from hubtune.export import export_model, load_exported
from hubtune.recipe import HeadConfig
from hubtune.strategies import build_strategy

LOAD_WITH_PLAIN_PEFT = textwrap.dedent("""
    import sys, timm, torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification
    bert_dir, vit_weights, out = sys.argv[1:4]
    batch = torch.load(out + "/batches.pt")
    base = AutoModelForSequenceClassification.from_pretrained(bert_dir, num_labels=3)
    bert = PeftModel.from_pretrained(base, out + "/bert/adapter").eval()
    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=3, img_size=32, weight_init="skip")
    vit.load_state_dict(load_file(vit_weights), strict=False)
    vit = PeftModel.from_pretrained(vit, out + "/vit/adapter").eval()
    with torch.no_grad():
        logits = {"bert": bert(input_ids=batch["bert"]["input_ids"], attention_mask=batch["bert"]["attention_mask"]).logits,
                  "vit": vit(batch["vit"]["pixel_values"])}
    assert not any(m.startswith("hubtune") for m in sys.modules)
    torch.save(logits, out + "/logits.pt")
""")


def perturb_trainable(model) -> None:
    """Stand-in for training: move every trainable parameter (LoRA B starts at zero)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=g) * 0.1)


def adapted(make_model, kind: str, options: dict):
    model = make_model(kind)
    s = build_strategy("peft", options)
    s.setup(model)
    groups = s.param_groups(model, 1e-3, 0.01, 10.0)
    assert sum(p.numel() for g in groups for p in g["params"]) == model.count_parameters()[0]
    return model, s


@pytest.mark.parametrize(("kind", "options"), [
    ("bert", {"config": {"r": 4}}),
    ("bert", {"method": "ia3"}),
    ("vit", {}),
])
def test_trainable_share_and_head(make_model, kind, options):
    model, s = adapted(make_model, kind, options)
    info = s.describe()
    assert 0 < info["trainable_share"] < 0.05 and info["head_trainable"]
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    head = [n for n in names if "modules_to_save" in n or n.startswith("head.")]
    assert head and len(head) < len(names)
    if kind == "vit":
        assert all(".attn.qkv." in n for n in names if n not in head)


def test_timm_without_linear_layers_asks_for_targets(make_model):
    with pytest.raises(RecipeError, match="target_modules"):
        build_strategy("peft", {}).setup(make_model("resnet18"))


def test_adapters_load_with_plain_peft_and_merge(make_model, batch_for, tiny_bert_dir: Path, tmp_path: Path):
    vit_base = make_model("vit")
    vit_weights = tmp_path / "vit_base.safetensors"
    save_file({k: v.contiguous() for k, v in vit_base.backbone.state_dict().items()}, str(vit_weights))
    batches, expected = {}, {}
    for kind, options in (("bert", {"config": {"r": 4}}), ("vit", {})):
        model, s = adapted(make_model, kind, options)
        perturb_trainable(model)
        model.eval()
        batches[kind] = batch_for(model)
        with torch.no_grad():
            expected[kind] = model(batches[kind])
        out = tmp_path / kind
        record = s.export(model, out)
        assert record["adapter"] == "adapter" and (out / "adapter" / "adapter_config.json").exists()
        assert not any("lora" in n for n, _ in model.named_parameters())  # merged: native again
        export_model(model, out, HeadConfig())
        merged = load_exported(out).eval()
        with torch.no_grad():
            torch.testing.assert_close(merged(batches[kind]), expected[kind], atol=1e-5, rtol=1e-4)
    assert json.loads((tmp_path / "vit" / "config.json").read_text())["architecture"] == "vit_tiny_patch16_224"
    torch.save(batches, tmp_path / "batches.pt")
    subprocess.run([sys.executable, "-c", LOAD_WITH_PLAIN_PEFT, str(tiny_bert_dir), str(vit_weights), str(tmp_path)],
                   check=True, timeout=300)
    logits = torch.load(tmp_path / "logits.pt")
    for kind in ("bert", "vit"):
        torch.testing.assert_close(logits[kind], expected[kind], atol=1e-5, rtol=1e-4)
