"""The image input path on the CPU: ``python -m bench.image_path [--images N]`` or ``--from-json``.

On real hymenoptera JPEGs (about 500×375) with the shipped vision recipe's model (ImageNet EfficientNet-Lite0,
224 px), one process each: images/s for (1) full JPEG decode, (2) reduced-scale (draft) decode as the eval
transform does, (3) decode + the timm training augmentation, (4) decode + the eval transform, (5) the model alone
on tensors: full fine-tune step (forward + backward + fused AdamW) and linear-probe forward, batch 16; and (6) a
cached linear probe end to end (``hubtune train recipes/vision/hymenoptera.yaml strategy.type=linear_probe
strategy.cache_features=true``): the first epoch's rate (backbone runs) vs the second's (cached features).
Writes ``results/image-path.json`` and ``.md``; ``--from-json`` only re-renders.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from bench.machine import describe, machine, save_results

RESULTS = Path(__file__).resolve().parent / "results" / "image-path.json"


def _rate(fn: Any, items: list[Any]) -> float:
    t0 = time.perf_counter()
    for item in items:
        fn(item)
    return len(items) / (time.perf_counter() - t0)


def loader_rates(files: list[Path]) -> dict[str, float]:
    from hubtune.backbones import build_backbone
    from hubtune.data.vision import open_image, vision_transform
    from hubtune.recipe import BackboneConfig

    pre = build_backbone(BackboneConfig(source="timm", name="tf_efficientnet_lite0", pretrained=False)).preprocessing
    train, evaluation = vision_transform(pre, training=True), vision_transform(pre, training=False)
    return {
        "decode_full": _rate(lambda f: open_image(str(f), "RGB").load(), files),
        "decode_draft": _rate(lambda f: open_image(str(f), "RGB", evaluation.draft).load(), files),
        "decode_train_augment": _rate(lambda f: train({"image": [str(f)]}), files),
        "decode_eval_transform": _rate(lambda f: evaluation({"image": [str(f)]}), files),
    }


def model_rates(steps: int) -> dict[str, float]:
    import timm

    model = timm.create_model("tf_efficientnet_lite0", num_classes=2)
    x, y = torch.randn(16, 3, 224, 224), torch.randint(0, 2, (16,))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    model.train()
    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    full = steps * 16 / (time.perf_counter() - t0)
    model.eval()
    with torch.no_grad():
        model(x)
        t0 = time.perf_counter()
        for _ in range(steps):
            model(x)
    return {"model_full_finetune_step": full, "model_probe_forward": steps * 16 / (time.perf_counter() - t0)}


def cached_probe(epochs: int = 2) -> dict[str, Any]:
    from hubtune.run import train
    from hubtune.validation import load_recipe

    with tempfile.TemporaryDirectory(prefix="hubtune-image-path-") as out:
        recipe = load_recipe("recipes/vision/hymenoptera.yaml", [
            "strategy.type=linear_probe", "strategy.cache_features=true", f"train.epochs={epochs}",
            f"output_dir={out}", "train.trackers=[]", "train.log_every=1"])
        t0 = time.perf_counter()
        train(recipe, overwrite=True)
        wall = time.perf_counter() - t0
        history = json.loads(Path(out, "metrics.json").read_text())["history"]
    rates = {e: [r["samples_per_s"] for r in history if "samples_per_s" in r and r["epoch"] == e] for e in range(epochs)}
    mean = {e: sum(v[1:] or v) / len(v[1:] or v) for e, v in rates.items() if v}  # first window: loader start-up
    return {"epoch1_images_per_s": mean[0], "epoch2_images_per_s": mean[1], "speedup": mean[1] / mean[0],
            "wall_s": wall}


def render(doc: dict[str, Any]) -> str:
    r, c = doc["rates"], doc["cached_probe"]
    rows = [("full JPEG decode", r["decode_full"]), ("reduced-scale (draft) decode, as eval does", r["decode_draft"]),
            ("decode + timm training augmentation", r["decode_train_augment"]),
            ("decode + eval transform (draft)", r["decode_eval_transform"]),
            ("model: full fine-tune step, batch 16, fused AdamW", r["model_full_finetune_step"]),
            ("model: linear-probe forward, batch 16", r["model_probe_forward"])]
    lines = ["# The image input path on the CPU (hymenoptera JPEGs, EfficientNet-Lite0 at 224 px)", "",
             f"Command: `python -m bench.image_path --images {doc['images']}` (re-render: `--from-json`). "
             "One process, one thread per stage as measured; images per second.", "",
             "| stage | images/s |", "|---|---:|"]
    lines += [f"| {name} | {value:.1f} |" for name, value in rows]
    lines += ["", f"Cached linear probe end to end (`strategy.cache_features: true`, trains on un-augmented images): "
              f"epoch 1 {c['epoch1_images_per_s']:.1f} images/s (backbone runs), epoch 2 "
              f"{c['epoch2_images_per_s']:.1f} images/s (cached features): **{c['speedup']:.1f}×**; "
              f"{c['wall_s']:.0f} s for 2 epochs with validation.", "",
              f"Machine: {describe(doc['machine'])}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from hubtune.shared_data import shared_data

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=60)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--from-json", action="store_true")
    args = p.parse_args(argv)
    doc = None
    if not args.from_json:
        files = sorted(shared_data("hymenoptera", "train").rglob("*.jpg"))[: args.images]
        doc = {"images": len(files), "rates": {**loader_rates(files), **model_rates(args.steps)},
               "cached_probe": cached_probe(), "machine": machine()}
    save_results(RESULTS, doc, render)


if __name__ == "__main__":
    main()
