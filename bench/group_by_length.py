"""``train.group_by_length`` on SST-2: ``python -m bench.group_by_length [--seeds 0,1] [--samples N]`` or ``--from-json``.

Trains ``recipes/nlp/sst2.yaml`` (all-MiniLM-L6-v2, full fine-tune, 1 epoch on ``--samples`` sentences) with and
without length-grouped batches, alternating per seed in one process, and records per run: training throughput (mean
of the trainer's logged windows), the wall time of the whole run, validation accuracy, and the padded/real token
ratio of the run's batches. Writes ``results/group-by-length.json`` and ``.md``; ``--from-json`` only re-renders.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.machine import describe, machine

RESULTS = Path(__file__).resolve().parent / "results" / "group-by-length.json"
RECIPE = "recipes/nlp/sst2.yaml"


def padded_ratio(lengths: list[int], order: list[int], batch: int) -> float:
    """Tokens in padded batches (each padded to its longest row) over real tokens."""
    padded = sum(max(lengths[i] for i in order[k:k + batch]) * len(order[k:k + batch])
                 for k in range(0, len(order), batch))
    return padded / sum(lengths)


def run_one(seed: int, grouped: bool, samples: int) -> dict[str, Any]:
    from hubtune.data import build_data
    from hubtune.run import train
    from hubtune.training.sampling import train_sampler
    from hubtune.validation import load_recipe

    out = Path(tempfile.mkdtemp(prefix="hubtune-gbl-"))
    overrides = [f"seed={seed}", f"output_dir={out}", f"train.group_by_length={str(grouped).lower()}",
                 f"data.max_train_samples={samples}", "data.max_eval_samples=400", "train.epochs=1",
                 "train.trackers=[]", "train.keep_checkpoints=1", "train.log_every=5"]
    recipe = load_recipe(RECIPE, overrides)
    t0 = time.perf_counter()
    result = train(recipe, overwrite=True)
    wall = time.perf_counter() - t0
    history = json.loads((out / "metrics.json").read_text())["history"]
    rates = [row["samples_per_s"] for row in history if "samples_per_s" in row]
    return {"seed": seed, "group_by_length": grouped, "samples": samples, "wall_s": round(wall, 2),
            "train_samples_per_s": round(statistics.fmean(rates), 2),
            "val_accuracy": result.metrics["validation"]["accuracy"],
            "padded_over_real_tokens": round(_padding(recipe, build_data, train_sampler), 4),
            "overrides": overrides[2:], "machine": machine()}


def _padding(recipe: Any, build_data: Any, train_sampler: Any) -> float:
    """The padded/real token ratio of the first epoch's batches, in the order the trainer's sampler gives."""
    from hubtune.backbones import build_backbone
    from hubtune.heads import HEADS

    data = build_data(recipe.data, build_backbone(recipe.backbone).preprocessing, HEADS.get(recipe.head.type),
                      seed=recipe.seed, splits=("train",))
    lengths = [len(ids) for ids in data.train["input_ids"]]
    sampler = train_sampler(data.train, recipe.train.batch_size, recipe.seed, recipe.train.group_by_length)
    return padded_ratio(lengths, list(sampler), recipe.train.batch_size)


def render(runs: list[dict[str, Any]]) -> str:
    """The Markdown report: per setting mean over seeds, and the grouped/plain ratios."""
    by = {g: [r for r in runs if r["group_by_length"] is g] for g in (False, True)}
    mean = {g: {k: statistics.fmean(r[k] for r in rs) for k in ("train_samples_per_s", "wall_s", "val_accuracy",
                                                                    "padded_over_real_tokens")} for g, rs in by.items()}
    seeds = sorted({r["seed"] for r in runs})
    hw = {**runs[-1]["machine"], "load1": [r["machine"]["load1"] for r in runs]}
    lines = ["# `train.group_by_length` on SST-2", "",
             f"Written by `python -m bench.group_by_length --from-json` from `group-by-length.json`; runs: "
             f"`python -m bench.group_by_length --seeds {','.join(map(str, seeds))} --samples {runs[0]['samples']}`. "
             f"`{RECIPE}` (all-MiniLM-L6-v2, full fine-tune), 1 epoch on {runs[0]['samples']:,} training sentences, "
             f"validation = 400 dev sentences. Machine: {describe(hw)}; runs alternate with and without grouping, so "
             "both settings see the same background load.", "",
             "| group_by_length | seed | train samples/s | run wall s | val accuracy | padded / real tokens |",
             "|---|---|---|---|---|---|"]
    for r in sorted(runs, key=lambda r: (r["group_by_length"], r["seed"])):
        lines.append(f"| {str(r['group_by_length']).lower()} | {r['seed']} | {r['train_samples_per_s']:.1f} | "
                     f"{r['wall_s']:.1f} | {100 * r['val_accuracy']:.1f} | {r['padded_over_real_tokens']:.2f} |")
    on, off = mean[True], mean[False]
    lines += ["", f"Mean over seeds: training throughput {on['train_samples_per_s'] / off['train_samples_per_s']:.2f}× "
              f"with grouping, whole run (data, training, evaluation, export) {off['wall_s'] / on['wall_s']:.2f}× "
              f"faster; validation accuracy {100 * on['val_accuracy']:.1f} vs {100 * off['val_accuracy']:.1f} %; "
              f"padded tokens {on['padded_over_real_tokens']:.2f}× vs {off['padded_over_real_tokens']:.2f}× the real "
              "ones."]
    return "\n".join(lines) + "\n"


def write(runs: list[dict[str, Any]]) -> None:
    for path, text in ((RESULTS, json.dumps(runs, indent=1) + "\n"), (RESULTS.with_suffix(".md"), render(runs))):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)


def main(argv: list[str]) -> None:
    if "--from-json" in argv:
        write(json.loads(RESULTS.read_text()))
        return
    seeds = [int(s) for s in argv[argv.index("--seeds") + 1].split(",")] if "--seeds" in argv else [0, 1]
    samples = int(argv[argv.index("--samples") + 1]) if "--samples" in argv else 1000
    runs = []
    for seed in seeds:
        for grouped in (False, True):
            runs.append(run_one(seed, grouped, samples))
            print(json.dumps({k: v for k, v in runs[-1].items() if k not in ("overrides", "machine")}), flush=True)
    write(runs)


if __name__ == "__main__":
    main(sys.argv[1:])
