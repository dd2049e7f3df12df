"""Parity and cost of the compact models: max |Δlogit|, agreement, accuracy, CPU latency and size."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from hubtune.model import TransferModel

Runner = Callable[[dict[str, Tensor]], np.ndarray]


@dataclass
class Tally:
    """Running comparison of one runtime's logits with the PyTorch model's."""

    max_abs_diff: float = 0.0
    agree: int = 0
    correct: int = 0
    n: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def add(self, ref: np.ndarray, out: np.ndarray, labels: np.ndarray | None, classify: bool) -> None:
        self.max_abs_diff = max(self.max_abs_diff, float(np.abs(ref - out).max()) if out.size else 0.0)
        self.n += len(out)
        if classify:
            pred = out.argmax(-1)
            self.agree += int((pred == ref.argmax(-1)).sum())
            if labels is not None:
                self.correct += int((pred == labels).sum())


def torch_runner(model: TransferModel) -> Runner:
    model = model.eval()

    def run(batch: dict[str, Tensor]) -> np.ndarray:
        with torch.no_grad():
            return model({k: v for k, v in batch.items() if k != "labels"}).float().numpy()

    return run


def onnx_runner(sess: Any, names: list[str]) -> Runner:
    def run(batch: dict[str, Tensor]) -> np.ndarray:
        return sess.run(["logits"], {n: batch[n].numpy() for n in names})[0]

    return run


def compare(runners: dict[str, Runner], batches: Iterable[dict[str, Tensor]], classify: bool) -> dict[str, Tally]:
    """Every runtime on every batch, against ``runners["pytorch"]``."""
    tallies = {name: Tally() for name in runners}
    for batch in batches:
        labels = batch["labels"].numpy() if classify and "labels" in batch and batch["labels"].ndim == 1 else None
        ref = runners["pytorch"](batch)
        for name, run in runners.items():
            tallies[name].add(ref, ref if name == "pytorch" else run(batch), labels, classify)
    return tallies


def latency(runners: dict[str, Runner], examples: list[dict[str, Tensor]], tallies: dict[str, Tally],
            repeats: int = 3) -> None:
    """Median milliseconds per example at batch size 1 (one warm-up pass first), one thread for every runtime."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for name, run in runners.items():
            for ex in examples[:2]:
                run(ex)
            for _ in range(repeats):
                for ex in examples:
                    t0 = time.perf_counter()
                    run(ex)
                    tallies[name].latencies_ms.append(1000 * (time.perf_counter() - t0))
    finally:
        torch.set_num_threads(threads)


def summary(tallies: dict[str, Tally], files: dict[str, Path], labelled: bool) -> dict[str, dict[str, Any]]:
    """One row per runtime: file size, latency, max |Δlogit|, agreement and accuracy."""
    rows = {}
    for name, t in tallies.items():
        rows[name] = {
            "file": files[name].name,
            "size_mb": round(files[name].stat().st_size / 2**20, 3),
            "latency_ms": round(statistics.median(t.latencies_ms), 3) if t.latencies_ms else None,
            "max_abs_logit_diff": None if name == "pytorch" else t.max_abs_diff,  # pytorch is the reference
            "agreement": t.agree / t.n if t.n and name != "pytorch" else None,
            "accuracy": t.correct / t.n if t.n and labelled else None,
            "examples": t.n,
        }
    return rows


def markdown(report: dict[str, Any]) -> str:
    """The size/latency/parity table, as written beside the files and into the card."""
    lines = [f"Compared on {report['examples']} `{report['split']}` examples; latency: median ms per example at "
             f"batch size 1, {report['threads']} CPU thread, over {report['latency_examples']} examples × "
             f"{report['repeats']}.", "",
             "| model | file | size (MB) | latency (ms) | max \\|Δlogit\\| vs PyTorch | agreement | accuracy |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for name, r in report["models"].items():
        lines.append(f"| {name} | `{r['file']}` | {r['size_mb']:.2f} | {_num(r['latency_ms'], 2)} | "
                     f"{_sci(r['max_abs_logit_diff'])} | {_pct(r['agreement'])} | {_pct(r['accuracy'])} |")
    return "\n".join(lines) + "\n"


def _num(v: float | None, digits: int) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def _sci(v: float | None) -> str:
    return "—" if v is None else f"{v:.2e}"


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.2f}%"
