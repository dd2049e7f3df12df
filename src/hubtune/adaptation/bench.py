"""Evidence runner: ``python -m hubtune.adaptation.bench digits|amazon|aggregate`` (results JSON lines).

Each run trains a recipe through :func:`hubtune.run.train` and records the target test accuracy
of the weights picked by source validation (``source_val``) and of the last epoch (``last``),
plus the wall time. Target labels are only read for this report.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path("bench/results")


def run_one(recipe_path: str, seed: int, overrides: list[str] | None = None) -> dict[str, Any]:
    """Train ``recipe_path`` with ``seed``; test metrics of the selected and of the last weights."""
    from hubtune.recipe import load_recipe
    from hubtune.run import train
    from hubtune.training.trainer import Trainer

    last: dict[str, float] = {}
    original = Trainer._load_best

    def load_best(self: Trainer) -> None:
        if "test" in self.eval_loaders:
            last.update(self.evaluate("test").metrics)
        original(self)

    out = tempfile.mkdtemp(prefix="hubtune-bench-")
    recipe = load_recipe(recipe_path, [f"seed={seed}", f"output_dir={out}", *(overrides or [])])
    Trainer._load_best = load_best  # type: ignore[method-assign]
    t0 = time.perf_counter()
    try:
        result = train(recipe, overwrite=True)
    finally:
        Trainer._load_best = original  # type: ignore[method-assign]
    seconds = time.perf_counter() - t0
    test = result.metrics.get("test", {})
    method = (recipe.adaptation or {}).get("method", "source_only")
    return {"recipe": recipe_path, "method": method, "seed": seed, "seconds": round(seconds, 1),
            "source_val": result.metrics.get("validation", {}).get("accuracy"),
            "test_selected": test.get("accuracy"), "test_last": last.get("accuracy", test.get("accuracy")),
            "overrides": overrides or [], "output_dir": out}


def summarize(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Mean ± std (population of seeds) of ``key`` over ``rows``."""
    values = [r[key] for r in rows if r.get(key) is not None]
    if not values:
        return {}
    return {"mean": statistics.fmean(values), "std": statistics.pstdev(values) if len(values) > 1 else 0.0,
            "n": len(values), "values": values}


def rank_evidence(candidates: list[str], out: Path) -> dict[str, Any]:
    """Fine-tune every candidate (a hubtune output folder or ``random``) on 300 labelled USPS digits with
    ``recipes/adaptation/usps-finetune.yaml``; then score them with ``hubtune rank`` (+ Kendall τ)."""
    from hubtune.cli import main as cli

    accuracy: dict[str, float] = {}
    for cand in candidates:
        weights = "null" if cand == "random" else f"{cand}/model.safetensors"
        row = run_one("recipes/adaptation/usps-finetune.yaml", 0, [f"backbone.weights={weights}"])
        accuracy[cand] = row["test_selected"]
        print(cand, accuracy[cand], flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "finetuned.json").write_text(json.dumps(accuracy, indent=2))
    names = [c if c != "random" else 'custom:hubtune.zoo:cnn{"channels": [16, 32], "features": 128}' for c in candidates]
    ref = {n: accuracy[c] for n, c in zip(names, candidates, strict=True)}
    (out / "reference.json").write_text(json.dumps(ref, indent=2))
    cli(["rank", "--candidates", *names, "--data", "digits_shift:usps:train", "--max-samples", "1000",
         "--reference", str(out / "reference.json"), "--out", str(out)])
    return json.loads((out / "rank.json").read_text())


PLANS = {
    "digits": ["digits-source-only", "digits-dann", "digits-mmd", "digits-coral", "digits-mcc", "digits-cdan_e"],
    "amazon": ["amazon-source-only", "amazon-mcc"],
}


def aggregate(task: str, log: Path) -> str:
    """Fold ``log``'s rows into ``bench/results/adaptation.json`` (last row per method and seed); a Markdown table."""
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for line in log.read_text().splitlines():
        row = json.loads(line)
        rows[row["method"], row["seed"]] = row
    out = RESULTS / "adaptation.json"
    doc = json.loads(out.read_text()) if out.exists() else {}
    lines = ["| method | target test acc (source_val) | (last) | source val acc | seconds | seeds |",
             "|---|---|---|---|---|---|"]
    for method in dict.fromkeys(m for m, _ in rows):
        runs = [r for (m, _), r in sorted(rows.items()) if m == method]
        entry = {"target_test_acc_source_val_selected": summarize(runs, "test_selected"),
                 "target_test_acc_last": summarize(runs, "test_last"), "source_val_acc": summarize(runs, "source_val"),
                 "seconds": summarize(runs, "seconds"), "seeds": [r["seed"] for r in runs]}
        doc.setdefault(task, {})[method] = entry
        cells = [f"{100 * entry[k]['mean']:.1f} ± {100 * entry[k]['std']:.1f}"
                 for k in ("target_test_acc_source_val_selected", "target_test_acc_last", "source_val_acc")]
        lines.append(f"| {method} | {' | '.join(cells)} | {entry['seconds']['mean']:.0f} | {entry['seeds']} |")
    out.write_text(json.dumps(doc, indent=2) + "\n")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    """``digits|amazon LOG [SEEDS] [--only NAME,...] [overrides...]``, ``aggregate TASK LOG``,
    or ``rank OUT CANDIDATES...``."""
    if argv[0] == "rank":
        rank_evidence(argv[2:], Path(argv[1]))
        return
    if argv[0] == "aggregate":
        print(aggregate(argv[1], Path(argv[2])))
        return
    task, log = argv[0], Path(argv[1] if len(argv) > 1 else f"/tmp/adaptation-{argv[0]}.jsonl")
    seeds = [int(s) for s in (argv[2].split(",") if len(argv) > 2 else ["0", "1", "2"])]
    extra, plans = argv[3:], PLANS[task]
    if "--only" in extra:
        i = extra.index("--only")
        plans, extra = [f"{task}-{n}" for n in extra[i + 1].split(",")], extra[:i] + extra[i + 2:]
    for seed in seeds:
        for name in plans:
            row = run_one(f"recipes/adaptation/{name}.yaml", seed, extra)
            with log.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
