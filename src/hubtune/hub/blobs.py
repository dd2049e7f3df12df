"""Content-addressed LFS objects on disk: streamed in, hashed while written, renamed when verified.

A writer holds an exclusive ``flock`` on its temp file under ``lfs/tmp``, so a start-up sweep
(:meth:`LfsStore.clean_orphans`) removes only files whose writer is gone (a killed upload).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from hubtune.errors import HubError
from hubtune.hub.lfs import is_lfs_oid


class UploadTooLarge(HubError):
    """More bytes arrived than the size the upload was signed for."""


class LfsWriter:
    """One upload in progress: ``write`` chunks, then ``finish``; ``abort`` (or an error) removes it."""

    def __init__(self, store: LfsStore, oid: str, size: int) -> None:
        self.store, self.oid, self.size, self.total = store, oid, size, 0
        self.digest = hashlib.sha256()
        fd, self.tmp = tempfile.mkstemp(dir=store.tmp_dir, prefix=f"{oid[:12]}.")
        fcntl.flock(fd, fcntl.LOCK_EX)
        self.file = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if self.total > self.size:
            raise UploadTooLarge(f"upload of {self.oid} is larger than the {self.size} bytes it was signed for")
        self.digest.update(chunk)
        self.file.write(chunk)

    def finish(self) -> Path:
        """Check size and sha256, then move the object into place; ``HubError`` on a mismatch."""
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            got = self.digest.hexdigest()
            if self.total != self.size or got != self.oid:
                raise HubError(f"LFS upload mismatch for {self.oid}: got {self.total} bytes with sha256 {got}")
            final = self.store.path(self.oid)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.tmp, final)
            return final
        finally:
            self.abort()

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)


class LfsStore:
    """LFS objects under ``<root>/lfs/<oid[:2]>/<oid>``; uploads in flight under ``lfs/tmp``."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "lfs"
        self.tmp_dir = self.dir / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def path(self, oid: str) -> Path:
        if not is_lfs_oid(oid):
            raise HubError(f"invalid LFS oid {oid!r}: expected 64 lowercase hex digits (sha256)")
        return self.dir / oid[:2] / oid

    def has(self, oid: str, size: int | None = None) -> bool:
        path = self.path(oid)
        return path.is_file() and (size is None or path.stat().st_size == size)

    def writer(self, oid: str, size: int) -> LfsWriter:
        self.path(oid)  # validates the oid
        return LfsWriter(self, oid, size)

    def put(self, chunks: Iterable[bytes], oid: str, size: int) -> Path:
        """Store a blob streamed in ``chunks`` after checking its sha256 and size."""
        writer = self.writer(oid, size)
        try:
            for chunk in chunks:
                writer.write(chunk)
        except BaseException:
            writer.abort()
            raise
        return writer.finish()

    def clean_orphans(self) -> int:
        """Remove temp files no live writer holds (left by a killed upload); return how many."""
        removed = 0
        for path in self.tmp_dir.iterdir():
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a writer is still at work
            finally:
                os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
        return removed
