"""Ratios against the peers, the issue's targets, and a Markdown table of one benchmark session."""

from __future__ import annotations

from typing import Any

from bench.common import Result

# (name, numerator engine, denominator engine, GPU target, CPU target); per workload. The CPU targets: hubtune
# at least 1.05x the transformers Trainer (text), 0.98x the plain loop doing the same work (fused AdamW, clipping).
RATIOS = (
    ("hubtune / plain_compiled", "hubtune", "plain_compiled", 0.95, None),
    ("hubtune / plain_eager", "hubtune", "plain_eager", None, 0.98),
    ("hubtune_eager / plain_eager", "hubtune_eager", "plain_eager", None, None),
    ("hubtune / hf_trainer", "hubtune", "hf_trainer", 1.5, 1.05),
    ("hubtune_jpeg / hubtune", "hubtune_jpeg", "hubtune", 0.9, None),
    ("pipeline_loader / hubtune", "pipeline_loader", "hubtune", 1.0, None),
)


def ratios(results: list[Result], gpu: bool) -> list[dict[str, Any]]:
    """Every ratio whose two engines ran on the same workload, judged against the device's target."""
    rates = {(r.workload, r.engine): r.samples_per_s for r in results}
    rows = []
    for workload in dict.fromkeys(r.workload for r in results):
        for name, num, den, gpu_target, cpu_target in RATIOS:
            if (workload, num) in rates and (workload, den) in rates:
                value = rates[workload, num] / rates[workload, den]
                target = gpu_target if gpu else cpu_target
                verdict = None if target is None else "pass" if value >= target else "miss"
                rows.append({"workload": workload, "ratio": name, "value": round(value, 3), "target": target,
                             "verdict": verdict})
    return rows


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def markdown(results: list[Result], ratio_rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The session as Markdown: device line, one row per result, then the ratios."""
    lines = [f"**{meta['device']}** — mode `{meta['mode']}`, precision `{meta['precision']}`, "
             f"load average {meta['loadavg_before']} → {meta['loadavg_after']}", "",
             "| workload | engine | batch | samples/s | step ms | peak mem MiB | MFU | settings |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in results:
        lines.append(f"| {r.workload} | {r.engine} | {r.batch_size} | {r.samples_per_s:,.1f} | {r.step_ms:,.1f} | "
                     f"{_fmt(r.peak_mem_mib, ',.0f')} | {_fmt(r.mfu and 100 * r.mfu, '.1f')}{'%' if r.mfu else ''} | "
                     f"{settings(r)} |")
    if ratio_rows:
        lines += ["", "| workload | ratio | value | target | verdict |", "|---|---|---:|---:|---|"]
        for row in ratio_rows:
            lines.append(f"| {row['workload']} | {row['ratio']} | {row['value']:.3f} | "
                         f"{_fmt(row['target'], '.2f')} | {row['verdict'] or ''} |")
    return "\n".join(lines) + "\n"


SETTING_KEYS = ("optim", "max_grad_norm", "scheduler", "precision", "compile", "channels_last", "data", "num_workers",
                "allocator")


def settings(r: Result) -> str:
    """What the engine did, from its notes: optimizer, clipping, schedule, precision, compile, data path."""
    notes = r.notes or {}
    return ", ".join(f"{k}={notes[k]}" for k in SETTING_KEYS if k in notes) or "–"
