"""An output-folder lock held for a whole run, so two runs cannot write (or delete) one folder.

The lock is a small JSON file next to the folder (``.NAME.lock``: ``--overwrite`` may delete the
folder itself), created atomically with ``O_CREAT | O_EXCL``. It names its owner (PID, host,
start time). A lock whose owner is gone (same host, PID dead or reused, e.g. after SIGKILL) is
taken over, so kill-then-``--resume`` keeps working. Under ``accelerate launch`` only the main
process (``RANK`` 0) takes it; the other ranks do nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

from hubtune.errors import OutputError

log = logging.getLogger(__name__)


def lock_path(output_dir: Path) -> Path:
    """Where the lock of ``output_dir`` lives: ``PARENT/.NAME.lock``."""
    resolved = output_dir.resolve()
    return resolved.parent / f".{resolved.name}.lock"


def check_writable(output_dir: Path) -> None:
    """Raise :class:`OutputError` unless ``output_dir`` (or its nearest existing parent) is a writable folder."""
    probe = output_dir if output_dir.exists() else next((p for p in output_dir.parents if p.exists()), Path("."))
    if not probe.is_dir():
        raise OutputError(f"output folder {output_dir}: {probe} is not a folder (it is a file); choose another output_dir")
    if not os.access(probe, os.W_OK):
        raise OutputError(f"output folder {output_dir} is not writable (no write permission on {probe}); "
                          "choose another output_dir")


def is_main_process() -> bool:
    """True unless a launcher (torchrun / ``accelerate launch``) says this is not global rank 0."""
    return os.environ.get("RANK", "0") in ("", "0")


class OutputLock:
    """``with OutputLock(folder):`` holds the folder's lock; raises :class:`OutputError` (exit 2) if a live run holds it."""

    def __init__(self, output_dir: Path) -> None:
        self.output_dir = Path(output_dir)
        self.path = lock_path(self.output_dir)
        self.token = secrets.token_hex(8)
        self._created: list[Path] = []  # parent folders this lock made (removed again when left empty)
        self._held = False
        self._sigterm: Any = None

    # ------------------------------------------------------------------ public
    def acquire(self) -> OutputLock:
        """Take the lock (main process only); a stale lock is taken over."""
        if not is_main_process():
            return self
        check_writable(self.output_dir)
        self._make_parents()
        owner = self._info()
        for _ in range(3):  # create, or take over a stale lock and create again
            try:
                _create_exclusive(self.path, owner)
            except FileExistsError:
                held = read_lock(self.path)
                if (held is not None and _alive(held)) or (held is None and _fresh(self.path)):
                    self._cleanup_parents()
                    raise OutputError(_held_message(self.output_dir, self.path, held or {})) from None
                self._take_over()
                continue
            self._held = True
            self._catch_sigterm()
            return self
        self._cleanup_parents()
        raise OutputError(f"output folder {self.output_dir}: could not take its lock {self.path} (other runs keep "
                          "taking it); try again")

    def release(self) -> None:
        """Remove the lock if it is still ours; remove parent folders this lock created if they are empty."""
        if not self._held:
            return
        self._held = False
        self._restore_sigterm()
        held = read_lock(self.path)
        if held is not None and held.get("token") == self.token:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        self._cleanup_parents()

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    # ------------------------------------------------------------------ helpers
    def _info(self) -> dict[str, Any]:
        me = psutil.Process()
        return {"pid": me.pid, "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "process_created": me.create_time(), "output_dir": str(self.output_dir.resolve()),
                "token": self.token}

    def _make_parents(self) -> None:
        missing = [p for p in self.path.parents if not p.exists()]
        for folder in reversed(missing):
            folder.mkdir(exist_ok=True)
            self._created.append(folder)

    def _cleanup_parents(self) -> None:
        for folder in reversed(self._created):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only succeeds when empty
        self._created = []

    def _take_over(self) -> None:
        """Move a stale (or long unreadable) lock aside atomically; if a live run's lock got moved
        (it replaced the stale one meanwhile), put it back."""
        aside = self.path.with_name(f"{self.path.name}.stale-{self.token}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return  # someone else removed it: just try again
        moved = read_lock(aside)
        if moved is not None and _alive(moved):
            with contextlib.suppress(FileExistsError):
                os.link(aside, self.path)
        else:
            gone = moved or {}
            log.warning("taking over the lock of %s from a run that is gone (pid %s on %s, started %s)",
                        self.output_dir, gone.get("pid", "?"), gone.get("host", "?"), gone.get("started", "?"))
        aside.unlink(missing_ok=True)

    def _catch_sigterm(self) -> None:
        """SIGTERM's default action skips ``finally``; make it an exit that releases the lock."""
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            self._sigterm = signal.signal(signal.SIGTERM, _exit_on_sigterm)

    def _restore_sigterm(self) -> None:
        if self._sigterm is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._sigterm)
        self._sigterm = None


@contextlib.contextmanager
def output_lock(output_dir: Path) -> Iterator[OutputLock]:
    """Hold the lock of ``output_dir`` for the ``with`` block (main process only)."""
    with OutputLock(output_dir) as lock:
        yield lock


def read_lock(path: Path) -> dict[str, Any] | None:
    """The lock file's JSON, or ``None`` when it is missing or unreadable (a half-written lock)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _create_exclusive(path: Path, info: dict[str, Any]) -> None:
    """Create ``path`` holding ``info``; ``FileExistsError`` when it exists. The JSON goes to an
    ``O_EXCL`` temp file that is then hard-linked into place (``link`` never replaces a file), so
    readers never see a half-written lock; where links are unsupported, ``path`` itself is opened ``O_EXCL``."""
    tmp = path.with_name(f"{path.name}.tmp-{info['token']}")
    _write_exclusive(tmp, info)
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # no hard links on this file system
        _write_exclusive(path, info)
    finally:
        tmp.unlink(missing_ok=True)


def _write_exclusive(path: Path, info: dict[str, Any]) -> None:
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f)


def _fresh(path: Path, seconds: float = 10.0) -> bool:
    """An unreadable lock younger than ``seconds`` is being written by its owner: treat it as held."""
    try:
        return time.time() - path.stat().st_mtime < seconds
    except FileNotFoundError:
        return False


def _alive(owner: dict[str, Any]) -> bool:
    """Whether the lock's owner may still run: always on another host (we cannot tell), else PID alive and not reused."""
    if owner.get("host") != socket.gethostname():
        return True
    try:
        proc = psutil.Process(int(owner["pid"]))
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        created = owner.get("process_created")
        return created is None or abs(proc.create_time() - float(created)) < 1.0
    except (psutil.NoSuchProcess, KeyError, TypeError, ValueError):
        return False
    except psutil.AccessDenied:
        return True


def _held_message(output_dir: Path, path: Path, owner: dict[str, Any]) -> str:
    who = (f"pid {owner.get('pid')} on {owner.get('host')}, started {owner.get('started')}" if owner
           else "its lock file is being written")
    return (f"output folder {output_dir} is in use by another hubtune run ({who}); wait for it to end, or set "
            f"output_dir=<another folder>. If that run is gone, delete its lock file {path}")


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)
