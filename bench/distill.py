"""Distillation and compact-export evidence: ``python -m bench.distill --seeds 3`` or ``--from-json``.

SST-2 (4,000 training sentences, dev 872, test 1,821): the teacher is all-MiniLM-L6-v2 fine-tuned with
``recipes/distill/sst2-teacher.yaml``; per seed, a 2-layer student (layers 0 and 5) is distilled from it
(``sst2-student.yaml``) and the same student is fine-tuned alone (``sst2-student-alone.yaml``). Every
model is then exported with ``hubtune export --format onnx --quantize int8``, which measures CPU latency
per example (batch 1, one thread) and the int8 model's accuracy and agreement on dev. One thread per
process, one run at a time; runs already in ``results/distill.json`` are skipped.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

from bench.machine import describe, machine, run_hubtune

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "distill.json"
WORK = ROOT / "outputs" / "bench-distill"
COMMON = ["train.trackers=[]", "train.keep_checkpoints=1"]
RECIPES = {"teacher": "recipes/distill/sst2-teacher.yaml", "distilled": "recipes/distill/sst2-student.yaml",
           "alone": "recipes/distill/sst2-student-alone.yaml"}
LABELS = {"teacher": "teacher (6 layers)", "distilled": "student, distilled (2 layers)",
          "alone": "student, no teacher (2 layers)"}


def _hubtune(*args: str) -> float:
    return run_hubtune(ROOT, *args)


def run_one(role: str, seed: int) -> dict[str, Any]:
    """Train one model (unless its folder is complete), export it, and read both reports."""
    out = WORK / ("teacher" if role == "teacher" else f"{role}-{seed}")
    extra = [f"strategy.teacher={WORK / 'teacher'}"] if role == "distilled" else []
    wall = None
    if not (out / "hubtune.json").exists():
        wall = _hubtune("train", RECIPES[role], f"seed={seed}", f"output_dir={out}", *COMMON, *extra, "--overwrite")
    _hubtune("export", str(out), "--format", "onnx", "--quantize", "int8", "--max-samples", "1000")
    metrics = json.loads((out / "metrics.json").read_text())
    compact = json.loads((out / "onnx" / "compact.json").read_text())["models"]
    return {"role": role, "seed": seed, "validation_accuracy": metrics["metrics"]["validation"]["accuracy"],
            "test_accuracy": metrics["metrics"]["test"]["accuracy"], "params": metrics["total_params"],
            "train_wall_s": round(wall, 1) if wall else None, "compact": compact, "machine": machine()}


def _mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{100 * values[0]:.1f}"
    return f"{100 * statistics.mean(values):.1f} ± {100 * statistics.pstdev(values):.1f}"


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}"


def render(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of ``results/distill.md``, from the per-run rows alone."""
    by_role: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_role.setdefault(row["role"], []).append(row)
    seeds = len({r["seed"] for r in rows if r["role"] != "teacher"})
    lines = ["# Distillation and compact export (SST-2, all-MiniLM-L6-v2)", "",
             f"Command: `python -m bench.distill --seeds {seeds}` (render only: `--from-json`). Teacher: "
             "`recipes/distill/sst2-teacher.yaml`; students: `sst2-student.yaml` (distilled: layers 0 and 5 of the "
             "teacher, T=2, alpha=0.5, hidden-state cosine) and `sst2-student-alone.yaml` (the same layers of "
             "pretrained MiniLM, cross-entropy only). Accuracy: mean ± std over seeds (n below) on SST-2 dev (872) and "
             "test (1,821). Latency: median ms per example at batch size 1, one CPU thread (`hubtune export`).", "",
             "| model | n | dev acc. (%) | test acc. (%) | parameters | PyTorch ms | ONNX ms | int8 ms | "
             "int8 MB (fp32 MB) | int8 dev acc. change (points) | int8 agreement (%) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for role in ("teacher", "distilled", "alone"):
        runs = by_role.get(role)
        if not runs:
            continue
        c = [r["compact"] for r in runs]
        change = [100 * (x["onnx-int8"]["accuracy"] - x["pytorch"]["accuracy"]) for x in c]
        lines.append(
            f"| {LABELS[role]} | {len(runs)} | {_mean_std([r['validation_accuracy'] for r in runs])} | "
            f"{_mean_std([r['test_accuracy'] for r in runs])} | {runs[0]['params']:,} | "
            f"{_ms([x['pytorch']['latency_ms'] for x in c])} | {_ms([x['onnx']['latency_ms'] for x in c])} | "
            f"{_ms([x['onnx-int8']['latency_ms'] for x in c])} | "
            f"{c[0]['onnx-int8']['size_mb']:.1f} ({c[0]['onnx']['size_mb']:.1f}) | "
            f"{statistics.mean(change):+.2f} | {100 * statistics.mean(x['onnx-int8']['agreement'] for x in c):.2f} |")
    machines = [r["machine"] for r in rows]
    hw = {**machines[0], "load1": [m["load1"] for m in machines]} if machines else {}
    lines += ["", f"Measured on: {describe(hw)} (shared with other jobs: latencies are upper bounds)." if hw else ""]
    return "\n".join(lines).rstrip() + "\n"


def _save(rows: list[dict[str, Any]]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    for path, text in ((RESULTS, json.dumps(rows, indent=1) + "\n"), (RESULTS.with_suffix(".md"), render(rows))):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)


def main(argv: list[str]) -> None:
    import torch

    torch.set_num_threads(1)  # what the runs use (OMP_NUM_THREADS=1), so machine() records it
    if "--from-json" in argv:
        _save(json.loads(RESULTS.read_text()))
        return
    seeds = int(argv[argv.index("--seeds") + 1]) if "--seeds" in argv else 1
    rows = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    done = {(r["role"], r["seed"]) for r in rows}
    plan = [("teacher", 0)] + [(role, s) for s in range(seeds) for role in ("distilled", "alone")]
    for role, seed in plan:
        if (role, seed) in done:
            continue
        rows.append(run_one(role, seed))
        _save(rows)
        print(f"{role} seed {seed}: dev {rows[-1]['validation_accuracy']:.4f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
