"""Names, paths and rules shared by the local hub store, the server and the client.

Repo ids, file paths and ref names are validated here (``HubError`` subclasses on failure); the
LFS rules (which files become LFS pointers) follow the Hugging Face Hub defaults.
"""

from __future__ import annotations

import hashlib
import os
import re
from fnmatch import fnmatch
from pathlib import Path

from hubtune.errors import HubError

HOME_ENV = "HUBTUNE_HOME"
LFS_THRESHOLD = 10 * 1024 * 1024
LFS_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.onnx", "*.msgpack", "*.h5", "*.ckpt", "*.pkl", "*.npz")
LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/v1\n"
_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,199}$")
_SHA = re.compile(r"^[0-9a-f]{40}$")
_OID = re.compile(r"^[0-9a-f]{64}$")


class RepoNotFound(HubError):
    """The repository does not exist (or is private and the caller may not see it)."""


class RevisionNotFound(HubError):
    """The branch, tag or commit does not exist in the repository."""


class EntryNotFound(HubError):
    """The file does not exist at that revision."""


class Conflict(HubError):
    """The repo, branch or tag already exists, or the branch moved since ``parent_commit``."""


def hubtune_home() -> Path:
    """``$HUBTUNE_HOME`` or ``~/.cache/hubtune``."""
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".cache" / "hubtune").expanduser()


def default_hub_root() -> Path:
    """Where the embedded local hub keeps its repositories: ``<home>/hub``."""
    return hubtune_home() / "hub"


def validate_repo_id(repo_id: str) -> str:
    """Return ``repo_id`` if it is ``namespace/name`` with the Hub's allowed characters."""
    parts = repo_id.split("/") if isinstance(repo_id, str) else []
    ok = len(parts) == 2 and all(
        _PART.match(p) and ".." not in p and "--" not in p and not p.endswith((".", "-", ".git")) for p in parts
    )
    if not ok:
        raise HubError(
            f"invalid repo id {repo_id!r}: use 'namespace/name' with letters, digits, '-', '_' and '.' "
            "(no '..', '--', leading '/' or trailing '.git')"
        )
    return repo_id


def validate_path(path: str) -> str:
    """Return ``path`` if it is a safe relative POSIX path inside a repo."""
    parts = path.split("/") if isinstance(path, str) else [""]
    bad = (
        not path
        or "\\" in path
        or "\0" in path
        or path.startswith("/")
        or any(p in ("", ".", "..", ".git") for p in parts)
    )
    if bad:
        raise HubError(f"invalid file path {path!r}: use a relative path without '..', '\\' or a leading '/'")
    return path


def validate_ref_name(name: str) -> str:
    """Return ``name`` if it is usable as a branch or tag name."""
    ok = isinstance(name, str) and _REF.match(name) and ".." not in name and "//" not in name
    if not ok or name.endswith(("/", ".lock", ".")) or is_commit_sha(name):
        raise HubError(f"invalid branch or tag name {name!r}")
    return name


def is_commit_sha(rev: str) -> bool:
    return bool(_SHA.match(rev))


def is_lfs_oid(oid: str) -> bool:
    return isinstance(oid, str) and bool(_OID.match(oid))


def is_lfs_path(path: str, size: int) -> bool:
    """Whether the Hub would store this file with LFS (large or a weights format)."""
    name = path.rsplit("/", 1)[-1]
    return size > 0 and (size > LFS_THRESHOLD or any(fnmatch(name, pat) for pat in LFS_PATTERNS))


def lfs_pointer(oid: str, size: int) -> bytes:
    """The git-LFS pointer file committed in place of a large file."""
    return LFS_POINTER_PREFIX + f"oid sha256:{oid}\nsize {size}\n".encode()


def parse_lfs_pointer(data: bytes) -> tuple[str, int] | None:
    """``(oid, size)`` when ``data`` is an LFS pointer file, else ``None``."""
    if len(data) > 512 or not data.startswith(LFS_POINTER_PREFIX):
        return None
    fields = dict(line.split(" ", 1) for line in data.decode(errors="replace").splitlines()[1:] if " " in line)
    oid = fields.get("oid", "").removeprefix("sha256:")
    size = fields.get("size", "")
    return (oid, int(size)) if is_lfs_oid(oid) and size.isdigit() else None


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a blob with this content (the Hub's ETag for regular files)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def gitattributes() -> bytes:
    """The ``.gitattributes`` of a new repo, naming the LFS patterns like the Hub does."""
    return "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in LFS_PATTERNS).encode()
