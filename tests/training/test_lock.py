"""The output-folder lock: a second run on a busy folder exits 2 naming the owner; a dead owner's lock is taken over."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from training_helpers import REPO, cli_env, free_port, hubtune_cmd, mlp_recipe, run_until_checkpoint, train_in_process

from hubtune.errors import OutputError
from hubtune.training.checkpoint import latest_checkpoint
from hubtune.training.lock import OutputLock, lock_path, read_lock


def _write_lock(folder: Path, **info: object) -> Path:
    path = lock_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": socket.gethostname(), "started": "earlier", "token": "theirs", **info}))
    return path


@pytest.fixture
def sleeper():
    """A real live process that is not us."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    proc.kill()
    proc.wait()


# --------------------------------------------------------------------------- real `hubtune train` processes
@pytest.mark.slow
def test_second_run_on_a_busy_folder_exits_2_and_deletes_nothing(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    recipe = mlp_recipe(tmp_path, out)
    with (tmp_path / "first.err").open("w") as err:
        first = subprocess.Popen(hubtune_cmd("train", str(recipe)), stdout=subprocess.DEVNULL, stderr=err,
                                 env=cli_env(), cwd=REPO)
    try:
        deadline = time.monotonic() + 180
        while latest_checkpoint(out / "checkpoints") is None and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        first.send_signal(signal.SIGSTOP)  # hold it mid-training, alive, for as long as the checks take
        checkpoint = latest_checkpoint(out / "checkpoints")
        assert first.poll() is None and checkpoint is not None, (tmp_path / "first.err").read_text()[-2000:]
        assert read_lock(lock_path(out))["pid"] == first.pid

        second = subprocess.run(hubtune_cmd("train", str(recipe), "--overwrite"), capture_output=True, text=True,
                                env=cli_env(), cwd=REPO, timeout=180)
        assert second.returncode == 2, second.stderr[-2000:]
        assert f"in use by another hubtune run (pid {first.pid} on {socket.gethostname()}" in second.stderr
        assert "Traceback" not in second.stderr
        assert checkpoint.exists()  # --overwrite checked the lock before deleting anything
        for args in (["--resume"], []):
            assert train_in_process(str(recipe), *args) == 2
            assert f"pid {first.pid}" in capsys.readouterr().err
        assert read_lock(lock_path(out))["pid"] == first.pid  # the refused runs left the owner's lock alone
    finally:
        first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=180) == 0, (tmp_path / "first.err").read_text()[-2000:]
    assert (out / "hubtune.json").exists()
    assert not lock_path(out).exists()


@pytest.mark.slow
def test_lock_of_a_killed_run_is_taken_over_by_resume(tmp_path: Path, caplog) -> None:
    out = tmp_path / "out"
    recipe = mlp_recipe(tmp_path, out)
    killed = run_until_checkpoint(hubtune_cmd("train", str(recipe)), out / "checkpoints", 4, signal.SIGKILL, tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    stale = read_lock(lock_path(out))
    assert stale is not None and stale["host"] == socket.gethostname()  # SIGKILL left the lock behind
    with caplog.at_level(logging.WARNING, logger="hubtune"):
        assert train_in_process(str(recipe), "--resume") == 0
    assert f"taking over the lock of {out} from a run that is gone (pid {stale['pid']}" in caplog.text
    assert (out / "hubtune.json").exists()
    assert not lock_path(out).exists()


# --------------------------------------------------------------------------- the lock itself
def test_lock_is_held_and_released(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "out"
    with OutputLock(out) as lock:
        info = read_lock(lock.path)
        assert lock.path == tmp_path / "a" / "b" / ".out.lock"
        assert info["pid"] == os.getpid() and info["host"] == socket.gethostname() and info["started"]
        with pytest.raises(OutputError, match=f"pid {os.getpid()} on") as err:
            OutputLock(out).acquire()
        assert err.value.exit_code == 2
    assert not lock.path.exists()
    assert not (tmp_path / "a").exists()  # parents it made are removed again when left empty


def test_live_owner_holds_the_lock(tmp_path: Path, sleeper: subprocess.Popen) -> None:
    import psutil

    path = _write_lock(tmp_path / "out", pid=sleeper.pid, process_created=psutil.Process(sleeper.pid).create_time())
    with pytest.raises(OutputError, match=f"pid {sleeper.pid} on .*delete its lock file {re.escape(str(path))}"):
        OutputLock(tmp_path / "out").acquire()
    assert read_lock(path)["token"] == "theirs"


@pytest.mark.parametrize("case", ["dead pid", "reused pid", "no pid", "old unreadable"])
def test_stale_locks_are_taken_over(tmp_path: Path, sleeper: subprocess.Popen, case: str) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    info = {"dead pid": {"pid": int(dead.stdout), "process_created": 1.0},
            "reused pid": {"pid": sleeper.pid, "process_created": 12345.0},  # live pid, other process start time
            "no pid": {}}.get(case)
    path = _write_lock(tmp_path / "out", **(info or {}))
    if info is None:
        path.write_text('{"pid": 1')  # cut short
        os.utime(path, (time.time() - 60, time.time() - 60))
    with OutputLock(tmp_path / "out") as lock:
        assert read_lock(path)["token"] == lock.token
    assert not path.exists()


def test_fresh_unreadable_lock_is_held(tmp_path: Path) -> None:
    path = _write_lock(tmp_path / "out")
    path.write_text("")  # being written right now
    with pytest.raises(OutputError, match="being written"):
        OutputLock(tmp_path / "out").acquire()


def test_lock_on_another_host_is_never_taken_over(tmp_path: Path) -> None:
    path = _write_lock(tmp_path / "out", pid=1, host="elsewhere.example")
    with pytest.raises(OutputError, match=r"pid 1 on elsewhere\.example"):
        OutputLock(tmp_path / "out").acquire()
    assert path.exists()


def test_release_leaves_a_lock_that_is_not_ours(tmp_path: Path) -> None:
    lock = OutputLock(tmp_path / "out").acquire()
    lock.path.write_text(json.dumps({"pid": 1, "token": "someone else"}))
    lock.release()
    assert read_lock(lock.path)["token"] == "someone else"


def test_only_rank_0_takes_the_lock(tmp_path: Path, monkeypatch, sleeper: subprocess.Popen) -> None:
    monkeypatch.setenv("RANK", "1")
    with OutputLock(tmp_path / "free"):
        assert not lock_path(tmp_path / "free").exists()
    import psutil

    _write_lock(tmp_path / "busy", pid=sleeper.pid, process_created=psutil.Process(sleeper.pid).create_time())
    with OutputLock(tmp_path / "busy"):  # the main rank checks; the others must not fight it
        pass
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(OutputError):
        OutputLock(tmp_path / "busy").acquire()


def test_sigterm_while_held_exits_143_and_releases(tmp_path: Path) -> None:
    lock = OutputLock(tmp_path / "out")
    with pytest.raises(SystemExit) as stopped, lock:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert stopped.value.code == 143
    assert not lock.path.exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


@pytest.mark.slow
def test_accelerate_launch_on_a_busy_folder_checks_once_and_stops(tmp_path: Path, sleeper: subprocess.Popen) -> None:
    """Two processes: rank 0 finds the owner and exits 2; rank 1 does not take the lock (nor report it), and the
    launcher ends the job."""
    import psutil

    out = tmp_path / "out"
    path = _write_lock(out, pid=sleeper.pid, process_created=psutil.Process(sleeper.pid).create_time())
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(REPO / "recipes" / "accelerate" / "cpu_2proc.yaml"), "--num_processes", "2", "--main_process_port",
           str(free_port()), "-m", "hubtune", "train", str(mlp_recipe(tmp_path, out))]
    done = subprocess.run(cmd, capture_output=True, text=True, env=cli_env(ACCELERATE_USE_CPU="true"), cwd=REPO,
                          timeout=240)
    assert done.returncode != 0
    assert done.stderr.count(f"in use by another hubtune run (pid {sleeper.pid}") == 1, done.stderr[-3000:]
    assert read_lock(path)["token"] == "theirs" and not out.exists()
