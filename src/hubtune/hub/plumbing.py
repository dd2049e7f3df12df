"""Request plumbing of the hub app: limits, bodies, users and rights, JSON answers and errors."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import anyio
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from hubtune.hub.errors import RepoNotFound
from hubtune.hub.store import LocalHub
from hubtune.hub.users import TokenBook, User

BAD_TOKEN = "Invalid credentials in Authorization header"  # the stock client's marker for a wrong token
OPEN_ACCESS = User("anonymous", ("*",), True)
KiB, MiB = 1024, 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Body-size limits per kind of endpoint and the time a client may pause while sending a body."""

    json_body: int = 8 * MiB  # create, preupload, paths-info, LFS batch, branch, tag
    yaml_body: int = 1 * MiB  # validate-yaml (anonymous)
    commit_body: int = 64 * MiB  # NDJSON commit: regular files come inline, base64
    body_idle_s: float = 30.0


@dataclass
class HubState:
    """What every request sees: the store, the accepted tokens, the public URL and the limits."""

    hub: LocalHub
    book: TokenBook
    public_url: str
    limits: Limits = field(default_factory=Limits)
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))


class HttpError(Exception):
    """An error answer: status, message, optional ``X-Error-Code`` and extra headers."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.headers = status, code, headers or {}


def state(request: Request) -> HubState:
    return request.app.state.hub


def segments(request: Request) -> list[str]:
    """The path split on '/' *before* percent-decoding (a revision may hold an encoded '/')."""
    raw = request.scope.get("raw_path") or request.scope["path"].encode()
    return [unquote(s) for s in raw.decode("latin-1").split("?")[0].split("/")[1:]]


def header_safe(text: str) -> str:
    """One line of ``text`` that fits an HTTP header (non-Latin-1 characters escaped)."""
    line = (text.splitlines() or ["error"])[0][:300]
    return line.encode("ascii", "backslashreplace").decode("ascii")


def json_response(obj: Any, status: int = 200, headers: dict | None = None, media: str = "application/json") -> Response:
    return Response(json.dumps(obj), status, headers=headers, media_type=media)


def error_response(status: int, message: str, code: str | None = None, headers: dict | None = None) -> Response:
    extra = {"X-Error-Message": header_safe(message), **(headers or {})}
    if code:
        extra["X-Error-Code"] = code
    return json_response({"error": message}, status, extra)


# ---- users and rights ------------------------------------------------------------------
def current_user(request: Request) -> User | None:
    """The caller: ``None`` when anonymous; 401 for a token the server does not know."""
    book = state(request).book
    if not book:
        return OPEN_ACCESS
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if not token:
        return None
    user = book.authenticate(token)
    if user is None:
        raise HttpError(401, BAD_TOKEN)
    return user


def not_found(repo_id: str, user: User | None) -> HttpError:
    """The answer for a repo the caller may not see: the same for 'missing' and 'private'."""
    return HttpError(401 if user is None else 404, f"Repository {repo_id} not found", "RepoNotFound")


def check_read(request: Request, repo_id: str) -> User | None:
    """The caller, if it may read ``repo_id``; else the not-found answer."""
    user, hub = current_user(request), state(request).hub
    try:
        private = hub.is_private(repo_id)
    except RepoNotFound:
        raise not_found(repo_id, user) from None
    if private and not (user and user.owns(repo_id.split("/")[0])):
        raise not_found(repo_id, user)
    return user


def require_write(request: Request, namespace: str, repo_id: str | None = None) -> User:
    """The caller, if it may write in ``namespace`` (and see ``repo_id`` when given)."""
    user = current_user(request)
    if user is None:
        raise HttpError(401, "this action needs a token: send 'Authorization: Bearer <token>'")
    if repo_id:
        check_read(request, repo_id)
    if not user.can_write(namespace):
        why = "is read-only" if not user.write else f"may not write to the namespace {namespace!r}"
        raise HttpError(403, f"the token of user {user.name!r} {why}")
    return user


# ---- bodies ----------------------------------------------------------------------------
def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise HttpError(400, "invalid Content-Length header")
    return int(value)


async def iter_body(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The request body in chunks: 413 past ``limit``, 408 when the client pauses too long."""
    declared = _declared_length(request)
    if declared is not None and declared > limit:
        raise HttpError(413, f"request body of {declared} bytes is over the limit of {limit} bytes")
    stream, total = request.stream().__aiter__(), 0
    idle = state(request).limits.body_idle_s
    while True:
        try:
            with anyio.fail_after(idle):
                chunk = await stream.__anext__()
        except StopAsyncIteration:
            break
        except TimeoutError:
            raise HttpError(408, f"no body data for {idle:.0f} s: request timed out") from None
        except ClientDisconnect:
            raise HttpError(400, "the client disconnected before the end of the body") from None
        total += len(chunk)
        if total > limit:
            raise HttpError(413, f"request body is over the limit of {limit} bytes")
        yield chunk
    request.state.body_done = True


async def read_body(request: Request, limit: int) -> bytes:
    return b"".join([chunk async for chunk in iter_body(request, limit)])


async def read_json(request: Request, limit: int | None = None) -> dict[str, Any]:
    """The body as a JSON object; 400 for anything else."""
    body = await read_body(request, limit or state(request).limits.json_body)
    try:
        data = json.loads(body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise HttpError(400, f"invalid JSON body: {e}") from None
    if not isinstance(data, dict):
        raise HttpError(400, f"the JSON body must be an object, not {type(data).__name__}")
    return data


def field_of(body: dict, name: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
    """``body[name]`` if it has the expected type (``None``/missing gives ``default``), else 400."""
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise HttpError(400, f"field {name!r} has the wrong type ({type(value).__name__})")
    return value


def body_pending(request: Request) -> bool:
    """Whether the request announced a body that was not read to the end."""
    if getattr(request.state, "body_done", False):
        return False
    length = request.headers.get("content-length")
    return bool(request.headers.get("transfer-encoding")) or (length is not None and length != "0")
