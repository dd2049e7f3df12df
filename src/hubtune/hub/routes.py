"""Read endpoints of the hub API: account, repo info, tree, files (with ranges), refs and history.

See ``shared/notes/hf-hub-protocol.md`` for what the stock ``huggingface_hub`` client expects.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from hubtune.hub.errors import EntryNotFound
from hubtune.hub.metadata import MetadataError, front_matter, string_list
from hubtune.hub.paths import validate_path, validate_repo_id
from hubtune.hub.plumbing import HttpError, check_read, current_user, json_response, read_json, state
from hubtune.hub.records import DirEntry, FileEntry

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 1 << 20


async def whoami(request: Request) -> Response:
    user = current_user(request)
    if user is None or not state(request).book:
        raise HttpError(401, "no token: send 'Authorization: Bearer <token>'")
    role = {"role": "write" if user.write else "read", "displayName": user.name}
    return json_response(
        {
            "type": "user",
            "name": user.name,
            "fullname": user.name,
            "orgs": [{"name": o, "type": "org"} for o in user.orgs if o != "*"],
            "auth": {"type": "access_token", "accessToken": role},
        }
    )


async def validate_yaml(request: Request) -> Response:
    body = await read_json(request, state(request).limits.yaml_body)
    content = body.get("content")
    try:
        front_matter(content if isinstance(content, str) else "")
    except MetadataError as e:
        return json_response({"errors": [{"message": str(e)}], "warnings": []}, 400)
    return json_response({"errors": [], "warnings": []})


def _card_data(hub: Any, repo_id: str, sha: str, files: list[FileEntry]) -> dict:
    """The README's metadata, or ``{}`` when there is none or it is not usable."""
    if not any(f.path == "README.md" for f in files):
        return {}
    data = hub.read_file(repo_id, "README.md", sha)
    raw = data if isinstance(data, bytes) else Path(data).read_bytes()[: 1 << 20]
    try:
        return front_matter(raw.decode("utf-8"))
    except (MetadataError, UnicodeDecodeError):
        return {}


def _model_info(hub: Any, repo_id: str, revision: str) -> dict:
    sha, entries = hub.list_tree(repo_id, revision)
    files = [e for e in entries if isinstance(e, FileEntry)]
    head = hub.list_commits(repo_id, sha, limit=1)[0]
    card = _card_data(hub, repo_id, sha, files)
    siblings = [
        {"rfilename": f.path, "size": f.size, "blobId": f.blob_id}
        | ({"lfs": {"sha256": f.lfs_oid, "size": f.size, "pointerSize": f.pointer_size}} if f.lfs_oid else {})
        for f in files
    ]
    meta = hub.meta(repo_id)
    text = {k: card.get(k) if isinstance(card.get(k), str) else None for k in ("library_name", "pipeline_tag")}
    return {
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
        "tags": string_list(card.get("tags")),
        **text,
        "cardData": card,
        "siblings": siblings,
        "spaces": [],
        "usedStorage": sum(f.size for f in files),
    }


async def model_info(request: Request, repo_id: str, revision: str) -> Response:
    check_read(request, repo_id)
    return json_response(await run_in_threadpool(_model_info, state(request).hub, repo_id, revision))


def entry_json(e: FileEntry | DirEntry) -> dict:
    if isinstance(e, DirEntry):
        return {"type": "directory", "oid": e.tree_id, "size": 0, "path": e.path}
    out: dict = {"type": "file", "oid": e.blob_id, "size": e.size, "path": e.path}
    if e.lfs_oid:
        out["lfs"] = {"oid": e.lfs_oid, "size": e.size, "pointerSize": e.pointer_size}
    return out


async def tree(request: Request, repo_id: str, revision: str, path: str) -> Response:
    check_read(request, repo_id)
    if path:
        validate_path(path.rstrip("/"))
    prefix = path.rstrip("/") + "/" if path else ""
    recursive = request.query_params.get("recursive", "false").lower() in ("1", "true")
    _, entries = await run_in_threadpool(state(request).hub.list_tree, repo_id, revision)
    picked = [e for e in entries if e.path.startswith(prefix) and (recursive or "/" not in e.path[len(prefix) :])]
    if path and not picked:
        raise HttpError(404, f"{path} not found at {revision}", "EntryNotFound")
    return json_response([entry_json(e) for e in picked])


async def paths_info(request: Request, repo_id: str, revision: str) -> Response:
    check_read(request, repo_id)
    body = await read_json(request)
    wanted = body.get("paths")
    wanted = {p for p in wanted if isinstance(p, str)} if isinstance(wanted, list) else set()
    _, entries = await run_in_threadpool(state(request).hub.list_tree, repo_id, revision)
    return json_response([entry_json(e) for e in entries if e.path in wanted])


def _byte_range(header: str, size: int) -> tuple[int, int, bool]:
    """``(start, end inclusive, partial)`` for a ``Range`` header; 416 when it cannot be served."""
    match = _RANGE.match(header.strip())
    if not match or not (match.group(1) or match.group(2)):
        return 0, size - 1, False
    a, b = match.groups()
    start, end = (int(a), min(int(b) if b else size - 1, size - 1)) if a else (max(size - int(b), 0), size - 1)
    if start >= size or start > end:
        raise HttpError(416, "range not satisfiable", headers={"Content-Range": f"bytes */{size}"})
    return start, end, True


async def resolve(request: Request, repo_id: str, revision: str, path: str) -> Response:
    validate_repo_id(repo_id)
    check_read(request, repo_id)
    hub = state(request).hub
    sha = await run_in_threadpool(hub.resolve_revision, repo_id, revision)
    try:
        _, entry = await run_in_threadpool(hub.file_entry, repo_id, path, sha)
    except EntryNotFound as e:
        raise HttpError(404, str(e), "EntryNotFound", {"X-Repo-Commit": sha}) from None
    headers = {"X-Repo-Commit": sha, "Accept-Ranges": "bytes", "ETag": f'"{entry.lfs_oid or entry.blob_id}"'}
    if entry.lfs_oid:
        headers |= {"X-Linked-Etag": f'"{entry.lfs_oid}"', "X-Linked-Size": str(entry.size)}
    start, end, partial = _byte_range(request.headers.get("range", ""), entry.size)
    if partial:
        headers["Content-Range"] = f"bytes {start}-{end}/{entry.size}"
    headers["Content-Length"] = str(max(end - start + 1, 0))
    status, media = (206 if partial else 200), "application/octet-stream"
    if request.method == "HEAD":
        return Response(b"", status, headers=headers, media_type=media)
    data = await run_in_threadpool(hub.read_file, repo_id, path, sha)
    if isinstance(data, bytes):
        return Response(data[start : end + 1], status, headers=headers, media_type=media)
    return StreamingResponse(_file_chunks(Path(data), start, end + 1 - start), status, headers, media)


def _file_chunks(path: Path, start: int, length: int) -> Iterator[bytes]:
    with path.open("rb") as f:
        f.seek(start)
        while length > 0:
            data = f.read(min(CHUNK, length))
            if not data:
                return
            length -= len(data)
            yield data


async def refs(request: Request, repo_id: str) -> Response:
    check_read(request, repo_id)
    found = await run_in_threadpool(state(request).hub.list_refs, repo_id)
    out = {
        kind: [{"name": n, "ref": f"refs/{prefix}/{n}", "targetCommit": s} for n, s in sorted(found[kind].items())]
        for kind, prefix in (("branches", "heads"), ("tags", "tags"))
    }
    return json_response(out | {"converts": [], "pullRequests": []})


async def commits(request: Request, repo_id: str, revision: str) -> Response:
    check_read(request, repo_id)
    history = await run_in_threadpool(state(request).hub.list_commits, repo_id, revision)
    return json_response(
        [
            {
                "id": c.sha,
                "title": c.title,
                "message": c.message,
                "date": c.date,
                "authors": [{"user": c.author, "avatar": None}],
                "parents": list(c.parents),
            }
            for c in history
        ]
    )
