"""Strategy benchmark: ``python -m bench.strategies [task ...] [strategy ...] [--seeds N]`` or ``--from-json``.

Runs ``hubtune train`` sequentially (2-core machine: small runs), records each run in
``results/strategies.json`` (runs already there are skipped) and rewrites ``results/strategies.md`` from it;
``--from-json`` only rewrites the Markdown (what ``make bench-results`` runs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.machine import machine
from bench.strategies_md import render

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "bench" / "results"
RESULTS = HERE / "strategies.json"

COMMON = {  # CPU-sized: every strategy x 3 seeds fits in about an hour on 2 cores
    "hymenoptera": ["train.epochs=2", "train.trackers=[]", "data.num_workers=1", "train.keep_checkpoints=1"],
    "sst2": ["data.max_train_samples=2000", "data.max_eval_samples=500", "data.max_length=64", "train.epochs=2",
             "train.group_by_length=true", "train.trackers=[]", "train.keep_checkpoints=1"],
}
RUNS = {  # strategy name -> extra overrides per task (higher LR where only a head / adapter trains)
    "full": {"hymenoptera": [], "sst2": []},
    "linear_probe": {"hymenoptera": ["train.lr=1e-3", "train.head_lr_mult=1", "strategy.cache_features=true",
                                     "data.augment=false"], "sst2": ["train.lr=5e-3"]},
    "lp_ft": {"hymenoptera": ["strategy.probe_epochs=1", "strategy.probe_lr_mult=1"],
              "sst2": ["strategy.probe_epochs=1", "strategy.probe_lr_mult=50"]},
    "layer_decay": {"hymenoptera": ["strategy.decay=0.8"], "sst2": ["strategy.decay=0.8"]},
    "gradual_unfreeze": {"hymenoptera": ["strategy.blocks_per_stage=3"], "sst2": ["strategy.blocks_per_stage=3"]},
    "l2_sp": {"hymenoptera": ["strategy.alpha=0.01"], "sst2": ["strategy.alpha=0.01"]},
    "bitfit": {"hymenoptera": ["train.lr=1e-3", "train.head_lr_mult=1"], "sst2": ["train.lr=1e-3"]},
    "peft": {"hymenoptera": ["train.lr=1e-3", "train.head_lr_mult=1", "strategy.target_modules=[conv_pw,conv_pwl]"],
             "sst2": ["train.lr=2e-3", "strategy.target_modules=[query,key,value,dense]"]},
    "wise_ft": {"hymenoptera": [], "sst2": []},
}
RECIPES = {"hymenoptera": "recipes/vision/hymenoptera.yaml", "sst2": "recipes/nlp/sst2.yaml"}


def run_one(task: str, strategy: str, seed: int) -> dict:
    from hubtune.shared_data import shared_data

    out = Path(tempfile.mkdtemp(prefix=f"hubtune-bench-{task}-{strategy}-{seed}-"))
    cmd = [sys.executable, "-m", "hubtune", "train", RECIPES[task], f"strategy.type={strategy}", f"seed={seed}",
           f"output_dir={out}", *COMMON[task], *RUNS[strategy][task], "--overwrite"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "HUBTUNE_DATA": str(shared_data()), "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - t0
    if proc.returncode:
        return {"task": task, "strategy": strategy, "seed": seed, "error": proc.stderr[-800:], "wall_s": wall}
    m = json.loads((out / "metrics.json").read_text())
    test = m["metrics"].get("test", {}).get("accuracy")
    return {"task": task, "strategy": strategy, "seed": seed, "accuracy": m["metrics"]["validation"]["accuracy"],
            "test_accuracy": test,
            "trainable_params": m["trainable_params"], "total_params": m["total_params"], "wall_s": round(wall, 1),
            "overrides": COMMON[task] + RUNS[strategy][task], "machine": machine(),
            "omp_threads": os.environ.get("OMP_NUM_THREADS")}


def write_markdown(rows: list[dict]) -> None:
    md = HERE / "strategies.md"
    tmp = md.with_suffix(".md.tmp")
    tmp.write_text(render(rows, RUNS))
    tmp.replace(md)


def main(argv: list[str]) -> None:
    if "--from-json" in argv:
        write_markdown(json.loads(RESULTS.read_text()))
        return
    seeds = int(argv[argv.index("--seeds") + 1]) if "--seeds" in argv else 1
    tasks = [a for a in argv if a in RECIPES] or ["sst2", "hymenoptera"]
    strategies = [a for a in argv if a in RUNS] or list(RUNS)
    rows = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    for seed in range(seeds):
        for task in tasks:
            for strategy in strategies:
                if any(r["task"] == task and r["strategy"] == strategy and r["seed"] == seed and "accuracy" in r for r in rows):
                    continue
                row = run_one(task, strategy, seed)
                print(json.dumps({k: v for k, v in row.items() if k != "overrides"}), flush=True)
                rows = [r for r in rows if (r["task"], r["strategy"], r["seed"]) != (task, strategy, seed)] + [row]
                RESULTS.write_text(json.dumps(rows, indent=1))
                write_markdown(rows)


if __name__ == "__main__":
    main(sys.argv[1:])
