"""``hubtune search`` evidence: ``python -m bench.search [--trials N] [--epochs E]`` or ``--from-json``.

Runs ``recipes/search/hymenoptera-lr-strategy.yaml`` (ImageNet EfficientNet-Lite0 → ants vs bees; lr and strategy
searched, TPE seeded) twice as real ``hubtune search`` processes: with the recipe's median pruner and with
``search.pruner.type=none``. Trial 0 of each study is the shipped recipe's own values (``enqueue_base``), so
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
RECIPE = "recipes/search/hymenoptera-lr-strategy.yaml"
REPO = Path(__file__).resolve().parents[1]


def run_search(pruner: str, trials: int, epochs: int) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix=f"hubtune-search-{pruner}-"))
    overrides = [f"search.n_trials={trials}", f"train.epochs={epochs}", "train.trackers=[]"]
    if pruner == "none":
        overrides.append("search.pruner.type=none")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "hubtune", "search", RECIPE, *overrides, f"output_dir={out}"],
                          cwd=REPO, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"hubtune search failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    summary = json.loads((out / "search.json").read_text())
    rows = [r for r in _csv(out / "trials.csv")]
    shipped = next((r for r in rows if r.get("note") == "recipe defaults"), rows[0])
    return {"pruner": "median" if pruner != "none" else "none", "trials": len(rows), "states": summary["states"],
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
             f"Command: `python -m bench.search --trials {doc['trials']} --epochs {doc['epochs']}` "
             f"(re-render: `python -m bench.search --from-json`). Recipe: `{RECIPE}` (ImageNet EfficientNet-Lite0 "
             "from PyPI, hymenoptera validation accuracy; lr and strategy searched; TPE seed 0). Trial 0 of each "
             "study is the shipped recipe's own values.", "",
             "| pruner | trials (states) | shipped recipe | best of N | best values | wall |",
             "|---|---|---:|---:|---|---:|"]
    for r in doc["runs"]:
        states = ", ".join(f"{k.lower()} {v}" for k, v in sorted(r["states"].items()))
        shipped = "n/a" if r["shipped_accuracy"] is None else f"{100 * r['shipped_accuracy']:.1f} %"
        params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in r["best_params"].items())
        lines.append(f"| {r['pruner']} | {r['trials']} ({states}) | {shipped} | {100 * r['best_accuracy']:.1f} % | "
                     f"{params} | {r['wall_s']:.0f} s |")
    pruned, plain = (next((r for r in doc["runs"] if r["pruner"] == p), None) for p in ("median", "none"))
    if pruned and plain:
        lines += ["", f"Pruning took {pruned['wall_s'] / plain['wall_s']:.2f}× the wall time of the unpruned search "
                  f"({pruned['states'].get('pruned', 0)} trial(s) pruned)."]
    lines += ["", f"Machine: {describe(doc['runs'][0]['machine'])}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=4)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--pruners", default="median,none", help="which searches to (re)run; others kept from the JSON")
    p.add_argument("--from-json", action="store_true")
    args = p.parse_args(argv)
    if args.from_json:
        doc = json.loads(RESULTS.read_text())
    else:
        old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": []}
        fresh = {pr: run_search(pr, args.trials, args.epochs) for pr in args.pruners.split(",")}
        kept = {r["pruner"]: r for r in old["runs"] if old.get("trials") == args.trials and old.get("epochs") == args.epochs}
        runs = {**kept, **fresh}
        doc = {"trials": args.trials, "epochs": args.epochs, "runs": [runs[k] for k in ("median", "none") if k in runs]}
        RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    RESULTS.with_suffix(".md").write_text(render(doc))
    print(RESULTS.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
