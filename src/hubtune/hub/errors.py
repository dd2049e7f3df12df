"""Errors of the local hub store (each a :class:`~hubtune.errors.HubError`: exit code 2 in the CLI)."""

from __future__ import annotations

from hubtune.errors import HubError


class RepoNotFound(HubError):
    """The repository does not exist (or is private and the caller may not see it)."""


class RevisionNotFound(HubError):
    """The branch, tag or commit does not exist in the repository."""


class EntryNotFound(HubError):
    """The file does not exist at that revision."""


class Conflict(HubError):
    """The repo, branch or tag already exists, or the branch moved since ``parent_commit``."""


class RepoBusy(HubError):
    """Another commit held the repository lock for too long; retry."""
