"""``hubtune search`` evidence: ``python -m bench.search --task hymenoptera|sst2 [--trials N] [--epochs E]``.

Runs ``recipes/search/<task>-lr-strategy.yaml`` (hymenoptera: ImageNet EfficientNet-Lite0, lr and strategy; SST-2:
all-MiniLM-L6-v2, lr and full vs LoRA; TPE seeded) twice as real ``hubtune search`` processes: with the recipe's
median pruner and with ``search.pruner.type=none``. Trial 0 of each study is the shipped recipe's own values (``enqueue_base``), so
"best of N vs shipped" is read from one study. Records per search: trials by state, the shipped recipe's
accuracy, the best accuracy and its values, and the wall time. Writes ``results/search.json`` and ``.md``;
``--from-json`` only re-renders the Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.machine import describe, machine

RESULTS = Path(__file__).resolve().parent / "results" / "search.json"
RECIPES = {"hymenoptera": "recipes/search/hymenoptera-lr-strategy.yaml", "sst2": "recipes/search/sst2-lr-strategy.yaml"}
# A task's extra overrides: SST-2 on a 2,000-sentence subset so a trial takes minutes on 2 cores.
EXTRA = {"hymenoptera": [], "sst2": ["data.max_train_samples=2000"]}
REPO = Path(__file__).resolve().parents[1]


def run_search(task: str, pruner: str, trials: int, epochs: int) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix=f"hubtune-search-{task}-{pruner}-"))
    overrides = [f"search.n_trials={trials}", f"train.epochs={epochs}", "train.trackers=[]", *EXTRA[task]]
    if pruner == "none":
        overrides.append("search.pruner.type=none")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "hubtune", "search", RECIPES[task], *overrides, f"output_dir={out}"],
                          cwd=REPO, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"hubtune search failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    summary = json.loads((out / "search.json").read_text())
    rows = [r for r in _csv(out / "trials.csv")]
    shipped = next((r for r in rows if r.get("note") == "recipe defaults"), rows[0])
    return {"task": task, "recipe": RECIPES[task], "overrides": overrides, "trials": len(rows),
            "pruner": "median" if pruner != "none" else "none", "states": summary["states"],
            "shipped_accuracy": _num(shipped.get("value")), "best_accuracy": summary["best"]["value"],
            "best_params": summary["best"]["params"], "wall_s": round(wall, 1), "epochs": epochs,
            "machine": machine()}


def _csv(path: Path) -> list[dict[str, str]]:
    import csv

    with path.open() as f:
        return list(csv.DictReader(f))


def _num(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def render(doc: dict[str, Any]) -> str:
    lines = ["# hubtune search: best of N vs the shipped recipe", "",
             "Command: `python -m bench.search --task hymenoptera --trials 4 --epochs 2` and `--task sst2 --trials 4 "
             "--epochs 2` (re-render: `python -m bench.search --from-json`). TPE with seed 0; trial 0 of each study "
             "is the shipped recipe's own values; the same search is run with the recipe's median pruner and "
             "without pruning.", ""]
    for task, runs in doc["tasks"].items():
        r0 = runs[0]
        lines += [f"## {task}", "", f"Recipe `{r0['recipe']}`, overrides `{' '.join(r0['overrides'])}`; validation "
                  "accuracy.", "",
                  "| pruner | trials (states) | shipped recipe | best of N | best values | wall |",
                  "|---|---|---:|---:|---|---:|"]
        for r in runs:
            states = ", ".join(f"{k.lower()} {v}" for k, v in sorted(r["states"].items()))
            shipped = "n/a" if r["shipped_accuracy"] is None else f"{100 * r['shipped_accuracy']:.1f} %"
            params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in r["best_params"].items())
            lines.append(f"| {r['pruner']} | {r['trials']} ({states}) | {shipped} | {100 * r['best_accuracy']:.1f} % | "
                         f"{params} | {r['wall_s']:.0f} s |")
        pruned, plain = (next((r for r in runs if r["pruner"] == p), None) for p in ("median", "none"))
        if pruned and plain:
            lines += ["", f"Pruning took {pruned['wall_s'] / plain['wall_s']:.2f}× the wall time of the unpruned "
                      f"search ({pruned['states'].get('pruned', 0)} trial(s) pruned; load average "
                      f"{pruned['machine']['load1']} vs {plain['machine']['load1']} when each finished)."]
        lines += ["", f"Machine: {describe(r0['machine'])}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", choices=sorted(RECIPES), default="hymenoptera")
    p.add_argument("--trials", type=int, default=4)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--pruners", default="median,none", help="which searches to (re)run; others kept from the JSON")
    p.add_argument("--from-json", action="store_true")
    args = p.parse_args(argv)
    doc = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"tasks": {}}
    if not args.from_json:
        fresh = {pr: run_search(args.task, pr, args.trials, args.epochs) for pr in args.pruners.split(",")}
        kept = {r["pruner"]: r for r in doc["tasks"].get(args.task, [])}
        runs = {**kept, **fresh}
        doc["tasks"][args.task] = [runs[k] for k in ("median", "none") if k in runs]
        RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    RESULTS.with_suffix(".md").write_text(render(doc))
    print(RESULTS.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
