"""A killed search resumes; two workers share one SQLite study without duplicating or losing trials."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
from search_helpers import digits_recipe, hubtune, spawn, states, trials

SPACE = {"train.lr": {"log_uniform": [1.0e-3, 0.3]}}


def _wait_for(path: Path, proc, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.2)


def _trainings_of(folder: Path) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        if any(str(folder) in part for part in p.info["cmdline"] or []):
            found.append(p)
    return found


def test_kill_9_mid_trial_then_rerun_resumes(tmp_path: Path, write_recipe, search_env) -> None:
    out = tmp_path / "search"
    recipe = write_recipe(digits_recipe(out, {"space": SPACE, "n_trials": 2, "enqueue_base": False,
                                              "sampler": {"type": "random", "seed": 0}, "pruner": "none"}))
    first = spawn(["search", str(recipe)], search_env)
    _wait_for(out / "trials" / "001.yaml", first)  # trial 0 finished, trial 1 started
    time.sleep(1.5)
    assert _trainings_of(out / "trials" / "001.yaml"), "trial 1 should be training now"
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    time.sleep(1.0)
    assert not _trainings_of(out / "trials" / "001.yaml")  # its training died with it (PR_SET_PDEATHSIG)
    assert states(trials(out)) == ["COMPLETE", "RUNNING"]
    kept = (out / "trials" / "000" / "hubtune.json").stat().st_mtime_ns

    second = hubtune(["search", str(recipe)], search_env)
    assert second.returncode == 0, second.stdout + second.stderr
    found = trials(out)
    assert states(found) == ["COMPLETE", "FAIL", "COMPLETE"]  # finished kept, interrupted failed and retried
    assert found[2].params == found[1].params and found[2].system_attrs["failed_trial"] == 1
    assert (out / "trials" / "000" / "hubtune.json").stat().st_mtime_ns == kept  # trial 0 did not run again
    assert "trial 0:" not in second.stdout.split("optimising")[1].split("| number")[0]


def test_two_workers_share_one_sqlite_study(tmp_path: Path, write_recipe, search_env) -> None:
    out = tmp_path / "search"
    recipe = write_recipe(digits_recipe(out, {"space": SPACE, "n_trials": 4, "enqueue_base": False,
                                              "sampler": {"type": "random"}, "pruner": "none"}, train={"epochs": 1}))
    workers = [spawn(["search", str(recipe)], search_env) for _ in range(2)]
    logs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], logs
    found = trials(out)
    numbers = [t.number for t in found]
    assert numbers == list(range(len(found)))  # distinct, none lost
    assert all(s == "COMPLETE" for s in states(found))
    assert 4 <= len(found) <= 5  # the budget: 4 finished, plus at most the one the other worker was running
    assert {t.user_attrs["hubtune_worker"].rsplit(":", 1)[1] for t in found} == {str(w.pid) for w in workers}
    folders = [t.user_attrs["folder"] for t in found]
    assert len(set(folders)) == len(found) and all(Path(f, "hubtune.json").exists() for f in folders)
    assert len({t.params["train.lr"] for t in found}) == len(found)


def _open_storage(url: str) -> str:
    from hubtune.search.study import make_storage

    make_storage(url, 0)
    return "ok"


def test_workers_opening_a_new_storage_at_once_all_succeed(tmp_path: Path) -> None:
    """Several workers creating one new SQLite study database at the same moment race on its tables and version
    row; the losers retry instead of failing (this made a two-worker search fail once in a full run)."""
    import multiprocessing

    url = f"sqlite:///{tmp_path / 'race.db'}"
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        assert pool.map(_open_storage, [url] * 4) == ["ok"] * 4
