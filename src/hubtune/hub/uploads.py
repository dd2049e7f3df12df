"""Write endpoints of the hub API: create repo, preupload, LFS batch and signed PUT, commit, refs.

Rights are checked before any body is read; LFS uploads stream to disk, hashed on the way, and
stop at the size the upload URL was signed for.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from hubtune.hub.blobs import UploadTooLarge
from hubtune.hub.errors import RevisionNotFound
from hubtune.hub.lfs import is_lfs_oid, is_lfs_path
from hubtune.hub.paths import validate_path, validate_repo_id
from hubtune.hub.plumbing import (
    HttpError,
    current_user,
    field_of,
    iter_body,
    json_response,
    read_body,
    read_json,
    require_write,
    state,
)
from hubtune.hub.records import AddBytes, AddLfs, Delete, FileEntry, Operation

LFS_JSON = "application/vnd.git-lfs+json"
URL_TTL = 3600
SMALL_BODY = 64 * 1024


async def create_repo(request: Request) -> Response:
    user = current_user(request)
    if user is None:
        raise HttpError(401, "this action needs a token: send 'Authorization: Bearer <token>'")
    if not user.write:
        raise HttpError(403, f"the token of user {user.name!r} is read-only")
    body = await read_json(request, SMALL_BODY)
    if field_of(body, "type", str, "model") != "model":
        raise HttpError(400, "only model repositories are supported")
    name, org = field_of(body, "name", str, ""), field_of(body, "organization", str)
    default_ns = user.name if user.name != "anonymous" else "hubtune"
    repo_id = validate_repo_id(name if "/" in name else f"{org or default_ns}/{name}")
    require_write(request, repo_id.split("/")[0])
    private = bool(body.get("private")) or body.get("visibility") == "private"
    hub, url = state(request).hub, f"{state(request).public_url}/{repo_id}"
    if await run_in_threadpool(hub.exists, repo_id):  # the client reads "url" from the 409 with exist_ok=True
        msg = f"You already created this model repo: {repo_id}"
        return json_response({"error": msg, "url": url}, 409, {"X-Error-Message": msg})
    await run_in_threadpool(hub.create_repo, repo_id, private, True)
    return json_response({"url": url, "name": repo_id, "id": repo_id})


async def preupload(request: Request, repo_id: str, revision: str) -> Response:
    require_write(request, repo_id.split("/")[0], repo_id)
    body = await read_json(request)
    hub = state(request).hub
    try:
        sha, entries = await run_in_threadpool(hub.list_tree, repo_id, revision)
        existing = {e.path: e.lfs_oid or e.blob_id for e in entries if isinstance(e, FileEntry)}
    except RevisionNotFound:
        sha, existing = None, {}
    files = []
    for f in field_of(body, "files", list, []):
        if not isinstance(f, dict):
            raise HttpError(400, "each entry of 'files' must be an object with 'path' and 'size'")
        path, size = validate_path(field_of(f, "path", str, "")), field_of(f, "size", int, 0)
        mode = "lfs" if is_lfs_path(path, size) else "regular"
        files.append({"path": path, "uploadMode": mode, "shouldIgnore": False, "oid": existing.get(path)})
    return json_response({"files": files, "commitOid": sha})


def _sign(request: Request, repo_id: str, oid: str, size: int, expires: int) -> str:
    message = f"{repo_id}:{oid}:{size}:{expires}".encode()
    return hmac.new(state(request).secret, message, hashlib.sha256).hexdigest()


def _batch_object(request: Request, repo_id: str, obj: Any) -> dict:
    oid, size = obj.get("oid") if isinstance(obj, dict) else None, obj.get("size") if isinstance(obj, dict) else None
    if not is_lfs_oid(oid) or not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return {"oid": str(oid), "size": 0, "error": {"code": 422, "message": "bad oid or size"}}
    if state(request).hub.repo_has_lfs(repo_id, oid, size):
        return {"oid": oid, "size": size}
    expires = int(time.time()) + URL_TTL
    sig = _sign(request, repo_id, oid, size, expires)
    href = f"{state(request).public_url}/lfs-upload/{repo_id}/{oid}?size={size}&exp={expires}&sig={sig}"
    return {"oid": oid, "size": size, "authenticated": True, "actions": {"upload": {"href": href, "expires_in": URL_TTL}}}


async def lfs_batch(request: Request, repo_id: str) -> Response:
    require_write(request, repo_id.split("/")[0], repo_id)
    body = await read_json(request)
    if body.get("operation") != "upload":
        raise HttpError(400, "only LFS uploads go through the batch API; download with /resolve/")
    objects = [_batch_object(request, repo_id, obj) for obj in field_of(body, "objects", list, [])]
    return json_response({"transfer": "basic", "objects": objects, "hash_algo": "sha256"}, media=LFS_JSON)


async def lfs_upload(request: Request) -> Response:
    """PUT of a signed URL: no Authorization header, the HMAC in the URL is the permission."""
    ns, name, oid = (request.path_params[k] for k in ("ns", "name", "oid"))
    repo_id = validate_repo_id(f"{ns}/{name}")
    q = request.query_params
    try:
        size, expires = int(q.get("size", "")), int(q.get("exp", ""))
    except ValueError:
        raise HttpError(403, "malformed upload URL") from None
    good = is_lfs_oid(oid) and hmac.compare_digest(q.get("sig", ""), _sign(request, repo_id, oid, size, expires))
    if not good or expires < time.time():
        raise HttpError(403, "invalid or expired upload URL")
    hub = state(request).hub
    writer = await run_in_threadpool(hub.lfs.writer, oid, size)
    try:
        async for chunk in iter_body(request, size):
            writer.write(chunk)
    except UploadTooLarge as e:
        writer.abort()
        raise HttpError(413, str(e)) from None
    except BaseException:
        writer.abort()
        raise
    await run_in_threadpool(writer.finish)
    await run_in_threadpool(hub.grant_lfs, repo_id, oid)
    return json_response({})


def _decode_file(path: str, value: dict) -> bytes:
    content = field_of(value, "content", str, "")
    if value.get("encoding") != "base64":
        return content.encode()
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise HttpError(400, f"the content of {path!r} is not valid base64") from None


def _operation(key: str, value: dict, header: dict) -> list[Operation]:
    if key == "header":
        header.update(value)
        return []
    path = field_of(value, "path", str, "")
    if key == "file":
        return [AddBytes(validate_path(path), _decode_file(path, value))]
    if key == "lfsFile":
        if value.get("algo", "sha256") != "sha256" or not is_lfs_oid(value.get("oid")):
            raise HttpError(400, f"bad LFS reference for {path!r}")
        return [AddLfs(validate_path(path), value["oid"], field_of(value, "size", int, 0))]
    if key in ("deletedFile", "deletedFolder"):
        validate_path(path.rstrip("/"))
        return [Delete(path, folder=key == "deletedFolder")]
    raise HttpError(400, f"unsupported commit operation {key!r}")


def parse_commit(body: bytes) -> tuple[dict, list[Operation]]:
    """``(header, operations)`` from an NDJSON commit payload; 400 for anything malformed."""
    header: dict = {}
    ops: list[Operation] = []
    for number, line in enumerate(body.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise HttpError(400, f"line {number} of the commit payload is not JSON") from None
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not isinstance(item.get("value"), dict):
            raise HttpError(400, f"line {number} of the commit payload needs 'key' (text) and 'value' (object)")
        ops.extend(_operation(item["key"], item["value"], header))
    return header, ops


async def commit(request: Request, repo_id: str, revision: str) -> Response:
    require_write(request, repo_id.split("/")[0], repo_id)
    if request.query_params.get("create_pr", "0") not in ("0", "false", ""):
        raise HttpError(400, "pull requests are not supported by the hubtune hub")
    header, ops = parse_commit(await read_body(request, state(request).limits.commit_body))
    summary, description = field_of(header, "summary", str, ""), field_of(header, "description", str, "")
    parent = field_of(header, "parentCommit", str)
    hub = state(request).hub
    sha = await run_in_threadpool(
        lambda: hub.commit(repo_id, ops, summary or "update", revision, parent_commit=parent, description=description)
    )
    url = f"{state(request).public_url}/{repo_id}/commit/{sha}"
    return json_response({"success": True, "commitOid": sha, "commitUrl": url, "hookOutput": ""})


async def branch(request: Request, repo_id: str, name: str) -> Response:
    require_write(request, repo_id.split("/")[0], repo_id)
    hub = state(request).hub
    if request.method == "POST":
        start = field_of(await read_json(request, SMALL_BODY), "startingPoint", str) or "main"
        await run_in_threadpool(hub.create_branch, repo_id, name, start)
    else:
        await run_in_threadpool(hub.delete_ref, repo_id, "branch", name)
    return json_response({})


async def tag(request: Request, repo_id: str, name: str) -> Response:
    require_write(request, repo_id.split("/")[0], repo_id)
    hub = state(request).hub
    if request.method == "POST":
        new = field_of(await read_json(request, SMALL_BODY), "tag", str, "")
        await run_in_threadpool(hub.create_tag, repo_id, new, name)
    else:
        await run_in_threadpool(hub.delete_ref, repo_id, "tag", name)
    return json_response({})


async def no_xet(request: Request, *_: Any) -> Response:
    raise HttpError(501, "this hub does not support xet storage: set HF_HUB_DISABLE_XET=1 to upload with LFS")
