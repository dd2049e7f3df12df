"""The hub's ASGI app (Starlette): the Hugging Face Hub API subset the stock client uses.

Routes are declared in :func:`api_routes`; web pages can be added as more Starlette routes
(mounted before the catch-all repo paths). Errors are JSON with a 4xx code and never name a
server path; an unexpected error is logged and answered 500 without details.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from hubtune.errors import HubError
from hubtune.hub import routes, uploads, web
from hubtune.hub.errors import Conflict, EntryNotFound, RepoBusy, RepoNotFound, RevisionNotFound
from hubtune.hub.paths import validate_repo_id
from hubtune.hub.plumbing import HttpError, HubState, body_pending, error_response, iter_body, segments

log = logging.getLogger(__name__)
Handler = Callable[..., Awaitable[Response]]
_NOT_MODELS = "only model repositories are served here"

# (method, action) under /api/models/{ns}/{name}/ → (handler, how many path segments it takes after the action)
_MODEL_ACTIONS: dict[tuple[str, str], tuple[Handler, str]] = {
    ("GET", ""): (routes.model_info, "none"),
    ("GET", "revision"): (routes.model_info, "rev"),
    ("GET", "tree"): (routes.tree, "rev+path"),
    ("GET", "refs"): (routes.refs, "none"),
    ("GET", "commits"): (routes.commits, "rev?"),
    ("POST", "paths-info"): (routes.paths_info, "rev"),
    ("POST", "preupload"): (uploads.preupload, "rev"),
    ("POST", "commit"): (uploads.commit, "rev"),
    ("POST", "branch"): (uploads.branch, "rev"),
    ("DELETE", "branch"): (uploads.branch, "rev"),
    ("POST", "tag"): (uploads.tag, "rev"),
    ("DELETE", "tag"): (uploads.tag, "rev"),
    ("GET", "xet-write-token"): (uploads.no_xet, "rev"),
    ("GET", "xet-read-token"): (uploads.no_xet, "rev"),
}


def _no_endpoint(request: Request) -> HttpError:
    return HttpError(404, f"no such endpoint: {request.method} {request.url.path}")


async def models_api(request: Request) -> Response:
    """``/api/models/{ns}/{name}[/{action}/...]`` (split on the raw path: revisions may hold '/')."""
    seg = segments(request)[2:]
    if len(seg) < 2:
        raise _no_endpoint(request)
    repo_id, action, args = validate_repo_id(f"{seg[0]}/{seg[1]}"), (seg[2:3] or [""])[0], seg[3:]
    method = "GET" if request.method == "HEAD" else request.method
    found = _MODEL_ACTIONS.get((method, action))
    if found is None:
        raise _no_endpoint(request)
    handler, shape = found
    if shape == "none":
        return await (handler(request, repo_id, "main") if action == "" else handler(request, repo_id))
    if shape == "rev?":
        return await handler(request, repo_id, args[0] if args else "main")
    if not args:
        raise _no_endpoint(request)
    if shape == "rev+path":
        return await handler(request, repo_id, args[0], "/".join(args[1:]))
    return await handler(request, repo_id, args[0])


async def resolve_file(request: Request) -> Response:
    seg = segments(request)
    if len(seg) < 5:
        raise _no_endpoint(request)
    return await routes.resolve(request, f"{seg[0]}/{seg[1]}", seg[3], "/".join(seg[4:]))


async def lfs_batch(request: Request) -> Response:
    ns, name = request.path_params["ns"], request.path_params["name"]
    return await uploads.lfs_batch(request, validate_repo_id(f"{ns}/{name}"))


async def not_models(request: Request) -> Response:
    raise HttpError(404, _NOT_MODELS, "RepoNotFound")


def api_routes() -> list[Route]:
    """The Hub API routes (order matters: specific paths before the repo catch-alls)."""
    return [
        Route("/api/whoami-v2", routes.whoami, methods=["GET"]),
        Route("/api/validate-yaml", routes.validate_yaml, methods=["POST"]),
        Route("/api/repos/create", uploads.create_repo, methods=["POST"]),
        Route("/api/models/{rest:path}", models_api, methods=["GET", "POST", "DELETE"]),
        Route("/api/{kind:str}/{rest:path}", not_models, methods=["GET", "POST", "DELETE", "PUT"]),
        Route("/lfs-upload/{ns}/{name}/{oid}", uploads.lfs_upload, methods=["PUT"]),
        Route("/{ns}/{name}.git/info/lfs/objects/batch", lfs_batch, methods=["POST"]),
        Route("/{kind:str}/{ns}/{name}/resolve/{rest:path}", not_models, methods=["GET"]),
        Route("/{ns}/{name}/resolve/{rest:path}", resolve_file, methods=["GET"]),
    ]


_STATUS: list[tuple[type[Exception], int, str | None]] = [
    (RepoNotFound, 404, "RepoNotFound"),
    (RevisionNotFound, 404, "RevisionNotFound"),
    (EntryNotFound, 404, "EntryNotFound"),
    (Conflict, 409, None),
    (RepoBusy, 503, None),
    (HubError, 400, None),
]


DRAIN_LIMIT = 1 << 16  # a refused request's unread body up to this size is read and dropped before answering


async def _answer(request: Request, response: Response) -> Response:
    """Send an error: a small unread body is drained first (closing on unread data makes the kernel reset the
    connection, and the client loses the answer); a larger one closes the connection (it would otherwise be
    read as the next request)."""
    length = request.headers.get("content-length", "")
    if body_pending(request) and length.isdigit() and int(length) <= DRAIN_LIMIT:
        try:
            async for _ in iter_body(request, DRAIN_LIMIT):
                pass
        except HttpError:
            pass
    if body_pending(request):
        response.headers["Connection"] = "close"
    return response


async def on_http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HttpError):  # registered for HttpError only: anything else is a server error
        raise exc
    return await _answer(request, error_response(exc.status, str(exc), exc.code, exc.headers))


async def on_hub_error(request: Request, exc: Exception) -> Response:
    status, code = next((s, c) for kind, s, c in _STATUS if isinstance(exc, kind))
    headers = {"Retry-After": "1"} if status == 503 else None
    return await _answer(request, error_response(status, str(exc), code, headers))


async def on_starlette_http(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 400)
    return await _answer(request, error_response(status, str(getattr(exc, "detail", "")) or "bad request"))


async def on_crash(request: Request, exc: Exception) -> Response:
    log.error("error handling %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal error (details are in the server log)", headers={"Connection": "close"})


class RejectAmbiguousBody:
    """400 (and close) for a request with both ``Transfer-Encoding`` and ``Content-Length`` (smuggling)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            names = {name.lower() for name, _ in scope["headers"]}
            if b"transfer-encoding" in names and b"content-length" in names:
                message = "a request may not carry both Transfer-Encoding and Content-Length"
                response = error_response(400, message, headers={"Connection": "close"})
                return await response(scope, receive, send)
        await self.app(scope, receive, send)


def build_app(hub_state: HubState, extra_routes: list[Route] | None = None) -> Starlette:
    """The ASGI app over ``hub_state``; ``extra_routes`` (e.g. web pages) are tried before the API."""
    from starlette.exceptions import HTTPException

    app = Starlette(
        routes=[*(extra_routes or []), *web.before_api(), *api_routes(), *web.page_routes()],
        middleware=[Middleware(RejectAmbiguousBody)],
        exception_handlers={
            HttpError: on_http_error,
            HubError: on_hub_error,
            HTTPException: on_starlette_http,
            Exception: on_crash,
        },
    )
    app.state.hub = hub_state
    return app
