"""Plain records passed between the local hub store, the server and the client."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AddBytes:
    """Add or replace ``path`` with ``data`` (stored as LFS when the Hub would)."""

    path: str
    data: bytes


@dataclass(frozen=True)
class AddLfs:
    """Add or replace ``path`` with an LFS object already in the store."""

    path: str
    oid: str
    size: int


@dataclass(frozen=True)
class Delete:
    """Delete a file, or with ``folder=True`` everything under a folder."""

    path: str
    folder: bool = False


Operation = AddBytes | AddLfs | Delete


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    blob_id: str
    lfs_oid: str | None = None
    pointer_size: int | None = None


@dataclass(frozen=True)
class DirEntry:
    path: str
    tree_id: str


@dataclass(frozen=True)
class CommitEntry:
    sha: str
    title: str
    message: str
    author: str
    date: str
    parents: tuple[str, ...]
