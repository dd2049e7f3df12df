"""Where the local hub lives, and validation of repo ids, file paths and ref names."""

from __future__ import annotations

import os
import re
from pathlib import Path

from hubtune.errors import HubError

HOME_ENV = "HUBTUNE_HOME"
_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,199}$")
_SHA = re.compile(r"^[0-9a-f]{40}$")


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
    """Whether ``rev`` is a full 40-hex commit sha."""
    return isinstance(rev, str) and bool(_SHA.match(rev))
