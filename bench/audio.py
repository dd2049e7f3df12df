"""Spoken digits (FSDD): ``python -m bench.audio [--folds nicolas,jackson,lucas] [--seeds 0] [--cross-seeds 0,1]`` or ``--from-json``.

1. Leave-one-speaker-out: for each test speaker in ``--folds`` (validation = the next speaker in alphabetical
   order, train = the other three), the same recipe (``recipes/audio/spectrogram-imagenet.yaml``) with
   EfficientNet-Lite0 from ImageNet weights, the same architecture from random init, and a tiny Wav2Vec2 from
   its config (``recipes/audio/transformers-config.yaml``); held-out-speaker test accuracy.
2. Cross-speaker transfer: ``recipes/audio/cross-speaker-source.yaml`` (four speakers, ImageNet init) is trained,
   pushed to a local hub in a temporary ``HUBTUNE_HOME``, and ``cross-speaker-target.yaml`` fine-tunes the pushed
   model on 1, 5 or 10 takes per digit of nicolas, vs the same network from random init on the same takes; the
   test set is nicolas' takes 20-49 for every point (0 takes: the source model applied directly).

Every run uses one thread and writes ``results/audio.json`` (runs already there are skipped) and ``audio.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "audio.json"
SPEAKERS = ["george", "jackson", "lucas", "nicolas", "yweweler"]
MODELS = {
    "imagenet": ("recipes/audio/spectrogram-imagenet.yaml", []),
    "random": ("recipes/audio/spectrogram-imagenet.yaml", ["backbone.weights=null", "backbone.pretrained=false"]),
    "wav2vec2": ("recipes/audio/transformers-config.yaml", []),
}
TAKES = (1, 5, 10)


def _load() -> dict[str, Any]:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": []}


def _save(data: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=1) + "\n")
    RESULTS.with_suffix(".md").write_text(render(data))


def _done(data: dict[str, Any], key: dict[str, Any]) -> bool:
    return any(all(r.get(k) == v for k, v in key.items()) for r in data["runs"])


def _train(recipe: str, overrides: list[str], out: Path) -> tuple[dict[str, Any], float]:
    import hubtune

    start = time.perf_counter()
    run = hubtune.train(hubtune.load_recipe(recipe, [*overrides, f"output_dir={out}", "hub.push=false"]),
                        overwrite=True)
    return run.metrics, time.perf_counter() - start


def loso(data: dict[str, Any], folds: list[str], seeds: list[int], epochs: int, tmp: Path) -> None:
    for seed in seeds:
        for test in folds:
            val = SPEAKERS[(SPEAKERS.index(test) + 1) % len(SPEAKERS)]
            train = [s for s in SPEAKERS if s not in (test, val)]
            for model, (recipe, extra) in MODELS.items():
                key = {"experiment": "loso", "model": model, "test_speaker": test, "seed": seed, "epochs": epochs}
                if _done(data, key):
                    continue
                splits = f"data.audio.splits={{train: [{', '.join(train)}], validation: [{val}], test: [{test}]}}"
                metrics, wall = _train(recipe, [*extra, splits, f"seed={seed}", f"train.epochs={epochs}"],
                                       tmp / f"loso-{model}-{test}-{seed}")
                data["runs"].append({**key, "validation_speaker": val, "test_accuracy": metrics["test"]["accuracy"],
                                     "validation_accuracy": metrics["validation"]["accuracy"], "wall_s": round(wall, 1)})
                _save(data)


def cross(data: dict[str, Any], seeds: list[int], epochs: int, tmp: Path) -> None:
    import hubtune

    for seed in seeds:
        source = tmp / f"source-{seed}"
        repo = f"me/fsdd-four-speakers-{seed}"
        needed = [n for n in (0, *TAKES) for init in ("transferred", "scratch")
                  if not (n == 0 and init == "scratch")
                  and not _done(data, {"experiment": "cross", "takes": n, "init": init, "seed": seed})]
        if not needed:
            continue
        _, wall = _train("recipes/audio/cross-speaker-source.yaml", [f"seed={seed}", f"train.epochs={epochs}"], source)
        hubtune.push(source, repo, hub="local")
        test = "data.audio.splits.test={speaker: [nicolas], take: '20..49'}"
        if not _done(data, {"experiment": "cross", "takes": 0, "init": "transferred", "seed": seed}):
            metrics = hubtune.evaluate(source, "test", [test, "data.test=test"])
            data["runs"].append({"experiment": "cross", "takes": 0, "init": "transferred", "seed": seed,
                                 "test_accuracy": metrics["accuracy"], "source_wall_s": round(wall, 1)})
            _save(data)
        for n in TAKES:
            for init, extra in (("transferred", [f"backbone.name={repo}"]),
                                ("scratch", ["backbone.name=tf_efficientnet_lite0", "backbone.pretrained=false"])):
                key = {"experiment": "cross", "takes": n, "init": init, "seed": seed}
                if _done(data, key):
                    continue
                takes = f"data.audio.splits.train.take='0..{n - 1}'"
                metrics, wall = _train("recipes/audio/cross-speaker-target.yaml", [*extra, takes, f"seed={seed}"],
                                       tmp / f"target-{init}-{n}-{seed}")
                data["runs"].append({**key, "test_accuracy": metrics["test"]["accuracy"], "wall_s": round(wall, 1)})
                _save(data)


def _mean_std(values: list[float]) -> str:
    if not values:
        return "—"
    std = f" ± {100 * statistics.stdev(values):.1f}" if len(values) > 1 else ""
    return f"{100 * statistics.mean(values):.1f}{std} (n={len(values)})"


def _command(runs: list[dict[str, Any]]) -> str:
    """The command that wrote ``runs``: its folds, seeds and epochs."""
    loso_runs = [r for r in runs if r["experiment"] == "loso"]
    folds = [s for s in SPEAKERS if any(r["test_speaker"] == s for r in loso_runs)]
    seeds = sorted({r["seed"] for r in loso_runs})
    cross_seeds = sorted({r["seed"] for r in runs if r["experiment"] == "cross"})
    epochs = sorted({r["epochs"] for r in runs if "epochs" in r})
    return (f"python -m bench.audio --folds {','.join(folds)} --seeds {','.join(map(str, seeds))} "
            f"--cross-seeds {','.join(map(str, cross_seeds))} --epochs {','.join(map(str, epochs))}")


def render(data: dict[str, Any]) -> str:
    runs = data["runs"]
    lines = ["# Spoken digits (FSDD): audio transfer", "", f"Command: `{_command(runs)}` (render only: `--from-json`).",
             "", f"Machine: {data.get('machine', '—')}", "",
             "## Held-out speaker test accuracy (%), leave-one-speaker-out", "",
             "Train on three speakers, pick the epoch on a fourth, test on the fifth (never heard in training). "
             "Same recipe, epochs and augmentation for every model.", "",
             "| model | " + " | ".join(sorted({r["test_speaker"] for r in runs if r["experiment"] == "loso"}))
             + " | mean ± std over folds |", "|---|" + "---:|" * (1 + len({r["test_speaker"] for r in runs
                                                                              if r["experiment"] == "loso"}))]
    folds = sorted({r["test_speaker"] for r in runs if r["experiment"] == "loso"})
    names = {"imagenet": "EfficientNet-Lite0 on log-mels, ImageNet init", "random": "same, random init",
             "wav2vec2": "tiny Wav2Vec2 from config (random init)"}
    for model, label in names.items():
        by_fold = {f: [r["test_accuracy"] for r in runs if r["experiment"] == "loso" and r["model"] == model
                       and r["test_speaker"] == f] for f in folds}
        if not any(by_fold.values()):
            continue
        cells = [_mean_std(v) for v in by_fold.values()]
        fold_means = [statistics.mean(v) for v in by_fold.values() if v]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {_mean_std(fold_means)} |")
    lines += ["", "## Cross-speaker transfer: nicolas' test accuracy (%) vs his training takes per digit", "",
              "Source: four other speakers (ImageNet init), pushed to the local hub; target: fine-tune the pulled "
              "model (transferred) or the same network from random init (scratch) on nicolas' first takes; test: "
              "his takes 20-49 (300 clips). 0 takes = the source model applied directly.", "",
              "| takes per digit | transferred | scratch |", "|---:|---:|---:|"]
    for n in (0, *TAKES):
        cell = {init: _mean_std([r["test_accuracy"] for r in runs if r["experiment"] == "cross" and r["takes"] == n
                                 and r["init"] == init]) for init in ("transferred", "scratch")}
        lines.append(f"| {n} | {cell['transferred']} | {cell['scratch'] if n else 'chance: 10.0'} |")
    walls = [r["wall_s"] for r in runs if "wall_s" in r]
    lines += ["", f"{len(runs)} runs, one thread each; median run wall time {statistics.median(walls):.0f} s."
              if walls else "", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.audio", description=__doc__.splitlines()[0])
    parser.add_argument("--folds", default="nicolas,jackson,lucas", help="test speakers of the leave-one-out folds")
    parser.add_argument("--seeds", default="0", help="seeds of the leave-one-speaker-out runs")
    parser.add_argument("--cross-seeds", default="0,1", help="seeds of the cross-speaker curve")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--from-json", action="store_true", help="only re-render audio.md")
    args = parser.parse_args(argv)
    data = _load()
    if args.from_json:
        RESULTS.with_suffix(".md").write_text(render(data))
        return 0
    import torch

    from bench.machine import describe, machine

    torch.set_num_threads(1)
    data["machine"] = describe(machine())
    seeds = [int(s) for s in args.seeds.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["HUBTUNE_HOME"] = str(Path(tmp) / "home")
        cross(data, [int(s) for s in args.cross_seeds.split(",")], args.epochs, Path(tmp))
        loso(data, [f for f in args.folds.split(",") if f], seeds, args.epochs, Path(tmp))
    _save(data)
    print(render(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
