"""Errors that hubtune raises for problems a user can fix.

Every error subclasses a builtin so callers can catch it the usual way, and carries the
fix in its message. The CLI maps :class:`UserError` subclasses to exit code 2.
"""

from __future__ import annotations


class UserError(Exception):
    """Base for problems in the user's input (recipe, data, checkpoint, hub): exit code 2."""

    exit_code = 2


class RecipeError(UserError, ValueError):
    """The recipe is invalid. ``problems`` lists every problem found, each with its key path."""

    def __init__(self, problems: list[str] | str, source: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        lines = [f"invalid recipe{where} ({len(self.problems)} problem(s)):"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class DataError(UserError, ValueError):
    """The dataset cannot be loaded or does not fit the recipe (paths, columns, labels)."""


class CheckpointError(UserError, ValueError):
    """A checkpoint or weights file is missing, corrupt, unsafe or does not fit the model."""


class ExportError(UserError, ValueError):
    """A compact export cannot be made (unknown format, missing tool, not a finished output folder)."""


class HubError(UserError, RuntimeError):
    """A hub operation failed (missing repo, bad id, auth)."""


class OutputError(UserError, FileExistsError):
    """The output folder cannot be used (exists without --overwrite/--resume, not writable)."""


class DiskFullError(UserError, OSError):
    """The disk filled up while writing (``ENOSPC``); what was saved before is intact."""


def disk_full(error: OSError) -> DiskFullError:
    """A :class:`DiskFullError` for an ``ENOSPC`` error, with what to do."""
    where = f" while writing {error.filename}" if error.filename else ""
    return DiskFullError(
        f"the disk is full{where} ({error.strerror or error}); earlier checkpoints and outputs are intact: "
        "free some space (or set output_dir on another disk) and run again with --resume"
    )
