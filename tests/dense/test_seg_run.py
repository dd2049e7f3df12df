"""Semantic segmentation end to end on real CamVid with the real ImageNet EfficientNet-Lite0 (PyPI) encoder:
train, streamed metrics, smp export loaded by plain smp in a process that never imports hubtune, card, eval,
predict; and the frozen-encoder strategy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import hubtune
from hubtune.cli import main

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "segmentation" / "camvid.yaml"
SMALL = {"train": {"epochs": 1, "batch_size": 4, "log_every": 1}, "seed": 0,
         "data": {"image_size": 64, "max_train_samples": 8, "max_eval_samples": 4}}


def _train(out: Path, **extra) -> hubtune.run.RunResult:
    recipe = hubtune.load_recipe(RECIPE, {**SMALL, "output_dir": str(out), **extra})
    return hubtune.train(recipe, overwrite=True)


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_root):
    return _train(tmp_path_factory.mktemp("seg") / "out")


def test_prepare_puts_the_imagenet_weights_into_the_smp_encoder(data_root):
    from hubtune.backbones import build_backbone
    from hubtune.dense.segmentation import SEGMENTATION

    recipe = hubtune.load_recipe(RECIPE)
    backbone = build_backbone(recipe.backbone)
    expected = {k: v.clone() for k, v in backbone.module.state_dict().items()}
    encoder, head = SEGMENTATION.dense.prepare(backbone, 11, recipe.head)
    got = encoder.module.model.state_dict()
    assert len(got) > 200 and all(torch.equal(got[k], expected[k]) for k in got)
    logits = head(encoder.module(torch.randn(2, 3, 64, 96)))
    assert logits.shape == (2, 11, 64, 96)
    fpn_encoder, fpn = SEGMENTATION.dense.prepare(backbone, 11, recipe.head.model_copy(update={"decoder": "fpn"}))
    assert encoder.info["smp"]["arch"] == "unet" and fpn_encoder.info["smp"]["arch"] == "fpn"
    assert fpn(fpn_encoder.module(torch.randn(1, 3, 64, 96))).shape == (1, 11, 64, 96)


def test_run_writes_metrics_card_and_smp_layout(run):
    out = run.output_dir
    val = run.metrics["validation"]
    assert 0.0 <= val["miou"] <= 1.0 and 0.0 < val["pixel_accuracy"] <= 1.0
    assert any(k.startswith("iou_") for k in val)
    saved = json.loads((out / "metrics.json").read_text())["metrics"]["validation"]
    assert saved["miou"] == pytest.approx(val["miou"])
    config = json.loads((out / "config.json").read_text())
    assert config["_model_class"] == "Unet" and config["encoder_name"] == "tu-tf_efficientnet_lite0"
    card = (out / "README.md").read_text()
    assert "## Segmentation" in card and "| road |" in card and "Ignore index | `11`" in card
    assert "name: miou" in card and "smp.from_pretrained" in card
    picture = Image.open(out / "predictions_overlay.png")
    assert picture.width == 3 * 240 and "predictions_overlay.png" in card


PLAIN = """
import sys, json, numpy as np, torch, segmentation_models_pytorch as smp
from PIL import Image
folder, path, rows, cols = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
model = smp.from_pretrained(folder).eval()
im = Image.open(path).convert("RGB").resize((cols, rows), Image.BILINEAR)
x = (torch.from_numpy(np.asarray(im, dtype=np.float32) / 255) - 0.5) / 0.5
with torch.no_grad():
    logits = model(x.permute(2, 0, 1)[None])
np.save(sys.argv[5], logits.numpy())
print(json.dumps(sorted(m for m in sys.modules if m.startswith("hubtune"))))
"""


def test_plain_smp_loads_the_export_and_predicts_the_same(run, data_root, tmp_path):
    """The card's recipe (PIL resize, mean/std 0.5) in a process without hubtune == hubtune's loaded model."""
    from hubtune.dense.data import build_transform
    from hubtune.dense.overlay import segment
    from hubtune.export import load_exported

    image = sorted((data_root / "camvid" / "validation" / "images").iterdir())[0]
    proc = subprocess.run([sys.executable, "-c", PLAIN, str(run.output_dir), str(image), "64", "96",
                           str(tmp_path / "plain.npy")], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]"  # hubtune was never imported
    plain = torch.from_numpy(np.load(tmp_path / "plain.npy"))
    model = load_exported(run.output_dir)
    assert model.preprocessing.data_config["input_size"][-2:] == [64, 96]
    pre = model.preprocessing.data_config
    pixels = build_transform((64, 96), pre["mean"], pre["std"], training=False)(Image.open(image).convert("RGB"))
    with torch.no_grad():
        logits = model({"pixel_values": pixels.as_subclass(torch.Tensor)[None]})
    assert torch.allclose(logits, plain, atol=1e-4)  # same preprocessing, same weights, same network
    ours, _ = segment(model, Image.open(image))
    theirs = torch.nn.functional.interpolate(plain, size=(180, 240), mode="bilinear").argmax(1)[0].numpy()
    assert (ours == theirs).mean() > 0.999  # full-size masks: a near-tie pixel may round either way


def test_eval_and_predict_on_the_output_folder(run, data_root, tmp_path, capsys):
    again = hubtune.evaluate(run.output_dir, split="validation")
    assert again["miou"] == pytest.approx(run.metrics["validation"]["miou"], abs=1e-6)
    images = [str(p) for p in sorted((data_root / "camvid" / "validation" / "images").iterdir())[:2]]
    assert main(["predict", str(run.output_dir), *images, "--out", str(tmp_path / "p")]) == 0
    assert "predictions.json" in capsys.readouterr().out
    result = json.loads((tmp_path / "p" / "predictions.json").read_text())
    row = result["predictions"][0]
    mask = np.asarray(Image.open(tmp_path / "p" / row["mask"]))
    assert mask.shape == (180, 240) and mask.max() <= 10
    assert sum(c["pixel_share"] for c in row["classes"].values()) == pytest.approx(1.0, abs=1e-3)
    assert Image.open(tmp_path / "p" / row["overlay"]).size == (240, 180)
    hubtune.predict_masks(run.output_dir, images[:1], tmp_path / "q", threshold=0.99)
    strict = np.asarray(Image.open(tmp_path / "q" / row["mask"]))
    assert (strict == 255).mean() > (mask == 255).mean()  # low-score pixels left unlabelled
    assert main(["predict", str(run.output_dir), str(tmp_path / "missing.jpg")]) == 2


def test_linear_probe_trains_the_decoder_on_a_frozen_imagenet_encoder(tmp_path, data_root):
    from hubtune.backbones import build_backbone

    result = _train(tmp_path / "lp", strategy={"type": "linear_probe"})
    pretrained = build_backbone(hubtune.load_recipe(RECIPE).backbone).module.state_dict()
    from safetensors.torch import load_file

    saved = load_file(str(result.output_dir / "model.safetensors"))
    conv = "encoder.model.conv_stem.weight"
    assert torch.equal(saved[conv], pretrained["conv_stem.weight"])  # the encoder did not move
    assert result.trainable_params < result.total_params / 2
    assert "miou" in result.metrics["validation"]


def test_lp_ft_switches_from_frozen_encoder_to_everything(tmp_path, data_root):
    """A phased strategy runs unchanged on the dense model: epoch 1 probes, epoch 2 trains the encoder too."""
    from safetensors.torch import load_file

    from hubtune.backbones import build_backbone

    result = _train(tmp_path / "lpft", strategy={"type": "lp_ft", "probe_epochs": 1},
                    train={**SMALL["train"], "epochs": 2}, data={**SMALL["data"], "max_train_samples": 4},
                    eval={"keep_best": False})  # the last epoch's weights, not a probe epoch's best
    pretrained = build_backbone(hubtune.load_recipe(RECIPE).backbone).module.state_dict()
    saved = load_file(str(result.output_dir / "model.safetensors"))
    assert not torch.equal(saved["encoder.model.conv_stem.weight"], pretrained["conv_stem.weight"])
    assert result.trainable_params == result.total_params


def test_peft_lora_adapts_the_smp_encoder_and_saves_a_plain_adapter(tmp_path, data_root):
    """LoRA on the encoder's ungrouped convolutions: the merged export is plain smp, and ``adapter/`` applied by
    plain peft to an smp model holding the pretrained encoder gives the same network."""
    import segmentation_models_pytorch as smp
    from peft import PeftModel
    from safetensors.torch import load_file

    from hubtune.backbones import build_backbone
    from hubtune.dense.segmentation import copy_encoder_weights

    result = _train(tmp_path / "lora", strategy={"type": "peft", "method": "lora", "config": {"r": 4, "lora_alpha": 8}},
                    train={**SMALL["train"], "lr": 1e-2})
    out = result.output_dir
    assert result.trainable_params < result.total_params / 2 and "miou" in result.metrics["validation"]
    pretrained = build_backbone(hubtune.load_recipe(RECIPE).backbone).module
    saved = load_file(str(out / "model.safetensors"))
    ref = pretrained.state_dict()
    assert torch.equal(saved["encoder.model.blocks.1.0.conv_dw.weight"], ref["blocks.1.0.conv_dw.weight"])  # frozen
    assert not torch.equal(saved["encoder.model.blocks.1.0.conv_pw.weight"], ref["blocks.1.0.conv_pw.weight"])  # merged LoRA
    assert json.loads((out / "hubtune.json").read_text())["strategy"]["adapter"] == "adapter"

    base = smp.create_model("unet", encoder_name="tu-tf_efficientnet_lite0", encoder_weights=None, classes=11)
    copy_encoder_weights(base.encoder, pretrained)
    adapted = PeftModel.from_pretrained(base, str(out / "adapter")).merge_and_unload().eval()
    merged = smp.from_pretrained(str(out)).eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.allclose(adapted(x), merged(x), atol=1e-4)
