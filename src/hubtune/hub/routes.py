"""The Hub API endpoints served by :mod:`hubtune.hub.server` (see docs in hf-hub-protocol notes).

``Routes`` is a mixin for the request handler, which provides ``hub``, ``query``, bodies, auth
checks and ``send_json`` / ``send_bytes``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from hubtune.hub.names import (
    EntryNotFound,
    validate_path,
    validate_repo_id,
)
from hubtune.hub.records import DirEntry, FileEntry
from hubtune.hub.uploads import HttpError, UploadRoutes

if TYPE_CHECKING:
    from hubtune.hub.store import LocalHub

LFS_JSON = "application/vnd.git-lfs+json"
URL_TTL = 3600
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def front_matter(text: str) -> dict:
    """The YAML metadata block at the top of a model card (``{}`` when absent)."""
    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, re.S)
    data = yaml.safe_load(match.group(1)) if match else {}
    if data is not None and not isinstance(data, dict):
        raise ValueError("the metadata block must be a YAML mapping")
    return data or {}


class Routes(UploadRoutes):
    """Endpoint handlers. ``route`` maps (method, path segments) to one of them."""

    hub: LocalHub
    query: dict[str, list[str]]

    def route(self, method: str, seg: list[str]) -> None:
        if seg[:1] == ["api"]:
            return self._route_api(method, seg[1:])
        if seg[:1] == ["lfs-upload"] and len(seg) == 2 and method == "PUT":
            return self.lfs_upload(seg[1])
        if seg[:1] in (["datasets"], ["spaces"]):
            raise HttpError(404, "only model repositories are served here", "RepoNotFound")
        if len(seg) >= 5 and seg[2] == "resolve" and method in ("GET", "HEAD"):
            return self.resolve(f"{seg[0]}/{seg[1]}", seg[3], "/".join(seg[4:]))
        if len(seg) == 6 and seg[1].endswith(".git") and seg[2:] == ["info", "lfs", "objects", "batch"]:
            return self.lfs_batch(validate_repo_id(f"{seg[0]}/{seg[1][:-4]}"))
        raise HttpError(404, f"no such endpoint: {method} /{'/'.join(seg)}")

    def _route_api(self, method: str, seg: list[str]) -> None:
        simple = {("GET", "whoami-v2"): self.whoami, ("POST", "validate-yaml"): self.validate_yaml}
        if len(seg) == 1 and (method, seg[0]) in simple:
            return simple[(method, seg[0])]()
        if seg == ["repos", "create"] and method == "POST":
            return self.create_repo()
        if seg[:1] in (["datasets"], ["spaces"]):
            raise HttpError(404, "only model repositories are served here", "RepoNotFound")
        if seg[:1] != ["models"] or len(seg) < 3:
            raise HttpError(404, f"no such endpoint: {method} /api/{'/'.join(seg)}")
        repo_id, rest = validate_repo_id(f"{seg[1]}/{seg[2]}"), seg[3:]
        action, args = (rest[0], rest[1:]) if rest else ("", [])
        table: dict[tuple[str, str], Any] = {
            ("GET", ""): lambda: self.model_info(repo_id, "main"),
            ("GET", "revision"): lambda: self.model_info(repo_id, args[0]),
            ("GET", "tree"): lambda: self.tree(repo_id, args[0], "/".join(args[1:])),
            ("GET", "refs"): lambda: self.refs(repo_id),
            ("GET", "commits"): lambda: self.commits(repo_id, args[0] if args else "main"),
            ("POST", "paths-info"): lambda: self.paths_info(repo_id, args[0]),
            ("POST", "preupload"): lambda: self.preupload(repo_id, args[0]),
            ("POST", "commit"): lambda: self.commit(repo_id, args[0]),
            ("POST", "branch"): lambda: self.branch(repo_id, args[0], create=True),
            ("DELETE", "branch"): lambda: self.branch(repo_id, args[0], create=False),
            ("POST", "tag"): lambda: self.tag(repo_id, args[0], create=True),
            ("DELETE", "tag"): lambda: self.tag(repo_id, args[0], create=False),
            ("GET", "xet-write-token"): self.no_xet,
            ("GET", "xet-read-token"): self.no_xet,
        }
        handler = table.get((method, action))
        if handler is None or (action and action not in ("refs",) and not args):
            raise HttpError(404, f"no such endpoint: {method} /api/{'/'.join(seg)}")
        return handler()

    # ---- account and validation --------------------------------------------------------
    def whoami(self) -> None:
        if not self.authed():
            raise HttpError(401, "no token: send Authorization: Bearer <token>")
        role = {"role": "write", "displayName": "hubtune-local"}
        self.send_json(
            {
                "type": "user",
                "name": "hubtune",
                "fullname": "hubtune local hub",
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": role},
            }
        )

    def validate_yaml(self) -> None:
        body = self.read_json()
        try:
            front_matter(str(body.get("content", "")))
        except (yaml.YAMLError, ValueError) as e:
            return self.send_json({"errors": [{"message": f"invalid YAML metadata: {e}"}], "warnings": []}, 400)
        self.send_json({"errors": [], "warnings": []})

    def no_xet(self) -> None:
        raise HttpError(501, "this hub does not support xet storage: set HF_HUB_DISABLE_XET=1 to upload with LFS")

    # ---- repos -------------------------------------------------------------------------
    def create_repo(self) -> None:
        self.require_write()
        body = self.read_json()
        if body.get("type", "model") != "model":
            raise HttpError(400, "only model repositories are supported")
        name, org = str(body.get("name") or ""), body.get("organization")
        repo_id = validate_repo_id(name if "/" in name else f"{org or 'hubtune'}/{name}")
        private = bool(body.get("private")) or body.get("visibility") == "private"
        url = f"{self.base_url()}/{repo_id}"
        if self.hub.exists(repo_id):  # the client reads "url" from the 409 answer when exist_ok=True
            msg = f"You already created this model repo: {repo_id}"
            return self.send_json({"error": msg, "url": url}, 409, {"X-Error-Message": msg})
        self.hub.create_repo(repo_id, private=private)
        self.send_json({"url": url, "name": repo_id, "id": repo_id})

    def model_info(self, repo_id: str, revision: str) -> None:
        self.check_read(repo_id)
        sha, entries = self.hub.list_tree(repo_id, revision)
        files = [e for e in entries if isinstance(e, FileEntry)]
        head = self.hub.list_commits(repo_id, sha, limit=1)[0]
        card: dict = {}
        if any(f.path == "README.md" for f in files):
            data = self.hub.read_file(repo_id, "README.md", sha)
            try:
                card = front_matter((data if isinstance(data, bytes) else Path(data).read_bytes()).decode())
            except (yaml.YAMLError, ValueError, UnicodeDecodeError):
                card = {}
        siblings = [
            {"rfilename": f.path, "size": f.size, "blobId": f.blob_id}
            | ({"lfs": {"sha256": f.lfs_oid, "size": f.size, "pointerSize": f.pointer_size}} if f.lfs_oid else {})
            for f in files
        ]
        meta = self.hub.meta(repo_id)
        self.send_json(
            {
                "_id": repo_id,
                "id": repo_id,
                "modelId": repo_id,
                "author": repo_id.split("/")[0],
                "sha": sha,
                "lastModified": head.date,
                "createdAt": meta.get("created_at"),
                "private": bool(meta.get("private")),
                "disabled": False,
                "gated": False,
                "downloads": 0,
                "likes": 0,
                "tags": list(card.get("tags") or []),
                "library_name": card.get("library_name"),
                "pipeline_tag": card.get("pipeline_tag"),
                "cardData": card,
                "siblings": siblings,
                "spaces": [],
                "usedStorage": sum(f.size for f in files),
            }
        )

    # ---- files -------------------------------------------------------------------------
    @staticmethod
    def _entry_json(e: FileEntry | DirEntry) -> dict:
        if isinstance(e, DirEntry):
            return {"type": "directory", "oid": e.tree_id, "size": 0, "path": e.path}
        out: dict = {"type": "file", "oid": e.blob_id, "size": e.size, "path": e.path}
        if e.lfs_oid:
            out["lfs"] = {"oid": e.lfs_oid, "size": e.size, "pointerSize": e.pointer_size}
        return out

    def tree(self, repo_id: str, revision: str, path: str) -> None:
        self.check_read(repo_id)
        if path:
            validate_path(path.rstrip("/"))
        prefix = path.rstrip("/") + "/" if path else ""
        recursive = self.query.get("recursive", ["false"])[0].lower() in ("1", "true")
        _, entries = self.hub.list_tree(repo_id, revision)
        picked = [e for e in entries if e.path.startswith(prefix) and (recursive or "/" not in e.path[len(prefix) :])]
        if path and not picked:
            raise HttpError(404, f"{path} not found at {revision}", "EntryNotFound")
        self.send_json([self._entry_json(e) for e in picked])

    def paths_info(self, repo_id: str, revision: str) -> None:
        self.check_read(repo_id)
        body = self.read_json()
        wanted = set(body.get("paths") or [])
        _, entries = self.hub.list_tree(repo_id, revision)
        self.send_json([self._entry_json(e) for e in entries if e.path in wanted])

    def resolve(self, repo_id: str, revision: str, path: str) -> None:
        validate_repo_id(repo_id)
        self.check_read(repo_id)
        sha = self.hub.resolve_revision(repo_id, revision)
        try:
            _, entry = self.hub.file_entry(repo_id, path, sha)
        except EntryNotFound as e:
            raise HttpError(404, str(e), "EntryNotFound", {"X-Repo-Commit": sha}) from None
        data = self.hub.read_file(repo_id, path, sha)
        size = entry.size
        headers = {
            "X-Repo-Commit": sha,
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
            "ETag": f'"{entry.lfs_oid or entry.blob_id}"',
        }
        if entry.lfs_oid:
            headers |= {"X-Linked-Etag": f'"{entry.lfs_oid}"', "X-Linked-Size": str(size)}
        start, end, status = 0, size - 1, 200
        match = _RANGE.match(self.headers.get("Range", "").strip())
        if match and (match.group(1) or match.group(2)):
            a, b = match.groups()
            start, end = (int(a), min(int(b) if b else size - 1, size - 1)) if a else (max(size - int(b), 0), size - 1)
            if start >= size or start > end:
                raise HttpError(416, "range not satisfiable", headers={"Content-Range": f"bytes */{size}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = str(max(end - start + 1, 0))
        if isinstance(data, bytes):
            return self.send_bytes(status, headers, data[start : end + 1])
        self.send_bytes(status, headers, _file_chunks(Path(data), start, end + 1 - start))

    # ---- refs and history --------------------------------------------------------------
    def refs(self, repo_id: str) -> None:
        self.check_read(repo_id)
        refs = self.hub.list_refs(repo_id)
        out = {
            kind: [{"name": n, "ref": f"refs/{prefix}/{n}", "targetCommit": s} for n, s in sorted(refs[kind].items())]
            for kind, prefix in (("branches", "heads"), ("tags", "tags"))
        }
        self.send_json(out | {"converts": [], "pullRequests": []})

    def commits(self, repo_id: str, revision: str) -> None:
        self.check_read(repo_id)
        self.send_json(
            [
                {
                    "id": c.sha,
                    "title": c.title,
                    "message": c.message,
                    "date": c.date,
                    "authors": [{"user": c.author, "avatar": None}],
                    "parents": list(c.parents),
                }
                for c in self.hub.list_commits(repo_id, revision)
            ]
        )

    def branch(self, repo_id: str, name: str, create: bool) -> None:
        self.require_write()
        self.check_read(repo_id)
        if create:
            body = self.read_json()
            self.hub.create_branch(repo_id, name, body.get("startingPoint") or "main")
        else:
            self.hub.delete_ref(repo_id, "branch", name)
        self.send_json({})

    def tag(self, repo_id: str, name: str, create: bool) -> None:
        self.require_write()
        self.check_read(repo_id)
        if create:
            body = self.read_json()
            self.hub.create_tag(repo_id, str(body.get("tag") or ""), name)
        else:
            self.hub.delete_ref(repo_id, "tag", name)
        self.send_json({})


def _file_chunks(path: Path, start: int, length: int, chunk: int = 1 << 20):
    with path.open("rb") as f:
        f.seek(start)
        while length > 0:
            data = f.read(min(chunk, length))
            if not data:
                return
            length -= len(data)
            yield data
