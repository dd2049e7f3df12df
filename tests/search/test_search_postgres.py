"""Two ``hubtune search`` workers share one study in a real PostgreSQL server (any SQLAlchemy URL works)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from search_helpers import digits_recipe, spawn, states, trials

SPACE = {"train.lr": {"log_uniform": [1.0e-3, 3.0e-1]}}


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL is not installed: `make system-deps` installs Debian's postgresql (needs root)")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture
def postgres() -> Iterator[str]:
    """A throwaway server: initdb in a temp folder, pg_ctl on a free 127.0.0.1 port, stopped and removed at the end.

    As root the server runs as Debian's ``postgres`` user, so its folder sits in /tmp (pytest's are root-only).
    """
    bindir, port = _pg_bin(), _free_port()
    base = Path(tempfile.mkdtemp(prefix="hubtune-pg-"))
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "hubtune", "--auth=trust", "-E",
                                 "UTF8"]), check=True, capture_output=True, timeout=120)
    options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={base}"
    subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"),
                                 "-w", "start"]), check=True, capture_output=True, timeout=120)
    try:
        subprocess.run(_as_postgres([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "hubtune",
                                     "studies"]), check=True, capture_output=True, timeout=60)
        yield f"postgresql://hubtune@127.0.0.1:{port}/studies"
    finally:
        subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                       capture_output=True, timeout=120)
        shutil.rmtree(base, ignore_errors=True)


def test_two_workers_share_one_postgres_study(tmp_path: Path, write_recipe, search_env, postgres: str) -> None:
    out = tmp_path / "search"
    search = {"space": SPACE, "n_trials": 4, "enqueue_base": False, "sampler": {"type": "random"}, "pruner": "none",
              "storage": postgres}
    recipe = write_recipe(digits_recipe(out, search, train={"epochs": 1}))
    workers = [spawn(["search", str(recipe)], search_env) for _ in range(2)]
    logs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], logs
    assert not (out / "study.db").exists()  # the study lives in PostgreSQL, not in the default SQLite file
    found = trials(out, storage=postgres)
    assert [t.number for t in found] == list(range(len(found)))  # distinct, none lost
    assert all(s == "COMPLETE" for s in states(found)) and 4 <= len(found) <= 5
    assert {t.user_attrs["hubtune_worker"].rsplit(":", 1)[1] for t in found} == {str(w.pid) for w in workers}
    assert len({t.user_attrs["folder"] for t in found}) == len(found)
