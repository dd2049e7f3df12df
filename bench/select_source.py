"""``hubtune select`` evidence: ``python -m bench.select_source`` or ``--from-json``.

Choosing the source for USPS digits (target: ``recipes/adaptation/usps-finetune.yaml``, 300 labelled USPS digits).
Two sources are trained with hubtune on MNIST (``digits_shift`` 16×16: the 10 digits, and even/odd via
``data.label_map``) and pushed to a local hub (a temporary ``HUBTUNE_HOME``); with two untrained networks they are
the candidates of one ``hubtune select --top-k 4`` run, so every candidate is both estimated (LogME, H-score,
LEEP/NCE where a source head exists) and fine-tuned: the estimator ranking, the fine-tuned ranking, Kendall's τ
and the time the estimators take vs fine-tuning every candidate. Writes ``results/select.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.machine import describe, machine, save_results

RESULTS = Path(__file__).resolve().parent / "results" / "select.json"
REPO = Path(__file__).resolve().parents[1]
SOURCE = "recipes/adaptation/digits-source-only.yaml"
TARGET = "recipes/adaptation/usps-finetune.yaml"
FRESH = ['custom:hubtune.backbones.small:cnn{"in_size": 16, "channels": [16, 32], "features": 128}',
         'custom:hubtune.backbones.small:mlp{"in_features": 256, "hidden": [128]}']


def _hubtune(args: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "hubtune", *args], cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"hubtune {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


def measure() -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="hubtune-select-"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HUBTUNE_HOME": str(work / "home"), "OMP_NUM_THREADS": "1"}
    env.pop("HF_ENDPOINT", None)
    sources = {"bench/mnist-digits": [], "bench/mnist-even-odd": [
        "data.label_map={" + ", ".join(f"'{d}': {'even' if d % 2 == 0 else 'odd'}" for d in range(10)) + "}"]}
    for repo, extra in sources.items():
        out = work / repo.split("/")[1]
        _hubtune(["train", SOURCE, f"output_dir={out}", "train.epochs=3", "data.test=null", *extra], env)
        _hubtune(["push", str(out), repo], env)
    select = work / "select"
    _hubtune(["select", TARGET, "--output", str(select), "--top-k", "4", "--candidates", *sources, *FRESH], env)
    report = json.loads((select / "select.json").read_text())
    keep = ("candidate", "logme", "h_score", "leep", "nce", "estimator_rank", "fine_tuned", "fine_tuned_rank",
            "estimate_s", "fine_tune_s")
    return {"target": TARGET, "metric": report["metric"], "kendall_tau": report["kendall_tau"],
            "seconds": report["seconds"], "seconds_if_all_fine_tuned": report["seconds_if_all_fine_tuned"],
            "candidates": [{k: r.get(k) for k in keep} for r in report["candidates"]], "machine": machine()}


def _fmt(v: Any) -> str:
    return "—" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def render(doc: dict[str, Any]) -> str:
    lines = ["# Choosing the source: `hubtune select` (MNIST sources → USPS)", "",
             "Command: `python -m bench.select_source` (re-render: `--from-json`). Target: 300 labelled USPS digits "
             f"(`{doc['target']}`); candidates: two hubtune-trained MNIST sources pulled from a local hub, and two "
             "untrained networks; all four estimated and fine-tuned (`--top-k 4`).", "",
             f"| candidate | LogME | H-score | LEEP | NCE | estimator rank | fine-tuned {doc['metric']} | fine-tuned rank |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in doc["candidates"]:
        name = r["candidate"] if len(r["candidate"]) < 40 else r["candidate"].split("{")[0] + "{…}"
        lines.append(f"| {name} | " + " | ".join(_fmt(r[k]) for k in ("logme", "h_score", "leep", "nce")) +
                     f" | {r['estimator_rank']} | {_fmt(r['fine_tuned'])} | {r['fine_tuned_rank']} |")
    taus = ", ".join(f"{k} {v:.2f}" for k, v in doc["kendall_tau"].items())
    estimate = sum(r["estimate_s"] for r in doc["candidates"])
    tune = sum(r["fine_tune_s"] or 0 for r in doc["candidates"])
    lines += ["", f"Kendall τ between each estimator and the fine-tuned ranking: {taus}.", "",
              f"Estimating all {len(doc['candidates'])} candidates took {estimate:.0f} s; fine-tuning all of them "
              f"{tune:.0f} s ({tune / max(estimate, 1e-9):.1f}× as long): with `--top-k 1` the estimator alone picks "
              "the source.", "", f"Machine: {describe(doc['machine'])}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--from-json", action="store_true")
    args = p.parse_args(argv)
    save_results(RESULTS, None if args.from_json else measure(), render)


if __name__ == "__main__":
    main()
