"""Upload endpoints of the served hub: preupload, LFS batch, presigned LFS PUT, NDJSON commit."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING

from hubtune.hub.names import RevisionNotFound, is_lfs_oid, is_lfs_path, validate_path
from hubtune.hub.records import AddBytes, AddLfs, Delete, FileEntry, Operation

if TYPE_CHECKING:
    from hubtune.hub.store import LocalHub

LFS_JSON = "application/vnd.git-lfs+json"
URL_TTL = 3600


class HttpError(Exception):
    """An HTTP error answer: status, message, optional ``X-Error-Code`` and extra headers."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.headers = status, code, headers or {}


class UploadRoutes:
    """Mixin for the request handler (which provides ``hub``, bodies, auth and ``send_json``)."""

    hub: LocalHub
    query: dict[str, list[str]]

    def preupload(self, repo_id: str, revision: str) -> None:
        self.require_write()
        self.check_read(repo_id)
        body = self.read_json()
        try:
            sha, entries = self.hub.list_tree(repo_id, revision)
            existing = {e.path: e.lfs_oid or e.blob_id for e in entries if isinstance(e, FileEntry)}
        except RevisionNotFound:
            sha, existing = None, {}
        files = []
        for f in body.get("files") or []:
            path, size = validate_path(str(f.get("path"))), int(f.get("size") or 0)
            mode = "lfs" if is_lfs_path(path, size) else "regular"
            files.append({"path": path, "uploadMode": mode, "shouldIgnore": False, "oid": existing.get(path)})
        self.send_json({"files": files, "commitOid": sha})

    def _sign(self, oid: str, size: int, expires: int) -> str:
        message = f"{oid}:{size}:{expires}".encode()
        return hmac.new(self.server.secret, message, hashlib.sha256).hexdigest()  # type: ignore[attr-defined]

    def lfs_batch(self, repo_id: str) -> None:
        self.require_write()
        self.check_read(repo_id)
        body = self.read_json()
        if body.get("operation") != "upload":
            raise HttpError(400, "only LFS uploads go through the batch API; download with /resolve/")
        objects = []
        for obj in body.get("objects") or []:
            oid, size = str(obj.get("oid")), obj.get("size")
            if not is_lfs_oid(oid) or not isinstance(size, int) or size < 0:
                objects.append({"oid": oid, "size": size or 0, "error": {"code": 422, "message": "bad oid or size"}})
            elif self.hub.has_lfs(oid, size):
                objects.append({"oid": oid, "size": size})
            else:
                expires = int(time.time()) + URL_TTL
                href = (
                    f"{self.base_url()}/lfs-upload/{oid}?size={size}&exp={expires}&sig={self._sign(oid, size, expires)}"
                )
                objects.append(
                    {
                        "oid": oid,
                        "size": size,
                        "authenticated": True,
                        "actions": {"upload": {"href": href, "expires_in": URL_TTL}},
                    }
                )
        self.send_json({"transfer": "basic", "objects": objects, "hash_algo": "sha256"}, ctype=LFS_JSON)

    def lfs_upload(self, oid: str) -> None:
        """PUT of a presigned URL: no Authorization header, the HMAC in the URL is the permission."""
        q = {k: v[0] for k, v in self.query.items()}
        try:
            size, expires = int(q.get("size", "")), int(q.get("exp", ""))
        except ValueError:
            raise HttpError(403, "malformed upload URL") from None
        good = hmac.compare_digest(q.get("sig", ""), self._sign(oid, size, expires)) if is_lfs_oid(oid) else False
        if not good or expires < time.time():
            raise HttpError(403, "invalid or expired upload URL")
        try:
            self.hub.put_lfs(self.iter_body(), oid, size)
        except ValueError as e:
            raise HttpError(400, f"upload interrupted: {e}") from None
        self.send_json({})

    def commit(self, repo_id: str, revision: str) -> None:
        self.require_write()
        self.check_read(repo_id)
        if self.query.get("create_pr", ["0"])[0] not in ("0", "false", ""):
            raise HttpError(400, "pull requests are not supported by the hubtune hub")
        header, ops = {}, []
        for line in self.read_body().splitlines():
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                key, value = item["key"], item["value"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise HttpError(400, "malformed NDJSON commit payload") from None
            ops.extend(self._operation(key, value, header))
        sha = self.hub.commit(
            repo_id,
            ops,
            header.get("summary") or "update",
            branch=revision,
            parent_commit=header.get("parentCommit"),
            description=header.get("description") or "",
        )
        self.send_json(
            {
                "success": True,
                "commitOid": sha,
                "commitUrl": f"{self.base_url()}/{repo_id}/commit/{sha}",
                "hookOutput": "",
            }
        )

    @staticmethod
    def _operation(key: str, value: dict, header: dict) -> list[Operation]:
        if key == "header":
            header.update(value)
            return []
        path = str(value.get("path", ""))
        if key == "file":
            content = str(value.get("content", ""))
            data = base64.b64decode(content) if value.get("encoding") == "base64" else content.encode()
            return [AddBytes(validate_path(path), data)]
        if key == "lfsFile":
            if value.get("algo", "sha256") != "sha256" or not is_lfs_oid(str(value.get("oid"))):
                raise HttpError(400, f"bad LFS reference for {path!r}")
            return [AddLfs(validate_path(path), str(value["oid"]), int(value.get("size") or 0))]
        if key in ("deletedFile", "deletedFolder"):
            validate_path(path.rstrip("/"))
            return [Delete(path, folder=key == "deletedFolder")]
        raise HttpError(400, f"unsupported commit operation {key!r}")
