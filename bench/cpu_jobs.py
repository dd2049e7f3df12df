"""Time the README's two commands (``make demo``: the main job; ``make test``: the suite) on this machine.

Each job runs as a child process; wall time, CPU time and peak resident memory (the largest
RSS of the job or any descendant it waited for, as ``/usr/bin/time -v`` reports it) are read
from ``os.wait4``. The load average before and after is recorded: other work on the machine
slows a job down, so a number taken under load is an upper bound.

    python3 bench/cpu_jobs.py                # demo + tests -> bench/results/cpu.json
    python3 bench/cpu_jobs.py --jobs demo    # just the main job

On a fresh checkout the first job includes the install (``make`` installs on first use).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "cpu.json"


def job_commands() -> dict[str, list[str]]:
    """The README's two commands, exactly: ``make demo`` (main job) and ``make test`` (the suite)."""
    return {"demo": ["make", "demo"], "tests": ["make", "test"]}


def time_job(cmd: list[str]) -> dict[str, Any]:
    """Run ``cmd`` in the repository root; wall/CPU seconds, peak RSS (MiB), exit code, load."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    tail = proc.stdout.read().splitlines()[-5:]
    _, status, usage = os.wait4(proc.pid, 0)  # reap here (not proc.wait) to get this job's rusage
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    return {
        "command": " ".join(cmd), "exit_code": proc.returncode,
        "wall_s": round(wall, 2), "user_s": round(usage.ru_utime, 2), "sys_s": round(usage.ru_stime, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()], "output_tail": tail,
    }


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "processor": platform.processor() or platform.machine()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="demo,tests", help="comma-separated: demo, tests")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    results["machine"] = machine()
    commands = job_commands()
    for name in [j.strip() for j in args.jobs.split(",") if j.strip()]:
        print(f"[cpu_jobs] {name}: {' '.join(commands[name])}", flush=True)
        row = {**time_job(commands[name]), "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        results.setdefault("jobs", {})[name] = row
        print(f"[cpu_jobs] {name}: {row['wall_s']} s wall, peak RSS {row['peak_rss_mib']} MiB, "
              f"load {row['loadavg_before']} -> {row['loadavg_after']}, exit {row['exit_code']}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if all(r["exit_code"] == 0 for r in results.get("jobs", {}).values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
