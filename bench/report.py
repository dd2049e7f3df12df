"""Ratios against the peers, the issue's targets, and a Markdown table of one benchmark session."""

from __future__ import annotations

from typing import Any

from bench.common import Result

# (name, numerator engine, denominator engine, target or None); per workload
RATIOS = (
    ("hubtune / plain_compiled", "hubtune", "plain_compiled", 0.95),
    ("hubtune / plain_eager", "hubtune", "plain_eager", None),
    ("hubtune_eager / plain_eager", "hubtune_eager", "plain_eager", None),
    ("hubtune / hf_trainer", "hubtune", "hf_trainer", 1.5),
    ("hubtune_jpeg / hubtune", "hubtune_jpeg", "hubtune", 0.9),
    ("pipeline_loader / hubtune", "pipeline_loader", "hubtune", 1.0),
)


def ratios(results: list[Result], gpu: bool) -> list[dict[str, Any]]:
    """Every ratio whose two engines ran on the same workload; targets only judged on a GPU."""
    rates = {(r.workload, r.engine): r.samples_per_s for r in results}
    rows = []
    for workload in dict.fromkeys(r.workload for r in results):
        for name, num, den, target in RATIOS:
            if (workload, num) in rates and (workload, den) in rates:
                value = rates[workload, num] / rates[workload, den]
                verdict = None if target is None else ("pass" if value >= target else "miss") if gpu else "not judged (CPU)"
                rows.append({"workload": workload, "ratio": name, "value": round(value, 3), "target": target,
                             "verdict": verdict})
    return rows


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def markdown(results: list[Result], ratio_rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The session as Markdown: device line, one row per result, then the ratios."""
    lines = [f"**{meta['device']}** — mode `{meta['mode']}`, precision `{meta['precision']}`, "
             f"load average {meta['loadavg_before']} → {meta['loadavg_after']}", "",
             "| workload | engine | batch | samples/s | step ms | peak mem MiB | MFU |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r.workload} | {r.engine} | {r.batch_size} | {r.samples_per_s:,.1f} | {r.step_ms:,.1f} | "
                     f"{_fmt(r.peak_mem_mib, ',.0f')} | {_fmt(r.mfu and 100 * r.mfu, '.1f')}{'%' if r.mfu else ''} |")
    if ratio_rows:
        lines += ["", "| workload | ratio | value | target | verdict |", "|---|---|---:|---:|---|"]
        for row in ratio_rows:
            lines.append(f"| {row['workload']} | {row['ratio']} | {row['value']:.3f} | "
                         f"{_fmt(row['target'], '.2f')} | {row['verdict'] or ''} |")
    return "\n".join(lines) + "\n"
