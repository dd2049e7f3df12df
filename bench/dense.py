"""Dense-prediction evidence: ``python -m bench.dense [RUN ...] [--seeds N]`` or ``--from-json``.

CamVid validation mIoU (void ignored) of ``recipes/segmentation/camvid.yaml`` (U-Net on EfficientNet-Lite0,
128x160, the recipe's epochs) from ImageNet weights vs random init, and a frozen encoder (linear_probe) or a LoRA
adapter on it (peft) vs a full fine-tune; wall time per run; ``--seeds N`` runs seeds 0..N-1. Each run is one ``hubtune train`` process; the trained model is then loaded by
plain ``smp.from_pretrained`` in a process that never imports hubtune, and its predictions compared with
hubtune's. Writes ``results/dense.json`` (runs already there are skipped) and ``results/dense.md``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.machine import describe, machine

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "bench" / "results"
RESULTS = HERE / "dense.json"
RECIPE = "recipes/segmentation/camvid.yaml"
COMMON = ["train.keep_checkpoints=1"]
RUNS = {
    "imagenet-full": [],
    "random-full": ["backbone.weights=null", "backbone.pretrained=false"],
    "imagenet-linear_probe": ["strategy.type=linear_probe"],
    "imagenet-lora": ["strategy.type=peft"],  # LoRA r=8 on the encoder's ungrouped convolutions, decoder trained
    "raccoon-imagenet-full": [],
    "raccoon-random-full": ["backbone.weights=null", "backbone.pretrained=false"],
}
DETECTION_RECIPE = "recipes/detection/raccoon.yaml"
PLAIN = """
import sys, json, numpy as np, torch, segmentation_models_pytorch as smp
from PIL import Image
assert not any(m.startswith("hubtune") for m in sys.modules)
folder, size, mean, std, images = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4]), sys.argv[5:]
model = smp.from_pretrained(folder).eval()
out = []
for path in images:
    im = Image.open(path).convert("RGB")
    x = torch.from_numpy(np.asarray(im.resize((size[1], size[0]), Image.BILINEAR), dtype=np.float32) / 255)
    x = ((x - torch.tensor(mean)) / torch.tensor(std)).permute(2, 0, 1)[None]
    with torch.no_grad():
        out.append(model(x).argmax(1)[0].tolist())
print(json.dumps({"hubtune_imported": any(m.startswith("hubtune") for m in sys.modules), "preds": out}))
"""


def plain_agreement(folder: Path, count: int = 5) -> float:
    """Share of pixels where plain smp (subprocess, no hubtune) and hubtune's loaded model agree."""
    import torch

    from hubtune.export import load_exported
    from hubtune.shared_data import shared_data

    model = load_exported(folder).eval()
    pre = model.preprocessing.data_config
    images = sorted((shared_data() / "camvid" / "validation" / "images").iterdir())[:count]
    from PIL import Image

    from hubtune.dense.data import build_transform

    transform = build_transform(tuple(pre["input_size"][-2:]), pre["mean"], pre["std"], training=False)
    with torch.no_grad():
        ours = [model({"pixel_values": transform(Image.open(p).convert("RGB")).as_subclass(torch.Tensor)[None]})
                .argmax(1)[0] for p in images]
    args = [str(folder), json.dumps(list(pre["input_size"][-2:])), json.dumps(list(pre["mean"])),
            json.dumps(list(pre["std"])), *map(str, images)]
    proc = subprocess.run([sys.executable, "-c", PLAIN, *args], capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])  # smp prints a line of its own first
    if result["hubtune_imported"]:
        raise RuntimeError("the plain smp process imported hubtune")
    theirs = [torch.tensor(p) for p in result["preds"]]
    return float(sum((a == b).float().mean() for a, b in zip(ours, theirs, strict=True)) / len(ours))


def run_one(name: str, seed: int = 0) -> dict:
    from hubtune.shared_data import shared_data

    out = Path(tempfile.mkdtemp(prefix=f"hubtune-bench-dense-{name}-{seed}-"))
    recipe = DETECTION_RECIPE if name.startswith("raccoon") else RECIPE
    cmd = [sys.executable, "-m", "hubtune", "train", recipe, f"output_dir={out}", f"seed={seed}", *COMMON, *RUNS[name],
           "--overwrite"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "HUBTUNE_DATA": str(shared_data()), "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - t0
    if proc.returncode:
        return {"run": name, "seed": seed, "error": proc.stderr[-800:], "wall_s": round(wall, 1)}
    m = json.loads((out / "metrics.json").read_text())
    val = m["metrics"]["validation"]
    if name.startswith("raccoon"):
        return {"run": name, "task": "detection", "map_50": val["map_50"], "map": val["map"], "map_75": val["map_75"],
                "best_epoch": m["best_epoch"], "trainable_params": m["trainable_params"],
                "total_params": m["total_params"], "wall_s": round(wall, 1), "seed": seed, "overrides": COMMON + RUNS[name],
                "machine": machine(), "omp_threads": os.environ.get("OMP_NUM_THREADS")}
    return {"run": name, "miou": val["miou"], "pixel_accuracy": val["pixel_accuracy"],
            "per_class_iou": {k[4:]: v for k, v in val.items() if k.startswith("iou_")},
            "best_epoch": m["best_epoch"], "trainable_params": m["trainable_params"],
            "total_params": m["total_params"], "wall_s": round(wall, 1), "seed": seed, "overrides": COMMON + RUNS[name],
            "plain_smp_pixel_agreement": plain_agreement(out), "machine": machine(),
            "omp_threads": os.environ.get("OMP_NUM_THREADS")}


def render(rows: list[dict]) -> str:
    seeds = len({r.get("seed", 0) for r in rows})
    lines = ["# Dense prediction: CamVid semantic segmentation", "",
             f"`python -m bench.dense --seeds {seeds}` (render only: `--from-json`) — `{RECIPE}` (U-Net, `tu-tf_efficientnet_lite0` encoder, "
             "128×160 input, the recipe's epochs; a run takes 3–10 minutes here on one thread), validation split "
             "(101 images, the same for every seed: the seed changes the initialisation of what is not pretrained, "
             "the augmentations and the batch order), void ignored. "
             "Plain smp agreement: share of pixels where `smp.from_pretrained(folder)` in a process that never "
             "imports hubtune predicts what hubtune's loaded model predicts (5 validation images).", "",
             "| run | mIoU | pixel accuracy | best epoch | trainable params | wall (s) | plain smp agreement |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    seg = sorted([r for r in rows if r.get("task") != "detection"], key=lambda r: (r["run"], r.get("seed", 0)))
    for r in seg:
        name = f"{r['run']} (seed {r.get('seed', 0)})"
        if "error" in r:
            lines.append(f"| {name} | failed | | | | {r['wall_s']} | |")
            continue
        lines.append(f"| {name} | {100 * r['miou']:.1f} | {100 * r['pixel_accuracy']:.1f} | {r['best_epoch']} | "
                     f"{r['trainable_params']:,} | {r['wall_s']:.0f} | {100 * r['plain_smp_pixel_agreement']:.2f} % |")
    lines += _seed_summary([r for r in seg if "miou" in r])
    det = [r for r in rows if r.get("task") == "detection"]
    if det:
        lines += ["", "## Object detection: raccoon", "",
                  f"`{DETECTION_RECIPE}` (torchvision FCOS + FPN on `tf_efficientnet_lite0`, 192×192, the recipe's "
                  "epochs), validation = 20 % of the 160 images carved with the run's seed (32 images, a different "
                  "carve per seed).", "",
                  "| run | mAP@50 | mAP | mAP@75 | best epoch | trainable params | wall (s) |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for r in sorted(det, key=lambda r: (r["run"], r.get("seed", 0))):
            lines.append(f"| {r['run']} (seed {r.get('seed', 0)}) | {100 * r['map_50']:.1f} | {100 * r['map']:.1f} | {100 * r['map_75']:.1f} | "
                         f"{r['best_epoch']} | {r['trainable_params']:,} | {r['wall_s']:.0f} |")
        lines += ["", "| run | seeds | mAP@50 mean ± std | mAP mean ± std |", "|---|---:|---:|---:|"]
        for name in dict.fromkeys(r["run"] for r in det):
            m50 = [100 * r["map_50"] for r in det if r["run"] == name]
            m = [100 * r["map"] for r in det if r["run"] == name]
            lines.append(f"| {name} | {len(m50)} | {statistics.mean(m50):.1f} ± {_std(m50):.1f} | "
                         f"{statistics.mean(m):.1f} ± {_std(m):.1f} |")
    machines = sorted({describe(r["machine"]) for r in rows if "machine" in r})
    lines += ["", "Measured on: " + "; ".join(machines) + "."] if machines else []
    return "\n".join(lines) + "\n"


def _seed_summary(seg: list[dict]) -> list[str]:
    """Mean ± sample std over the seeds of each segmentation run, and its mean wall time."""
    if not seg:
        return []
    lines = ["", "| run | seeds | mIoU mean ± std | pixel accuracy mean ± std | wall (s) mean |", "|---|---:|---:|---:|---:|"]
    for name in dict.fromkeys(r["run"] for r in seg):
        miou = [100 * r["miou"] for r in seg if r["run"] == name]
        acc = [100 * r["pixel_accuracy"] for r in seg if r["run"] == name]
        wall = [r["wall_s"] for r in seg if r["run"] == name]
        lines.append(f"| {name} | {len(miou)} | {statistics.mean(miou):.1f} ± {_std(miou):.1f} | "
                     f"{statistics.mean(acc):.1f} ± {_std(acc):.1f} | {statistics.mean(wall):.0f} |")
    return lines


def _std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def main(argv: list[str]) -> None:
    rows = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    seeds = int(argv[argv.index("--seeds") + 1]) if "--seeds" in argv else 1
    if "--from-json" not in argv:
        for seed in range(seeds):
            for name in [a for a in argv if a in RUNS] or list(RUNS):
                key = (name, seed)
                if any((r["run"], r.get("seed", 0)) == key and ("miou" in r or "map_50" in r) for r in rows):
                    continue
                row = run_one(name, seed)
                print(json.dumps({k: v for k, v in row.items() if k not in ("overrides", "per_class_iou")}), flush=True)
                rows = [r for r in rows if (r["run"], r.get("seed", 0)) != key] + [row]
                RESULTS.write_text(json.dumps(rows, indent=1) + "\n")
    md = HERE / "dense.md"
    tmp = md.with_suffix(".md.tmp")
    tmp.write_text(render(rows))
    tmp.replace(md)


if __name__ == "__main__":
    main(sys.argv[1:])
