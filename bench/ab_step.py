"""hubtune's step vs the plain loop's, A/B-interleaved in one process: ``python -m bench.ab_step``.

Shared, busy machines make one-engine-then-the-other wall-clock runs noisy. Here both engines live in one
process (same weights, same fixed batch, fused AdamW, clipping at 1.0) and alternate short windows, many
times; each window records wall time and the main thread's CPU time (``time.thread_time``, which other
processes barely move when torch runs one thread). The medians per engine and their ratio are printed.
``--profile`` adds torch.profiler's self-CPU totals per op for a few steps of each engine, and the ops whose
totals differ most (what one engine runs that the other does not).

The hubtune windows run the real ``Trainer._train_epoch`` (Accelerate-prepared model, optimizer, scheduler,
DataLoader over the synthetic bundle; each window starts the loader anew, which counts against hubtune);
``hubtune_wrapped`` is the same trainer forced through Accelerate's per-step wrappers (``_direct_step`` false).
``--phases N`` times each phase of hubtune's step instead; ``--keep-freed-memory`` first applies the allocator
setting ``Trainer.fit`` makes on the CPU (process-wide: compare runs with and without it as separate processes).

    python -m bench.ab_step --workload minilm --engines hubtune,hubtune_wrapped,plain --steps 4 --reps 10
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


def hubtune_runner(w: Any, steps: int, tmp: Path) -> tuple[Callable[[int], None], Any]:
    """A function that runs ``n`` optimizer steps of hubtune's Trainer loop (one ``_train_epoch`` call)."""
    from tqdm.auto import tqdm

    from bench.hubtune_engine import LoopSettings, build_trainer
    from bench.synthetic import synthetic_bundle

    s = LoopSettings(precision="no", compile=False, channels_last=w.channels_last, steps=steps, windows=1,
                     warmup_windows=0)
    trainer = build_trainer(w, s, synthetic_bundle(w, steps + 2), tmp, torch.device("cpu"))
    bar = tqdm(total=10**9, disable=True)

    def run(n: int) -> None:
        trainer.total_steps = trainer.state.global_step + n
        trainer._train_epoch(bar)

    return run, trainer


def plain_runner(w: Any) -> tuple[Callable[[int], None], Any]:
    """``n`` steps of the plain loop (bench/plain_loop.py's step) on the fixed batch."""
    from bench.plain_loop import plain_loss
    from bench.synthetic import make_batch
    from bench.workloads import plain_model

    model = plain_model(w)
    if w.channels_last:
        model = model.to(memory_format=torch.channels_last)
    batch = make_batch(w)
    if w.channels_last:
        batch["pixel_values"] = batch["pixel_values"].contiguous(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01, fused=True)
    model.train()

    def run(n: int) -> None:
        for _ in range(n):
            loss = plain_loss(model, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
        loss.item()  # as hubtune's log window ends with a read of the loss

    return run, model


PHASES = ("data", "forward", "backward", "clip", "optimizer", "scheduler+zero_grad")


def phase_times(trainer: Any, steps: int) -> dict[str, float]:
    """Median main-thread CPU ms of each phase of hubtune's step (the calls ``_train_epoch`` makes)."""
    from bench.profile_step import step_phases

    laps, faults = step_phases(trainer, steps, 2, time.thread_time)
    trainer.model.zero_grad(set_to_none=True)
    return {**{p: statistics.median(v) for p, v in zip(PHASES, laps, strict=True)},
            "page faults": statistics.median(faults)}


def profile_ops(run: Callable[[int], None], steps: int) -> dict[str, tuple[float, int]]:
    """Self-CPU ms and call counts per op over ``steps`` steps."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run(steps)
    return {e.key: (e.self_cpu_time_total / 1000, e.count) for e in prof.key_averages()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workload", default="minilm")
    p.add_argument("--steps", type=int, default=5, help="optimizer steps per window")
    p.add_argument("--reps", type=int, default=10, help="windows per engine (alternating)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--engines", default="hubtune,plain", help="two or more of hubtune, plain, hubtune_wrapped")
    p.add_argument("--phases", type=int, default=0, metavar="STEPS",
                   help="only time each phase of STEPS hubtune steps (thread-CPU medians), then exit")
    p.add_argument("--profile", type=int, default=0, metavar="STEPS", help="also profile STEPS steps of each")
    p.add_argument("--keep-freed-memory", action="store_true",
                   help="hubtune.training.step.keep_freed_memory() first (glibc: no page faults per step)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.keep_freed_memory:  # what Trainer.fit does on the CPU (the windows here call _train_epoch)
        from hubtune.training.step import keep_freed_memory

        print("keep_freed_memory:", keep_freed_memory())
    from bench.workloads import workloads

    if args.workload == "tiny":  # a model small enough that per-step Python work shows
        from bench.workloads import Workload

        w = Workload("tiny", "vision", "test_resnet", batch_size=4, image_size=32)
    else:
        (w,) = workloads(torch.device("cpu"), [args.workload])
    with tempfile.TemporaryDirectory(prefix="hubtune-ab-") as tmp:
        hub, trainer = hubtune_runner(w, max(args.steps, args.profile, args.phases + 2), Path(tmp))
        plain, _model = plain_runner(w)

        def wrapped(n: int) -> None:  # hubtune's loop through Accelerate's per-step wrappers
            trainer._direct_step = lambda: False
            try:
                hub(n)
            finally:
                del trainer._direct_step

        if args.phases:
            ms = phase_times(trainer, args.phases)
            print(f"{w.name} b{w.batch_size}, {args.threads} thread(s): hubtune's direct step, median thread-CPU ms "
                  f"of {args.phases} steps: " + ", ".join(f"{k} {v:.1f}" for k, v in ms.items())
                  + f"; step {sum(v for k, v in ms.items() if k in PHASES):.1f}")
            return
        every = {"hubtune": hub, "plain": plain, "hubtune_wrapped": wrapped}
        engines = {name: every[name] for name in args.engines.split(",")}
        for run in engines.values():  # warm-up: allocator, first optimizer step (state creation)
            run(2)
        wall: dict[str, list[float]] = {k: [] for k in engines}
        cpu: dict[str, list[float]] = {k: [] for k in engines}
        faults: dict[str, list[float]] = {k: [] for k in engines}
        for rep in range(args.reps):
            order = list(engines) if rep % 2 == 0 else list(engines)[::-1]
            for name in order:
                f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                t0, c0 = time.perf_counter(), time.thread_time()
                engines[name](args.steps)
                faults[name].append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / args.steps)
                wall[name].append(1000 * (time.perf_counter() - t0) / args.steps)
                cpu[name].append(1000 * (time.thread_time() - c0) / args.steps)
        print(f"{w.name} b{w.batch_size}, {args.threads} thread(s), {args.reps} x {args.steps} steps per engine")
        for name in engines:
            print(f"  {name:8s} wall median {statistics.median(wall[name]):7.2f} ms/step   "
                  f"thread-CPU median {statistics.median(cpu[name]):7.2f} ms/step  min {min(cpu[name]):7.2f}  "
                  f"page faults {statistics.median(faults[name]):8.0f}/step")
        first = next(iter(engines))
        for other in list(engines)[1:]:
            pairs = [a / b for a, b in zip(cpu[first], cpu[other], strict=True)]
            wpairs = [a / b for a, b in zip(wall[first], wall[other], strict=True)]
            print(f"  {first}/{other} step time: thread-CPU median of paired ratios {statistics.median(pairs):.4f}, "
                  f"wall {statistics.median(wpairs):.4f}  (< 1: {first} faster)")
        if args.profile:
            ops = {name: profile_ops(run, args.profile) for name, run in engines.items()}
            a, b = list(engines)[:2]
            diff = sorted(set(ops[a]) | set(ops[b]),
                          key=lambda k: -abs(ops[a].get(k, (0, 0))[0] - ops[b].get(k, (0, 0))[0]))
            total = {n: sum(v[0] for v in o.values()) / args.profile for n, o in ops.items()}
            print(f"  profiled self-CPU per step: {a} {total[a]:.2f} ms, {b} {total[b]:.2f} ms")
            print(f"  {'op':45s} {a[:11] + ' ms':>14s} {'calls':>6s} {b[:11] + ' ms':>14s} {'calls':>6s}")
            for k in diff[:25]:
                x, y = ops[a].get(k, (0, 0)), ops[b].get(k, (0, 0))
                print(f"  {k[:45]:45s} {x[0] / args.profile:14.3f} {x[1] // args.profile:6d} "
                      f"{y[0] / args.profile:14.3f} {y[1] // args.profile:6d}")


if __name__ == "__main__":
    main()
