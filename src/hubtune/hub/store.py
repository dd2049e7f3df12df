"""The embedded local hub: bare git repositories (dulwich) plus content-addressed LFS blobs.

Layout under ``root``: ``models/<ns>/<name>.git`` (a bare repo; ``hubtune.json`` beside its
objects holds the private flag), ``lfs/<oid[:2]>/<oid>`` (large files by sha256), ``locks/``.
Large files are committed as git-LFS pointer files, exactly like on the Hugging Face Hub.
A commit writes every object first and then moves the branch with a compare-and-swap under a
file lock, so a crash never leaves a visible half commit and concurrent commits land in turn.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path

from dulwich.objects import Blob, Commit, Tag, Tree
from dulwich.repo import Repo
from filelock import FileLock

from hubtune.errors import HubError
from hubtune.hub.names import (
    Conflict,
    EntryNotFound,
    RepoNotFound,
    RevisionNotFound,
    default_hub_root,
    gitattributes,
    is_commit_sha,
    is_lfs_oid,
    is_lfs_path,
    lfs_pointer,
    parse_lfs_pointer,
    validate_path,
    validate_ref_name,
    validate_repo_id,
)
from hubtune.hub.records import AddBytes, AddLfs, CommitEntry, Delete, DirEntry, FileEntry, Operation
from hubtune.io import atomic_write_json

AUTHOR = b"hubtune <hubtune@localhost>"
FILE_MODE = 0o100644
DIR_MODE = 0o040000


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class LocalHub:
    """Model repositories on local disk with commits, branches, tags, history and a private flag."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_hub_root()
        for sub in ("models", "lfs/tmp", "locks"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    # ---- repos -------------------------------------------------------------------------
    def repo_dir(self, repo_id: str) -> Path:
        ns, name = validate_repo_id(repo_id).split("/")
        return self.root / "models" / ns / f"{name}.git"

    def exists(self, repo_id: str) -> bool:
        return (self.repo_dir(repo_id) / "hubtune.json").is_file()

    def _lock(self, repo_id: str) -> FileLock:
        ns, name = validate_repo_id(repo_id).split("/")
        path = self.root / "locks" / ns / f"{name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(path), timeout=120)

    @contextlib.contextmanager
    def _open(self, repo_id: str) -> Iterator[Repo]:
        if not self.exists(repo_id):
            raise RepoNotFound(f"repository {repo_id!r} not found in {self.root}")
        repo = Repo(str(self.repo_dir(repo_id)))
        try:
            yield repo
        finally:
            repo.close()

    def create_repo(self, repo_id: str, private: bool = False, exist_ok: bool = False) -> str:
        """Create a repo with an initial commit on ``main``; return its id."""
        final = self.repo_dir(repo_id)
        with self._lock(repo_id):
            if self.exists(repo_id):
                if exist_ok:
                    return repo_id
                raise Conflict(f"repository {repo_id!r} already exists")
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
            try:
                repo = Repo.init_bare(str(tmp), default_branch=b"main")
                blob = Blob.from_string(gitattributes())
                repo.object_store.add_object(blob)
                tree_id = self._write_tree(repo, {".gitattributes": blob.id})
                sha = self._new_commit(repo, tree_id, [], "initial commit", "")
                repo.refs[b"refs/heads/main"] = sha
                repo.close()
                now = int(time.time())
                atomic_write_json(tmp / "hubtune.json", {"private": bool(private), "created_at": _iso(now)})
                shutil.rmtree(final, ignore_errors=True)  # leftovers without hubtune.json
                os.replace(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return repo_id

    def meta(self, repo_id: str) -> dict:
        if not self.exists(repo_id):
            raise RepoNotFound(f"repository {repo_id!r} not found in {self.root}")
        return json.loads((self.repo_dir(repo_id) / "hubtune.json").read_text())

    def is_private(self, repo_id: str) -> bool:
        return bool(self.meta(repo_id).get("private"))

    def set_private(self, repo_id: str, private: bool) -> None:
        with self._lock(repo_id):
            meta = self.meta(repo_id) | {"private": bool(private)}
            atomic_write_json(self.repo_dir(repo_id) / "hubtune.json", meta)

    def list_repos(self) -> list[str]:
        models = self.root / "models"
        return sorted(
            f"{p.parent.name}/{p.name[:-4]}" for p in models.glob("*/*.git") if (p / "hubtune.json").is_file()
        )

    # ---- revisions ---------------------------------------------------------------------
    def resolve_revision(self, repo_id: str, revision: str | None = "main") -> str:
        """The commit sha of a branch, tag or (full) commit sha."""
        with self._open(repo_id) as repo:
            return self._resolve(repo, revision or "main", repo_id)

    def _resolve(self, repo: Repo, rev: str, repo_id: str) -> str:
        if is_commit_sha(rev):
            with contextlib.suppress(KeyError):
                if isinstance(repo.object_store[rev.encode()], Commit):
                    return rev
        names = [rev] if rev.startswith("refs/") else [f"refs/heads/{rev}", f"refs/tags/{rev}"]
        for name in names:
            with contextlib.suppress(KeyError):
                obj = repo[repo.refs[name.encode()]]
                while isinstance(obj, Tag):
                    obj = repo[obj.object[1]]
                if isinstance(obj, Commit):
                    return obj.id.decode()
        raise RevisionNotFound(f"revision {rev!r} not found in {repo_id!r}")

    def list_refs(self, repo_id: str) -> dict[str, dict[str, str]]:
        """``{"branches": {name: sha}, "tags": {name: sha}}``."""
        with self._open(repo_id) as repo:
            out: dict[str, dict[str, str]] = {"branches": {}, "tags": {}}
            for kind, prefix in (("branches", b"refs/heads/"), ("tags", b"refs/tags/")):
                for name in repo.refs.as_dict(prefix.rstrip(b"/")):
                    out[kind][name.decode()] = self._resolve(repo, (prefix + name).decode(), repo_id)
            return out

    def create_branch(self, repo_id: str, branch: str, start: str | None = None, exist_ok: bool = False) -> str:
        return self._create_ref(repo_id, "refs/heads/", branch, start, exist_ok)

    def create_tag(self, repo_id: str, tag: str, revision: str | None = None, exist_ok: bool = False) -> str:
        return self._create_ref(repo_id, "refs/tags/", tag, revision, exist_ok)

    def _create_ref(self, repo_id: str, prefix: str, name: str, start: str | None, exist_ok: bool) -> str:
        ref = (prefix + validate_ref_name(name)).encode()
        with self._lock(repo_id), self._open(repo_id) as repo:
            sha = self._resolve(repo, start or "main", repo_id)
            if not repo.refs.add_if_new(ref, sha.encode()) and not exist_ok:
                raise Conflict(f"{ref.decode()} already exists in {repo_id!r}")
            return sha

    def delete_ref(self, repo_id: str, kind: str, name: str) -> None:
        """Delete a branch (``kind="branch"``, never ``main``) or a tag (``kind="tag"``)."""
        prefix = {"branch": "refs/heads/", "tag": "refs/tags/"}[kind]
        if kind == "branch" and name == "main":
            raise HubError("the main branch cannot be deleted")
        ref = (prefix + validate_ref_name(name)).encode()
        with self._lock(repo_id), self._open(repo_id) as repo:
            if ref not in repo.refs:
                raise RevisionNotFound(f"{ref.decode()} not found in {repo_id!r}")
            repo.refs.remove_if_equals(ref, None)

    def list_commits(self, repo_id: str, revision: str | None = "main", limit: int | None = None) -> list[CommitEntry]:
        """The history reachable from ``revision``, newest first."""
        with self._open(repo_id) as repo:
            sha = self._resolve(repo, revision or "main", repo_id)
            out = []
            for entry in repo.get_walker(include=[sha.encode()], max_entries=limit):
                c = entry.commit
                title, _, body = c.message.decode(errors="replace").partition("\n")
                out.append(
                    CommitEntry(
                        sha=c.id.decode(),
                        title=title,
                        message=body.strip(),
                        author=c.author.decode(errors="replace").split(" <")[0],
                        date=_iso(c.commit_time),
                        parents=tuple(p.decode() for p in c.parents),
                    )
                )
            return out

    # ---- files -------------------------------------------------------------------------
    def list_tree(self, repo_id: str, revision: str | None = "main") -> tuple[str, list[FileEntry | DirEntry]]:
        """``(commit sha, every file and folder)`` at ``revision``, sorted by path."""
        with self._open(repo_id) as repo:
            sha = self._resolve(repo, revision or "main", repo_id)
            entries: list[FileEntry | DirEntry] = []
            self._walk(repo, repo[repo[sha.encode()].tree], "", entries)
            return sha, sorted(entries, key=lambda e: e.path)

    def _walk(self, repo: Repo, tree: Tree, prefix: str, out: list[FileEntry | DirEntry]) -> None:
        for item in tree.items():
            path = prefix + item.path.decode()
            if stat.S_ISDIR(item.mode):
                out.append(DirEntry(path, item.sha.decode()))
                self._walk(repo, repo[item.sha], path + "/", out)
            else:
                out.append(self._file_entry(repo, path, item.sha))

    @staticmethod
    def _file_entry(repo: Repo, path: str, blob_sha: bytes) -> FileEntry:
        data = repo[blob_sha].as_raw_string()
        pointer = parse_lfs_pointer(data)
        if pointer is None:
            return FileEntry(path, len(data), blob_sha.decode())
        return FileEntry(path, pointer[1], blob_sha.decode(), lfs_oid=pointer[0], pointer_size=len(data))

    def list_files(self, repo_id: str, revision: str | None = "main") -> list[FileEntry]:
        return [e for e in self.list_tree(repo_id, revision)[1] if isinstance(e, FileEntry)]

    def file_entry(self, repo_id: str, path: str, revision: str | None = "main") -> tuple[str, FileEntry]:
        """``(commit sha, entry)`` for one file; ``EntryNotFound`` when it is not there."""
        validate_path(path)
        with self._open(repo_id) as repo:
            sha = self._resolve(repo, revision or "main", repo_id)
            try:
                _, blob_sha = repo[repo[sha.encode()].tree].lookup_path(repo.__getitem__, path.encode())
            except KeyError:
                raise EntryNotFound(f"{path!r} not found in {repo_id!r} at {revision}") from None
            if not isinstance(repo[blob_sha], Blob):
                raise EntryNotFound(f"{path!r} is a folder in {repo_id!r}")
            return sha, self._file_entry(repo, path, blob_sha)

    def read_file(self, repo_id: str, path: str, revision: str | None = "main") -> bytes | Path:
        """The file's bytes, or the path of its LFS blob for large files."""
        _, entry = self.file_entry(repo_id, path, revision)
        if entry.lfs_oid:
            return self.lfs_path(entry.lfs_oid)
        with self._open(repo_id) as repo:
            return repo[entry.blob_id.encode()].as_raw_string()

    # ---- LFS blobs ---------------------------------------------------------------------
    def lfs_path(self, oid: str) -> Path:
        if not is_lfs_oid(oid):
            raise HubError(f"invalid LFS oid {oid!r}")
        return self.root / "lfs" / oid[:2] / oid

    def has_lfs(self, oid: str, size: int | None = None) -> bool:
        path = self.lfs_path(oid)
        return path.is_file() and (size is None or path.stat().st_size == size)

    def put_lfs(self, chunks: Iterable[bytes], oid: str, size: int) -> Path:
        """Store a blob streamed in ``chunks`` after checking its sha256 and size."""
        final = self.lfs_path(oid)
        fd, tmp = tempfile.mkstemp(dir=self.root / "lfs" / "tmp")
        digest, total = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    digest.update(chunk)
                    total += len(chunk)
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            if total != size or digest.hexdigest() != oid:
                raise HubError(f"LFS upload mismatch for {oid}: got {total} bytes with sha256 {digest.hexdigest()}")
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return final

    # ---- commits -----------------------------------------------------------------------
    def commit(
        self,
        repo_id: str,
        operations: Sequence[Operation],
        message: str,
        branch: str = "main",
        parent_commit: str | None = None,
        description: str = "",
    ) -> str:
        """Apply ``operations`` as one commit on ``branch``; return the new commit sha."""
        blobs: dict[str, bytes] = {}
        with self._open(repo_id) as repo:
            for op in operations:
                validate_path(op.path.rstrip("/") if isinstance(op, Delete) else op.path)
                data = None
                if isinstance(op, AddBytes):
                    if is_lfs_path(op.path, len(op.data)):
                        oid = hashlib.sha256(op.data).hexdigest()
                        self.put_lfs([op.data], oid, len(op.data))
                        data = lfs_pointer(oid, len(op.data))
                    else:
                        data = op.data
                elif isinstance(op, AddLfs):
                    if not self.has_lfs(op.oid, op.size):
                        raise HubError(f"LFS object {op.oid} ({op.size} bytes) for {op.path!r} was not uploaded")
                    data = lfs_pointer(op.oid, op.size)
                if data is not None:
                    blob = Blob.from_string(data)
                    repo.object_store.add_object(blob)
                    blobs[op.path] = blob.id
        ref = b"refs/heads/" + validate_ref_name(branch).encode()
        with self._lock(repo_id), self._open(repo_id) as repo:
            if ref not in repo.refs:
                raise RevisionNotFound(f"branch {branch!r} not found in {repo_id!r}")
            head = repo.refs[ref]
            if parent_commit and parent_commit.encode() != head:
                raise Conflict(f"branch {branch!r} moved since {parent_commit}: it is now at {head.decode()}")
            files = self._flatten(repo, repo[head].tree, "")
            for op in operations:
                if isinstance(op, Delete):
                    self._delete(files, op, repo_id)
                else:
                    files[op.path] = blobs[op.path]
            clash = sorted({p for p in files for q in files if q.startswith(p + "/")})
            if clash:
                raise HubError(f"paths used both as a file and as a folder: {', '.join(clash)}")
            tree_id = self._write_tree(repo, files)
            sha = self._new_commit(repo, tree_id, [head], message, description)
            if not repo.refs.set_if_equals(ref, head, sha):
                raise Conflict(f"branch {branch!r} moved during the commit; retry")
            return sha.decode()

    @staticmethod
    def _delete(files: dict[str, bytes], op: Delete, repo_id: str) -> None:
        path = op.path.rstrip("/")
        if op.folder or op.path.endswith("/"):
            gone = [p for p in files if p.startswith(path + "/")]
        else:
            gone = [path] if path in files else []
        if not gone:
            raise EntryNotFound(f"cannot delete {op.path!r}: A file with this name doesn't exist in {repo_id!r}")
        for p in gone:
            del files[p]

    def _flatten(self, repo: Repo, tree_id: bytes, prefix: str) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for item in repo[tree_id].items():
            name = prefix + item.path.decode()
            if stat.S_ISDIR(item.mode):
                out.update(self._flatten(repo, item.sha, name + "/"))
            else:
                out[name] = item.sha
        return out

    def _write_tree(self, repo: Repo, files: dict[str, bytes]) -> bytes:
        tree, subdirs = Tree(), {}
        for path, sha in files.items():
            head, _, rest = path.partition("/")
            if rest:
                subdirs.setdefault(head, {})[rest] = sha
            else:
                tree.add(head.encode(), FILE_MODE, sha)
        for name, sub in subdirs.items():
            tree.add(name.encode(), DIR_MODE, self._write_tree(repo, sub))
        repo.object_store.add_object(tree)
        return tree.id

    @staticmethod
    def _new_commit(repo: Repo, tree_id: bytes, parents: list[bytes], message: str, description: str) -> bytes:
        c = Commit()
        c.tree, c.parents = tree_id, parents
        c.author = c.committer = AUTHOR
        c.author_time = c.commit_time = int(time.time())
        c.author_timezone = c.commit_timezone = 0
        c.encoding = b"UTF-8"
        text = (message or "update").strip() + (f"\n\n{description.strip()}" if description.strip() else "")
        c.message = text.encode() + b"\n"
        repo.object_store.add_object(c)
        return c.id
