"""Editing git trees in place: a commit rewrites only the trees on the paths it touches.

The cost of a commit is linear in the files it changes (times their depth), not in the size of the
repo: untouched folders keep their tree objects.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass

from dulwich.objects import Tree
from dulwich.repo import Repo

from hubtune.errors import HubError
from hubtune.hub.errors import EntryNotFound

FILE_MODE = 0o100644
DIR_MODE = 0o040000


@dataclass(frozen=True)
class Change:
    """``add`` a blob, delete a file (``delete``) or a folder (``delete_folder``)."""

    kind: str
    blob: bytes | None = None


def _split(changes: dict[str, Change]) -> tuple[dict[str, Change], dict[str, dict[str, Change]]]:
    here: dict[str, Change] = {}
    below: dict[str, dict[str, Change]] = {}
    for path, change in changes.items():
        head, _, rest = path.partition("/")
        if rest:
            below.setdefault(head, {})[rest] = change
        else:
            here[head] = change
    return here, below


def _apply_here(tree: Tree, name: str, change: Change, where: str) -> None:
    key = name.encode()
    mode = tree[key][0] if key in tree else None
    is_dir = mode is not None and stat.S_ISDIR(mode)
    if change.kind == "add":
        if is_dir:
            raise HubError(f"{where}{name} is a folder in the repo: it cannot also be a file")
        tree.add(key, FILE_MODE, change.blob)
        return
    wanted_dir = change.kind == "delete_folder"
    if mode is None or is_dir != wanted_dir:
        what = "folder" if wanted_dir else "file"
        raise EntryNotFound(f"cannot delete {where}{name}: no {what} with this name exists")
    del tree[key]


def edit_tree(repo: Repo, tree_id: bytes | None, changes: dict[str, Change], where: str = "") -> bytes | None:
    """Apply ``changes`` (relative paths) to the tree ``tree_id``; the new tree id, ``None`` if empty."""
    tree = repo[tree_id].copy() if tree_id else Tree()
    here, below = _split(changes)
    for name, change in here.items():
        if name in below and change.kind == "add":
            raise HubError(f"{where}{name} is used both as a file and as a folder in this commit")
        _apply_here(tree, name, change, where)
    for name, sub_changes in below.items():
        key = name.encode()
        sub_id = None
        if key in tree:
            mode, sha = tree[key]
            if not stat.S_ISDIR(mode):
                raise HubError(f"{where}{name} is a file in the repo: it cannot also be a folder")
            sub_id = sha
        new_id = edit_tree(repo, sub_id, sub_changes, f"{where}{name}/")
        if new_id is None:
            if key in tree:
                del tree[key]
        else:
            tree.add(key, DIR_MODE, new_id)
    if not len(tree):
        return None
    repo.object_store.add_object(tree)
    return tree.id
