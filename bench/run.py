"""``python bench/run.py``: hubtune vs a plain PyTorch loop vs the transformers Trainer, one process.

    python bench/run.py                               # every workload on the GPU (or the CPU mode)
    python bench/run.py --device cpu --quick          # the reduced CPU mode: harness check, real CPU numbers
    python bench/run.py --workloads resnet50,pipeline --engines hubtune,plain_compiled

Results: ``bench/results/throughput-<cpu|gpu-name>.json`` and ``.md`` (see ``bench/README.md``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import Result, device_name, pick_device, train_flops_per_sample  # noqa: E402
from bench.hubtune_engine import LoopSettings, run_hubtune  # noqa: E402
from bench.report import markdown, ratios  # noqa: E402
from bench.workloads import Workload, plain_model, workloads  # noqa: E402

ALL_WORKLOADS = "resnet50,vit_b16,bert_base,minilm,pipeline"
ALL_ENGINES = "hubtune,hubtune_eager,plain_eager,plain_compiled,hf_trainer"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="hubtune throughput benchmark (see bench/README.md)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--workloads", default=ALL_WORKLOADS, help=f"comma-separated; default {ALL_WORKLOADS}")
    p.add_argument("--engines", default=ALL_ENGINES, help=f"comma-separated; default {ALL_ENGINES}")
    p.add_argument("--quick", action="store_true", help="fewer steps (a smoke run of the harness)")
    p.add_argument("--steps", type=int, help="steps per measured window (default 20, quick 5; CPU 3, quick 2)")
    p.add_argument("--windows", type=int, help="measured windows per hubtune run (default 3, quick 1)")
    p.add_argument("--batch-size", type=int, help="override every workload's batch size")
    p.add_argument("--compile", choices=["auto", "on", "off"], default="auto", help="auto: on with CUDA")
    p.add_argument("--precision", choices=["auto", "bf16", "no"], default="auto", help="auto: bf16 on CUDA")
    p.add_argument("--workers", type=int, help="DataLoader workers for the JPEG pipeline (default: cores - 2)")
    p.add_argument("--files", type=int, help="JPEG files to replicate (default: enough for one epoch)")
    p.add_argument("--non-blocking", action="store_true", help="Accelerate non_blocking host→device copies")
    p.add_argument("--out", type=Path, help="result file stem (default bench/results/throughput-<cpu|gpu-name>)")
    p.add_argument("--from-json", type=Path, metavar="JSON",
                   help="measure nothing: rewrite the Markdown next to a results JSON written earlier")
    return p.parse_args(argv)


def loop_settings(args: argparse.Namespace, device: torch.device) -> LoopSettings:
    gpu = device.type == "cuda"
    steps = args.steps or ((5 if args.quick else 20) if gpu else (2 if args.quick else 3))
    return LoopSettings(
        precision=("bf16" if gpu else "no") if args.precision == "auto" else args.precision,
        compile=gpu if args.compile == "auto" else args.compile == "on",
        channels_last=False, steps=steps, windows=args.windows or (1 if args.quick else 3),
        num_workers=args.workers if args.workers is not None else max(2, min(12, (os.cpu_count() or 2) - 2)),
        non_blocking=args.non_blocking,
    )


def flops_of(w: Workload, device: torch.device) -> float | None:
    """Training FLOPs per sample (forward + backward), counted on a batch of 2."""
    from bench.plain_loop import plain_loss
    from bench.synthetic import make_batch

    try:
        model = plain_model(w).to(device)
        batch = {k: v.to(device) for k, v in make_batch(w, batch_size=2).items()}
        return train_flops_per_sample(model, batch, plain_loss)
    except Exception as e:  # FLOPs only feed MFU: never fail the run over them
        print(f"[bench] {w.name}: FLOP count failed ({e})", file=sys.stderr)
        return None


def bench_workload(w: Workload, engines: list[str], s: LoopSettings, device: torch.device) -> list[Result]:
    """Every requested engine that applies to ``w``, in one process, one after the other."""
    from dataclasses import replace

    from bench.hf_trainer import run_hf_trainer
    from bench.plain_loop import run_plain
    from bench.synthetic import synthetic_bundle

    flops = flops_of(w, device)
    hub = replace(s, channels_last=w.channels_last, num_workers=0)
    warmup, steps = s.steps * s.warmup_windows, s.steps * s.windows
    jobs: dict[str, Any] = {
        "hubtune": lambda: run_hubtune(w, hub, device, synthetic_bundle(w, hub.total_steps), flops=flops),
        "hubtune_eager": lambda: run_hubtune(w, replace(hub, compile=False), device,
                                             synthetic_bundle(w, hub.total_steps), "hubtune_eager", flops),
        "plain_eager": lambda: run_plain(w, device, compiled=False, precision=s.precision, warmup=warmup,
                                         steps=steps, flops=flops),
        "plain_compiled": lambda: run_plain(w, device, compiled=True, precision=s.precision, warmup=warmup,
                                            steps=steps, flops=flops),
        "hf_trainer": lambda: run_hf_trainer(w, device, precision=s.precision, warmup=warmup, steps=steps,
                                             flops=flops),
    }
    skip = {"plain_compiled": not s.compile, "hubtune_eager": not s.compile, "hf_trainer": w.kind != "text"}
    results = []
    for engine in [e for e in engines if e in jobs and not skip.get(e)]:
        t0 = time.perf_counter()
        result = jobs[engine]()
        result.notes["flops_per_sample"] = flops
        results.append(result)
        print(f"[bench] {w.name:10s} {engine:15s} {result.samples_per_s:10.1f} samples/s "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return results


def bench_pipeline(args: argparse.Namespace, s: LoopSettings, device: torch.device) -> list[Result]:
    """ResNet-50 on replicated hymenoptera JPEGs vs synthetic tensors, through hubtune."""
    from dataclasses import replace

    from bench.pipeline import files_needed, run_pipeline

    w = workloads(device, ["resnet50"], args.batch_size)[0]
    w = replace(w, name="pipeline")
    hub = replace(s, channels_last=w.channels_last)
    synthetic = bench_workload(w, ["hubtune"], hub, device)
    jpeg = run_pipeline(w, hub, device, args.files or files_needed(hub, w.batch_size))
    for r in jpeg:
        print(f"[bench] {w.name:10s} {r.engine:15s} {r.samples_per_s:10.1f} samples/s", flush=True)
    return synthetic + jpeg


def meta(device: torch.device, s: LoopSettings, args: argparse.Namespace) -> dict[str, Any]:
    import accelerate
    import timm
    import transformers

    gpu = device.type == "cuda"
    return {
        "device": device_name(device), "gpu_measured": gpu, "mode": ("gpu" if gpu else "cpu") + ("-quick" if args.quick else ""),
        "precision": s.precision, "compile": s.compile, "steps_per_window": s.steps, "windows": s.windows,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "accelerate": accelerate.__version__, "timm": timm.__version__,
                     "python": platform.python_version()},
        "cpu_count": os.cpu_count(), "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "argv": sys.argv[1:],
        "note": None if gpu else ("CPU mode: small inputs and batches, fp32, no torch.compile; these numbers check "
                                  "the harness and are NOT the GPU targets, which were not measured here."),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        return render_markdown(args.from_json)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    device = pick_device(args.device)
    s = loop_settings(args, device)
    info = meta(device, s, args)
    allocator = None
    if device.type == "cpu":  # what hubtune's Trainer.fit sets on the CPU, set for every engine before any runs
        from hubtune.training.step import keep_freed_memory

        allocator = "freed memory kept" if keep_freed_memory() else "malloc default"
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    names = [n.strip() for n in args.workloads.split(",") if n.strip()]
    results: list[Result] = []
    for w in workloads(device, [n for n in names if n != "pipeline"], args.batch_size):
        results += bench_workload(w, engines, s, device)
    if "pipeline" in names:
        results += bench_pipeline(args, s, device)
    for r in results if allocator else []:
        r.notes["allocator"] = allocator
    info["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    rows = ratios(results, info["gpu_measured"])
    write(results, rows, info, args.out or default_stem(device))
    return 0


def render_markdown(path: Path) -> int:
    """``X.json`` (from :func:`write`) → ``X.md``, exactly what the measuring run wrote."""
    doc = json.loads(path.read_text())
    results = [Result(**r) for r in doc["results"]]
    path.with_suffix(".md").write_text(markdown(results, doc["ratios"], doc["meta"]))
    print(f"[bench] wrote {path.with_suffix('.md')}")
    return 0


def default_stem(device: torch.device) -> Path:
    name = "throughput-" + ("cpu" if device.type == "cpu" else device_name(device).lower().replace(" ", "-"))
    return ROOT / "bench" / "results" / "".join(c for c in name if c.isalnum() or c in "-_")


def write(results: list[Result], rows: list[dict[str, Any]], info: dict[str, Any], stem: Path) -> None:
    stem.parent.mkdir(parents=True, exist_ok=True)
    doc = {"meta": info, "results": [r.to_dict() for r in results], "ratios": rows}
    stem.with_suffix(".json").write_text(json.dumps(doc, indent=2) + "\n")
    table = markdown(results, rows, info)
    stem.with_suffix(".md").write_text(table)
    print(table)
    print(f"[bench] wrote {stem.with_suffix('.json')} and {stem.with_suffix('.md')}")


if __name__ == "__main__":
    raise SystemExit(main())
