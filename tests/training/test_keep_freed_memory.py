"""``keep_freed_memory`` (called by ``Trainer.fit`` on the CPU): a step's freed memory is reused, not faulted in again."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SCRIPT = """
import json, resource, sys, torch
from hubtune.training.step import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else None

def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):  # what a step does with a large gradient: allocate, write, free
        torch.ones(48 << 18)  # 48 MiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

faults(), faults()  # the heap grows to the working set first
print(json.dumps({"kept": kept, "faults": faults()}))
"""


def run(mode: str, **env: str) -> dict:
    import os

    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True,
                         env={**os.environ, **env})
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc settings: Linux only")
def test_freed_step_memory_is_reused_not_faulted_in_again() -> None:
    default, kept = run("default"), run("keep")
    if not kept["kept"]:
        pytest.skip("not glibc, or glibc refused the settings")
    assert default["faults"] > 5 * 10_000  # 48 MiB = 12,288 pages, mapped and unmapped each time
    assert kept["faults"] < 1_000
    assert run("keep", HUBTUNE_KEEP_FREED_MEMORY="0")["kept"] is False
