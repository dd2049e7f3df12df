"""Where a training step's time goes on the CPU: ``python -m bench.profile_step [--workloads minilm,bert_base]``.

Runs hubtune's real Trainer components (Accelerate-prepared model, optimizer, scheduler, synthetic loader: see
``bench/hubtune_engine.py``) one phase at a time — data, forward + loss, backward, clip, optimizer, scheduler +
zero_grad — and times each phase per step (median of ``--steps`` after ``--warmup``), once with torch's default
multi-tensor (foreach) AdamW (hubtune before this change) and once with the fused AdamW hubtune builds now.
Writes ``results/profile-cpu.json`` and ``.md``; ``--from-json`` only re-renders.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from bench.machine import describe, machine, save_results

RESULTS = Path(__file__).resolve().parent / "results" / "profile-cpu.json"
PHASES = ("data", "forward", "backward", "clip", "optimizer", "scheduler")


def step_phases(trainer: Any, steps: int, warmup: int,
                clock: Callable[[], float]) -> tuple[list[list[float]], list[int]]:
    """Run ``warmup + steps`` steps of ``trainer``'s loop, the calls ``Trainer._train_epoch`` makes (direct ones
    with one process and no accumulation, else Accelerate's), timing each phase of :data:`PHASES` with ``clock``;
    the ms of each phase per timed step, and the minor page faults of each timed step."""
    from hubtune.training.step import step_calls

    calls = step_calls(trainer.accelerator, trainer.model, trainer.optimizer, trainer.scheduler,
                       trainer._direct_step())
    optimizer = calls.optimizer
    trainer.model.train()
    batches = iter(trainer.train_loader)
    laps: list[list[float]] = [[] for _ in PHASES]
    faults: list[int] = []
    for i in range(warmup + steps):
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        marks = [clock()]
        batch = next(batches)
        marks.append(clock())
        loss = trainer._loss(batch)
        marks.append(clock())
        calls.backward(loss)
        marks.append(clock())
        calls.clip(calls.params, 1.0)
        marks.append(clock())
        optimizer.step()
        marks.append(clock())
        calls.scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        marks.append(clock())
        if i >= warmup:
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
            for lap, a, b in zip(laps, marks[:-1], marks[1:], strict=True):
                lap.append(1000 * (b - a))
    return laps, faults


def profile(name: str, fused: bool, steps: int, warmup: int) -> dict[str, Any]:
    from bench.hubtune_engine import LoopSettings, build_trainer
    from bench.synthetic import synthetic_bundle
    from bench.workloads import workloads

    (w,) = workloads(torch.device("cpu"), [name])
    s = LoopSettings(precision="no", compile=False, channels_last=False, steps=steps, windows=1, warmup_windows=1)
    with tempfile.TemporaryDirectory(prefix="hubtune-profile-") as tmp:
        trainer = build_trainer(w, s, synthetic_bundle(w, s.total_steps + warmup), Path(tmp), torch.device("cpu"))
        if not fused:  # what hubtune built on the CPU before: the default (foreach) implementation
            opt = trainer.optimizer.optimizer
            opt.defaults["fused"] = None
            for group in opt.param_groups:
                group["fused"], group["foreach"] = None, True
        laps, _faults = step_phases(trainer, steps, warmup, time.perf_counter)
        times = dict(zip(PHASES, laps, strict=True))
    ms = {p: round(statistics.median(v), 1) for p, v in times.items()}
    return {"workload": name, "batch_size": w.batch_size, "optimizer": "adamw fused" if fused else "adamw foreach",
            "ms": ms, "step_ms": round(sum(ms.values()), 1), "steps": steps, "machine": machine()}


def render(doc: dict[str, Any]) -> str:
    lines = ["# Where a CPU training step goes (hubtune's Trainer components)", "",
             f"Command: `python -m bench.profile_step --workloads {','.join(doc['workloads'])} --steps {doc['steps']}` "
             "(re-render: `--from-json`). Median ms per step of each phase, fp32, synthetic fixed-shape batches "
             "(no decoding), clipping at 1.0, cosine schedule.", "",
             "| workload | batch | optimizer | " + " | ".join(PHASES) + " | step | share in optimizer |",
             "|---|---:|---|" + "---:|" * (len(PHASES) + 2)]
    for r in doc["rows"]:
        share = 100 * r["ms"]["optimizer"] / r["step_ms"]
        lines.append(f"| {r['workload']} | {r['batch_size']} | {r['optimizer']} | "
                     + " | ".join(f"{r['ms'][p]:.1f}" for p in PHASES) + f" | {r['step_ms']:.1f} | {share:.0f} % |")
    by = {(r["workload"], r["optimizer"]): r for r in doc["rows"]}
    lines.append("")
    for name in doc["workloads"]:
        old, new = by.get((name, "adamw foreach")), by.get((name, "adamw fused"))
        if old and new:
            lines.append(f"- {name}: the fused optimizer step is {old['ms']['optimizer'] / new['ms']['optimizer']:.1f}× "
                         f"faster; the whole step {old['step_ms'] / new['step_ms']:.2f}× faster.")
    lines += ["", f"Machine: {describe(doc['rows'][0]['machine'])}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", default="minilm,bert_base")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--from-json", action="store_true")
    args = p.parse_args(argv)
    doc = None
    if not args.from_json:
        from hubtune.training.step import keep_freed_memory

        keep_freed_memory()  # as Trainer.fit does on the CPU
        names = args.workloads.split(",")
        doc = {"workloads": names, "steps": args.steps,
               "rows": [profile(n, fused, args.steps, args.warmup) for n in names for fused in (False, True)]}
    save_results(RESULTS, doc, render)


if __name__ == "__main__":
    main()
