"""The embedded local hub: bare git repositories (dulwich) plus content-addressed LFS blobs.

Layout under ``root``: ``models/<ns>/<name>.git`` (a bare repo; ``hubtune.json`` beside its
objects holds the private flag, ``hubtune-lfs/`` the LFS objects uploaded to it),
``lfs/<oid[:2]>/<oid>`` (large files by sha256), ``locks/``. Large files are committed as git-LFS
pointer files, exactly like on the Hugging Face Hub. A commit takes the repo's OS file lock (a crash
releases it; ref lock files a crashed writer left are removed), writes its objects, and moves the
branch with a compare-and-swap, so concurrent commits land in turn and none is ever half visible.
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

from dulwich.file import FileLocked
from dulwich.objects import Blob, Commit, ShaFile, Tag, Tree
from dulwich.repo import Repo
from filelock import FileLock, Timeout

from hubtune.atomic import atomic_write_json
from hubtune.errors import HubError
from hubtune.hub.blobs import LfsStore
from hubtune.hub.errors import Conflict, EntryNotFound, RepoBusy, RepoNotFound, RevisionNotFound
from hubtune.hub.lfs import gitattributes, is_lfs_oid, is_lfs_path, lfs_pointer, parse_lfs_pointer
from hubtune.hub.paths import default_hub_root, is_commit_sha, validate_path, validate_ref_name, validate_repo_id
from hubtune.hub.records import AddBytes, AddLfs, CommitEntry, Delete, DirEntry, FileEntry, Operation
from hubtune.hub.trees import Change, edit_tree

AUTHOR = b"hubtune <hubtune@localhost>"
LOCK_TIMEOUT = 60
LFS_GRANTS = "hubtune-lfs"  # per repo: the LFS objects this repo may reference (uploaded to it)


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class LocalHub:
    """Model repositories on local disk with commits, branches, tags, history and a private flag."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_hub_root()
        for sub in ("models", "locks"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.lfs = LfsStore(self.root)

    # ---- repos -------------------------------------------------------------------------
    def repo_dir(self, repo_id: str) -> Path:
        ns, name = validate_repo_id(repo_id).split("/")
        return self.root / "models" / ns / f"{name}.git"

    def exists(self, repo_id: str) -> bool:
        return (self.repo_dir(repo_id) / "hubtune.json").is_file()

    @contextlib.contextmanager
    def _lock(self, repo_id: str) -> Iterator[None]:
        """Serialise writes to one repo across threads and processes (an OS lock: a crash releases it)."""
        ns, name = validate_repo_id(repo_id).split("/")
        path = self.root / "locks" / ns / f"{name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(str(path), timeout=LOCK_TIMEOUT):
                yield
        except Timeout:
            raise RepoBusy(f"repository {repo_id!r} is busy with another commit; retry in a moment") from None

    @contextlib.contextmanager
    def _open(self, repo_id: str) -> Iterator[Repo]:
        if not self.exists(repo_id):
            raise RepoNotFound(f"repository {repo_id!r} not found")
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
                tree_id = edit_tree(repo, None, {".gitattributes": Change("add", blob.id)})
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
            raise RepoNotFound(f"repository {repo_id!r} not found")
        return json.loads((self.repo_dir(repo_id) / "hubtune.json").read_text())

    def is_private(self, repo_id: str) -> bool:
        return bool(self.meta(repo_id).get("private"))

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
            self._clear_stale_locks(repo, ref)
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
            self._clear_stale_locks(repo, ref)
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
        return self.lfs.path(oid)

    def has_lfs(self, oid: str, size: int | None = None) -> bool:
        """Whether the object is in the store (whichever repo it was uploaded to)."""
        return self.lfs.has(oid, size)

    def _grant(self, repo_id: str, oid: str) -> Path:
        return self.repo_dir(repo_id) / LFS_GRANTS / self.lfs.path(oid).name

    def repo_has_lfs(self, repo_id: str, oid: str, size: int | None = None) -> bool:
        """Whether ``repo_id`` may reference the object: it was uploaded to this repo and is stored."""
        return self._grant(repo_id, oid).is_file() and self.lfs.has(oid, size)

    def grant_lfs(self, repo_id: str, oid: str) -> None:
        """Let ``repo_id`` reference an object whose bytes were just uploaded to it (proof of possession)."""
        grant = self._grant(repo_id, oid)
        grant.parent.mkdir(exist_ok=True)
        grant.touch()

    def put_lfs(self, chunks: Iterable[bytes], oid: str, size: int, repo_id: str | None = None) -> Path:
        """Store a blob streamed in ``chunks`` after checking its sha256 and size (granted to ``repo_id``)."""
        path = self.lfs.put(chunks, oid, size)
        if repo_id:
            self.grant_lfs(repo_id, oid)
        return path

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
        """Apply ``operations`` as one commit on ``branch``; return the new commit sha.

        Commits to one repo are serialised by the repo lock; the work is linear in the files touched.
        """
        ref = b"refs/heads/" + validate_ref_name(branch).encode()
        staged = self._stage(repo_id, operations)
        with self._lock(repo_id), self._open(repo_id) as repo:
            self._clear_stale_locks(repo, ref)
            if ref not in repo.refs:
                raise RevisionNotFound(f"branch {branch!r} not found in {repo_id!r}")
            head = repo.refs[ref]
            if parent_commit and parent_commit.encode() != head:
                raise Conflict(f"branch {branch!r} moved since {parent_commit}: it is now at {head.decode()}")
            changes: dict[str, Change] = {}
            for op, data in staged:
                if isinstance(op, Delete):
                    folder = op.folder or op.path.endswith("/")
                    changes[op.path.rstrip("/")] = Change("delete_folder" if folder else "delete")
                else:
                    blob = Blob.from_string(data)
                    _add_object(repo, blob)
                    changes[op.path] = Change("add", blob.id)
            tree_id = edit_tree(repo, repo[head].tree, changes) or _empty_tree(repo)
            sha = self._new_commit(repo, tree_id, [head], message, description)
            if not repo.refs.set_if_equals(ref, head, sha):
                raise Conflict(f"branch {branch!r} moved during the commit; retry")
            return sha.decode()

    def _stage(self, repo_id: str, operations: Sequence[Operation]) -> list[tuple[Operation, bytes]]:
        """Check every operation and store large files in the LFS store, before taking the lock."""
        if not self.exists(repo_id):
            raise RepoNotFound(f"repository {repo_id!r} not found")
        staged = []
        for op in operations:
            validate_path(op.path.rstrip("/") if isinstance(op, Delete) else op.path)
            data = b""
            if isinstance(op, AddBytes):
                data = op.data
                if is_lfs_path(op.path, len(op.data)):
                    oid = hashlib.sha256(op.data).hexdigest()
                    self.put_lfs([op.data], oid, len(op.data), repo_id)
                    data = lfs_pointer(oid, len(op.data))
            elif isinstance(op, AddLfs):
                if not is_lfs_oid(op.oid) or not self.repo_has_lfs(repo_id, op.oid, op.size):
                    raise HubError(f"LFS object {op.oid} ({op.size} bytes) for {op.path!r} was not uploaded")
                data = lfs_pointer(op.oid, op.size)
            staged.append((op, data))
        return staged

    def _clear_stale_locks(self, repo: Repo, ref: bytes) -> None:
        """Under the repo lock no other writer exists: a ref ``.lock`` file is a crashed writer's."""
        for name in (ref.decode() + ".lock", "packed-refs.lock"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(repo.controldir(), name))

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


def _add_object(repo: Repo, obj: ShaFile) -> None:
    """Add ``obj``; a lock file left by a crashed writer (we hold the repo lock) is removed first."""
    try:
        repo.object_store.add_object(obj)
    except FileLocked as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(e.lockfilename)
        repo.object_store.add_object(obj)


def _empty_tree(repo: Repo) -> bytes:
    tree = Tree()
    repo.object_store.add_object(tree)
    return tree.id
