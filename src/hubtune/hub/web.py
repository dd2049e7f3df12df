"""Server-rendered HTML pages of the hub: repo list, repo page with its card, files, commits, login.

Pages use the same store and the same rights as the API (a private repo is visible only to users
who own its namespace, :meth:`hubtune.hub.users.User.owns`); outsiders get one 404 page for private
and missing repos. The browser's token lives in an HttpOnly, SameSite=Lax cookie (Secure over https).
Cards are Markdown rendered by ``markdown-it-py`` and sanitised by ``nh3`` (no script, no event
handler); pages also send a Content-Security-Policy without scripts. Nothing here reads an LFS blob
to render; lists are paginated.
"""

from __future__ import annotations

import posixpath
import re
from functools import lru_cache
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs, quote

import nh3
from dulwich.diff_tree import tree_changes
from dulwich.repo import Repo
from jinja2 import Environment, PackageLoader, select_autoescape
from markdown_it import MarkdownIt
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from hubtune.errors import HubError
from hubtune.hub import routes
from hubtune.hub.metadata import MetadataError, front_matter
from hubtune.hub.paths import validate_path, validate_repo_id
from hubtune.hub.plumbing import OPEN_ACCESS, read_body, segments, state
from hubtune.hub.records import DirEntry, FileEntry
from hubtune.hub.users import User

COOKIE = "hubtune_token"
PAGE = 50
PREVIEW_MAX = 512 * 1024
CARD_MAX = 1 << 20
IMAGES = {".png", ".jpg", ".jpeg", ".gif", ".webp"}
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//|^#|^/")
_FRONT = re.compile(r"^---\s*\n.*?\n---\s*(\n|$)", re.DOTALL)
CSP = ("default-src 'none'; img-src 'self' data:; style-src 'self'; script-src 'none'; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")


class NotFound(Exception):
    """Answered with the 404 page (the same for private and missing repos)."""


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(loader=PackageLoader("hubtune.hub", "templates"), autoescape=select_autoescape(["html"]))
    env.filters["size"] = human_size
    env.filters["q"] = lambda s: quote(str(s), safe="/")
    env.filters["qr"] = lambda s: quote(str(s), safe="")  # a revision (may hold '/')
    return env


def human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def render(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    user = web_user(request)
    shown = None if user is None or user is OPEN_ACCESS else user.name
    html = _env().get_template(name).render(request=request, user=shown, path=request.url.path, **ctx)
    headers = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
               "Referrer-Policy": "same-origin"}
    return HTMLResponse(html, status, headers=headers)


def not_found_page(request: Request) -> HTMLResponse:
    return render(request, "404.html", 404, title="Not found")


# ---- users ----------------------------------------------------------------------------
def web_user(request: Request) -> User | None:
    """The browser's user from the cookie (``None``: anonymous or a token the server no longer knows)."""
    book = state(request).book
    if not book:
        return OPEN_ACCESS
    token = request.cookies.get(COOKIE, "")
    return book.authenticate(token) if token else None


def can_see(hub: Any, user: User | None, repo_id: str) -> bool:
    """The API's read rule (``plumbing.check_read``): public, or owned by the user."""
    try:
        private = hub.is_private(repo_id)
    except (HubError, OSError, ValueError):
        return False
    return not private or (user is not None and user.owns(repo_id.split("/")[0]))


def _repo(request: Request) -> str:
    seg = segments(request)
    try:
        repo_id = validate_repo_id(f"{seg[0]}/{seg[1]}")
    except (HubError, IndexError):
        raise NotFound from None
    if not can_see(state(request).hub, web_user(request), repo_id):
        raise NotFound
    return repo_id


def _page(request: Request) -> int:
    value = request.query_params.get("page", "1")
    return max(int(value), 1) if value.isdigit() and len(value) < 7 else 1


def pages(request: Request, page: int, more: bool) -> dict:
    base = request.url.path
    extra = "".join(f"&{k}={quote(v)}" for k, v in request.query_params.items() if k != "page")
    return {"page": page, "prev": f"{base}?page={page - 1}{extra}" if page > 1 else None,
            "next": f"{base}?page={page + 1}{extra}" if more else None}


# ---- the card -------------------------------------------------------------------------
def _link_filter(repo_id: str, rev: str):
    r = quote(rev, safe="")

    def fix(tag: str, attr: str, value: str) -> str | None:
        if attr not in ("src", "href") or _SCHEME.match(value):
            return value
        path = posixpath.normpath(value.split("#")[0].split("?")[0].removeprefix("./"))
        if path.startswith("..") or path == ".":
            return None
        kind = "resolve" if tag == "img" else "blob"
        return f"/{repo_id}/{kind}/{r}/{quote(path)}"

    return fix


def render_card(text: str, repo_id: str, rev: str) -> str:
    """The card's Markdown (front matter removed) as sanitised HTML; relative links point into the repo."""
    body = _FRONT.sub("", text, count=1)
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(body)
    return nh3.clean(html, attribute_filter=_link_filter(repo_id, rev), url_schemes={"http", "https", "mailto"})


def metrics_table(card: dict) -> list[dict]:
    """Rows (dataset, split, metric, value) from the card's ``model-index``."""
    rows: list[dict] = []
    index = card.get("model-index")
    for model in index if isinstance(index, list) else []:
        for result in (model.get("results") if isinstance(model, dict) else None) or []:
            if not isinstance(result, dict):
                continue
            ds = result.get("dataset") if isinstance(result.get("dataset"), dict) else {}
            for m in result.get("metrics") if isinstance(result.get("metrics"), list) else []:
                if isinstance(m, dict) and isinstance(m.get("value"), int | float | str):
                    value = m["value"]
                    shown = f"{value:.4g}" if isinstance(value, float) else str(value)
                    rows.append({"dataset": str(ds.get("name") or ds.get("type") or ""),
                                 "split": str(ds.get("split") or ""),
                                 "metric": str(m.get("name") or m.get("type") or ""), "value": shown})
    return rows


def _card(hub: Any, repo_id: str, sha: str, entries: list) -> tuple[str, dict]:
    readme = next((e for e in entries if isinstance(e, FileEntry) and e.path == "README.md"), None)
    if readme is None or readme.lfs_oid or readme.size > CARD_MAX:
        return "", {}
    data = hub.read_file(repo_id, "README.md", sha)
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else ""
    try:
        meta = front_matter(text)
    except MetadataError:
        meta = {}
    return text, meta


# ---- pages ----------------------------------------------------------------------------
def _list_repos(hub: Any, user: User | None, q: str) -> list[dict]:
    found = []
    for ns_dir in sorted((hub.root / "models").iterdir()):
        for repo_dir in sorted(ns_dir.glob("*.git")) if ns_dir.is_dir() else []:
            repo_id = f"{ns_dir.name}/{repo_dir.name[:-4]}"
            if q.lower() in repo_id.lower() and can_see(hub, user, repo_id):
                found.append({"id": repo_id, "private": hub.is_private(repo_id)})
    return found


def _fill_dates(hub: Any, repos: list[dict]) -> None:
    for repo in repos:
        try:
            repo["date"] = hub.list_commits(repo["id"], "main", limit=1)[0].date[:16].replace("T", " ")
        except (HubError, IndexError):
            repo["date"] = ""


async def index(request: Request) -> Response:
    hub, q, page = state(request).hub, request.query_params.get("q", "")[:100], _page(request)
    found = await run_in_threadpool(_list_repos, hub, web_user(request), q)
    shown = found[(page - 1) * PAGE : page * PAGE]
    await run_in_threadpool(_fill_dates, hub, shown)
    return render(request, "index.html", title="Models", repos=shown, q=q, total=len(found),
                  nav=pages(request, page, len(found) > page * PAGE))


def _tree_view(hub: Any, repo_id: str, rev: str, path: str, with_card: bool) -> dict:
    sha, entries = hub.list_tree(repo_id, rev)
    prefix = path + "/" if path else ""
    if path and not any(isinstance(e, DirEntry) and e.path == path for e in entries):
        raise NotFound
    here = [e for e in entries if e.path.startswith(prefix) and "/" not in e.path[len(prefix):]]
    here.sort(key=lambda e: (not isinstance(e, DirEntry), e.path))
    view = {"sha": sha, "entries": here, "refs": hub.list_refs(repo_id), "card_html": "", "metrics": [],
            "meta": {}, "private": hub.is_private(repo_id), "head": hub.list_commits(repo_id, sha, limit=1)[0]}
    if with_card:
        text, meta = _card(hub, repo_id, sha, entries)
        view |= {"card_html": render_card(text, repo_id, rev) if text else "", "metrics": metrics_table(meta),
                 "meta": meta}
    return view


async def repo_page(request: Request) -> Response:
    seg = segments(request)
    repo_id = _repo(request)
    rev = seg[3] if len(seg) > 3 and seg[2] == "tree" else "main"
    path = "/".join(s for s in seg[4:] if s) if len(seg) > 4 else ""
    if path:
        validate_path(path)
    view = await run_in_threadpool(_tree_view, state(request).hub, repo_id, rev, path, not path)
    page = _page(request)
    entries = view.pop("entries")
    return render(request, "repo.html", title=repo_id, repo_id=repo_id, rev=rev, dir=path,
                  files=entries[(page - 1) * PAGE : page * PAGE], total=len(entries),
                  nav=pages(request, page, len(entries) > page * PAGE), **view)


async def blob_page(request: Request) -> Response:
    seg = segments(request)
    repo_id = _repo(request)
    if len(seg) < 5:
        raise NotFound
    rev, path = seg[3], validate_path("/".join(seg[4:]))
    hub = state(request).hub
    sha, entry = await run_in_threadpool(hub.file_entry, repo_id, path, rev)
    text, image = None, posixpath.splitext(path)[1].lower() in IMAGES
    if not entry.lfs_oid and entry.size <= PREVIEW_MAX and not image:  # never read an LFS blob to render
        data = await run_in_threadpool(hub.read_file, repo_id, path, sha)
        if isinstance(data, bytes) and b"\0" not in data[:8192]:
            text = data.decode("utf-8", errors="replace")
    return render(request, "blob.html", title=f"{path} · {repo_id}", repo_id=repo_id, rev=rev, sha=sha,
                  file=entry, text=text, image=image, parts=path.split("/"))


async def commits_page(request: Request) -> Response:
    seg = segments(request)
    repo_id = _repo(request)
    rev, page = (seg[3] if len(seg) > 3 and seg[3] else "main"), _page(request)
    history = await run_in_threadpool(state(request).hub.list_commits, repo_id, rev, page * PAGE + 1)
    return render(request, "commits.html", title=f"History · {repo_id}", repo_id=repo_id, rev=rev,
                  commits=history[(page - 1) * PAGE : page * PAGE], nav=pages(request, page, len(history) > page * PAGE))


def _changes(hub: Any, repo_id: str, sha: str) -> list[dict]:
    repo = Repo(str(hub.repo_dir(repo_id)))
    try:
        commit = repo[sha.encode()]
        old = repo[commit.parents[0]].tree if commit.parents else None
        out = []
        for ch in tree_changes(repo.object_store, old, commit.tree):
            path = (ch.new.path or ch.old.path).decode(errors="replace")
            out.append({"kind": ch.type, "path": path})
        return sorted(out, key=lambda c: c["path"])
    finally:
        repo.close()


async def commit_page(request: Request) -> Response:
    seg = segments(request)
    repo_id = _repo(request)
    if len(seg) < 4:
        raise NotFound
    hub, page = state(request).hub, _page(request)
    sha = await run_in_threadpool(hub.resolve_revision, repo_id, seg[3])
    commit = (await run_in_threadpool(hub.list_commits, repo_id, sha, 1))[0]
    changes = await run_in_threadpool(_changes, hub, repo_id, sha)
    return render(request, "commit.html", title=f"{commit.title} · {repo_id}", repo_id=repo_id, commit=commit,
                  changes=changes[(page - 1) * PAGE : page * PAGE], total=len(changes),
                  nav=pages(request, page, len(changes) > page * PAGE))


async def resolve_with_cookie(request: Request) -> Response:
    """``/resolve/`` for a browser: the login cookie stands for the ``Authorization`` header (GET/HEAD only)."""
    user = web_user(request)
    token = request.cookies.get(COOKIE, "")
    if "authorization" not in request.headers and token and user is not None and user is not OPEN_ACCESS:
        scope = dict(request.scope)
        scope["headers"] = [*request.scope["headers"], (b"authorization", f"Bearer {token}".encode())]
        request = Request(scope, request.receive)
    seg = segments(request)
    if len(seg) < 5:
        return not_found_page(request)
    return await routes.resolve(request, f"{seg[0]}/{seg[1]}", seg[3], "/".join(seg[4:]))


# ---- login ----------------------------------------------------------------------------
def _safe_next(value: str) -> str:
    return value if value.startswith("/") and not value.startswith("//") and "\\" not in value else "/"


async def login(request: Request) -> Response:
    nxt = _safe_next(request.query_params.get("next", "/"))
    if request.method == "GET":
        return render(request, "login.html", title="Log in", next=nxt, error=None)
    form = parse_qs((await read_body(request, 16 * 1024)).decode("utf-8", errors="replace"))
    token, nxt = (form.get("token") or [""])[0].strip(), _safe_next((form.get("next") or ["/"])[0])
    book = state(request).book
    if not book or not token or book.authenticate(token) is None:
        return render(request, "login.html", 401, title="Log in", next=nxt, error="Unknown token.")
    response = RedirectResponse(nxt, 303)
    secure = request.url.scheme == "https" or state(request).public_url.startswith("https://")
    response.set_cookie(COOKIE, token, max_age=30 * 86400, path="/", httponly=True, samesite="lax", secure=secure)
    return response


async def logout(request: Request) -> Response:
    response = RedirectResponse("/", 303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
    return response


async def stylesheet(request: Request) -> Response:
    css = files("hubtune.hub").joinpath("templates/hub.css").read_text(encoding="utf-8")
    return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


def _html(handler):
    async def wrapped(request: Request) -> Response:
        if request.url.path.startswith("/api/"):  # an unknown API path: the API's JSON error, not a page
            from hubtune.hub.plumbing import error_response

            return error_response(404, f"no such endpoint: {request.url.path}", "EntryNotFound")
        try:
            return await handler(request)
        except (NotFound, HubError):
            return not_found_page(request)

    return wrapped


def before_api() -> list[Route]:
    """Routes that must win over the API's (the cookie-aware ``/resolve/``)."""
    return [
        Route("/-/hub.css", stylesheet, methods=["GET"]),
        Route("/{ns}/{name}/resolve/{rest:path}", resolve_with_cookie, methods=["GET", "HEAD"]),
    ]


def page_routes() -> list[Route]:
    """The HTML pages (after the API routes, so ``/api/...`` keeps answering JSON)."""
    return [
        Route("/", _html(index), methods=["GET"]),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["GET", "POST"]),
        Route("/{ns}/{name}", _html(repo_page), methods=["GET"]),
        Route("/{ns}/{name}/tree/{rest:path}", _html(repo_page), methods=["GET"]),
        Route("/{ns}/{name}/blob/{rest:path}", _html(blob_page), methods=["GET"]),
        Route("/{ns}/{name}/commits", _html(commits_page), methods=["GET"]),
        Route("/{ns}/{name}/commits/{rest:path}", _html(commits_page), methods=["GET"]),
        Route("/{ns}/{name}/commit/{rest:path}", _html(commit_page), methods=["GET"]),
    ]
