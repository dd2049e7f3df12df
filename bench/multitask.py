"""Multi-task evidence: ``python -m bench.multitask --seeds 0,1,2`` (render only: ``--from-json``).

``recipes/multitask/sst2_amazon.yaml`` trains SST-2 (2,000 training sentences, dev 872) and Amazon books
(1,600 training reviews, 400 held out, seeded) jointly on one all-MiniLM-L6-v2 backbone; each task alone
is the same recipe's single-task view (``hubtune.task_checks.task_view``: the task's data and head, every
other setting shared), so each task gets the same examples, epochs, batch size and schedule in both.
Per seed: the joint run and each task alone, as ``hubtune train`` subprocesses on one thread; the wall
time is the whole ``hubtune train`` process (load, train, evaluate, export). Runs already in
``results/multitask.json`` are skipped; several workers may share the file (appends are locked).
"""

from __future__ import annotations

import fcntl
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

from bench.machine import describe, machine, one_thread_env, run_hubtune

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "multitask.json"
RECIPE = "recipes/multitask/sst2_amazon.yaml"
WORK = ROOT / "outputs" / "bench-multitask"
COMMON = ["train.trackers=[]", "train.keep_checkpoints=1"]


def _hubtune(*args: str) -> float:
    return run_hubtune(ROOT, *args)


def _alone_recipe(task: str) -> Path:
    """The single-task view of ``task`` as a recipe file (``hubtune train`` runs it like any recipe)."""
    import yaml

    from hubtune.task_checks import task_view
    from hubtune.validation import load_recipe

    os.environ.setdefault("HUBTUNE_DATA", one_thread_env()["HUBTUNE_DATA"])
    recipe = load_recipe(ROOT / RECIPE)
    view = task_view(recipe, next(t for t in recipe.tasks or [] if t.name == task))
    path = WORK / f"alone-{task}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(view.to_dict(), sort_keys=False))
    return path


def run_one(config: str, seed: int) -> dict[str, Any]:
    """Train ``joint`` or ``<task>`` alone with ``seed``; per-task validation accuracy and F1, and the wall time."""
    out = WORK / f"{config}-{seed}"
    recipe = RECIPE if config == "joint" else str(_alone_recipe(config))
    wall = _hubtune("train", recipe, f"seed={seed}", f"output_dir={out}", *COMMON, "--overwrite")
    doc = json.loads((out / "metrics.json").read_text())
    per_task = doc["metrics"] if config == "joint" else {config: doc["metrics"]}
    tasks = {name: {"accuracy": m["validation"]["accuracy"], "f1": m["validation"]["f1"]} for name, m in per_task.items()}
    return {"config": config, "seed": seed, "tasks": tasks, "train_wall_s": round(wall, 1),
            "total_params": doc["total_params"], "best_epoch": doc["best_epoch"], "machine": machine()}


def _mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{100 * values[0]:.1f}"
    return f"{100 * statistics.mean(values):.1f} ± {100 * statistics.pstdev(values):.1f}"


def _paired(joint: list[dict[str, Any]], alone: list[dict[str, Any]], task: str) -> list[tuple[float, float]]:
    """Per seed run both ways: (accuracy, F1) of joint minus alone."""
    by_seed = {r["seed"]: r["tasks"][task] for r in alone}
    return [(r["tasks"][task]["accuracy"] - by_seed[r["seed"]]["accuracy"], r["tasks"][task]["f1"] - by_seed[r["seed"]]["f1"])
            for r in sorted(joint, key=lambda r: r["seed"]) if r["seed"] in by_seed and task in r["tasks"]]


def _signed(values: list[float]) -> str:
    mean = f"{100 * statistics.mean(values):+.1f}"
    return mean if len(values) == 1 else f"{mean} ± {100 * statistics.pstdev(values):.1f}"


def _wall_table(joint: list[dict[str, Any]], alone: dict[str, list[dict[str, Any]]], tasks: list[str]) -> list[str]:
    """Wall time over the seeds run both ways (joint, and every task alone): one run vs the sum of the task runs."""
    seeds = {r["seed"] for r in joint}
    for task in tasks:
        seeds &= {r["seed"] for r in alone[task]}
    if not seeds:
        return []
    wall = {(r["config"], r["seed"]): r["train_wall_s"] for r in [*joint, *(r for t in tasks for r in alone[t])]}
    j = [wall[("joint", s)] for s in sorted(seeds)]
    a = [sum(wall[(t, s)] for t in tasks) for s in sorted(seeds)]
    params = sum(alone[t][0]["total_params"] for t in tasks)
    return ["", f"Seeds run both ways: {', '.join(map(str, sorted(seeds)))}.", "",
            "| setting | wall time per seed (s) | parameters |", "|---|---:|---:|",
            f"| joint: one run, one backbone | {statistics.mean(j):.0f} ({', '.join(f'{w:.0f}' for w in j)}) | "
            f"{joint[0]['total_params']:,} |",
            f"| alone: {len(tasks)} runs, {len(tasks)} backbones | {statistics.mean(a):.0f} ({', '.join(f'{w:.0f}' for w in a)}) | "
            f"{params:,} |"]


def render(rows: list[dict[str, Any]]) -> str:
    """The Markdown of ``results/multitask.md``, from the per-run rows alone."""
    joint = [r for r in rows if r["config"] == "joint"]
    tasks = list(joint[0]["tasks"]) if joint else sorted({r["config"] for r in rows})
    alone = {t: [r for r in rows if r["config"] == t] for t in tasks}
    lines = ["# Multi-task transfer (SST-2 + Amazon books, one all-MiniLM-L6-v2 backbone)", "",
             f"Command: `python -m bench.multitask --seeds {','.join(map(str, sorted({r['seed'] for r in rows})))}` (render only: `--from-json`). Joint: `{RECIPE}` "
             "(proportional sampling: each task's batches once per epoch, shuffled; 2 epochs; best epoch on the mean "
             "accuracy). Alone: the same recipe's single-task view of each task (same examples, epochs, batch size, "
             "optimizer and schedule; best epoch on its accuracy). Validation accuracy and F1 in %: mean ± std over the "
             "seeds (n); SST-2 on its dev set (872), books on 400 held-out reviews.", "",
             "| task | setting | n | accuracy (%) | F1 (%) |", "|---|---|---:|---:|---:|"]
    for task in tasks:
        for label, runs in ((f"joint ({len(tasks)} tasks)", joint), ("alone", alone[task])):
            runs = [r for r in runs if task in r["tasks"]]
            if runs:
                lines.append(f"| {task} | {label} | {len(runs)} | {_mean_std([r['tasks'][task]['accuracy'] for r in runs])} | "
                             f"{_mean_std([r['tasks'][task]['f1'] for r in runs])} |")
        paired = _paired(joint, alone[task], task)
        if paired:
            lines.append(f"| {task} | joint − alone, same seed (points) | {len(paired)} | "
                         f"{_signed([a for a, _ in paired])} | {_signed([f for _, f in paired])} |")
    lines += _wall_table(joint, alone, tasks)
    machines = [r["machine"] for r in rows]
    hw = {**machines[0], "load1": [m["load1"] for m in machines]} if machines else {}
    lines += ["", "Wall time: the whole `hubtune train` process (loading, training, evaluation, export), one thread."]
    if hw:
        lines.append(f"Measured on: {describe(hw)} (shared with other jobs: times are upper bounds).")
    return "\n".join(lines).rstrip() + "\n"


def _save(rows: list[dict[str, Any]]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    for path, text in ((RESULTS, json.dumps(rows, indent=1) + "\n"), (RESULTS.with_suffix(".md"), render(rows))):
        tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
        tmp.write_text(text)
        tmp.replace(path)


def _done() -> set[tuple[str, int]]:
    rows = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    return {(r["config"], r["seed"]) for r in rows}


def _append(row: dict[str, Any]) -> None:
    """Add one run's row under a lock (two workers may run different seeds)."""
    lock = WORK / "results.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        rows = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
        if (row["config"], row["seed"]) not in {(r["config"], r["seed"]) for r in rows}:  # another worker's copy
            _save([*rows, row])


def main(argv: list[str]) -> None:
    import torch

    torch.set_num_threads(1)  # what the runs use (OMP_NUM_THREADS=1), so machine() records it
    if "--from-json" in argv:
        _save(json.loads(RESULTS.read_text()))
        return
    seeds = [int(s) for s in argv[argv.index("--seeds") + 1].split(",")] if "--seeds" in argv else [0]
    configs = ["joint", "sst2", "books"]
    if "--only" in argv:
        configs = argv[argv.index("--only") + 1].split(",")
    for seed in seeds:
        for config in configs:
            if (config, seed) in _done():
                continue
            row = run_one(config, seed)
            _append(row)
            print(f"{config} seed {seed}: {row['tasks']} in {row['train_wall_s']} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
