"""An HTTP server speaking the subset of the Hugging Face Hub API that ``huggingface_hub`` uses.

Run ``python -m hubtune.hub.server --root DIR --port 0 --token T`` (or ``hubtune hub serve``) and
point the stock client at it with ``HF_ENDPOINT=http://127.0.0.1:PORT HF_HUB_DISABLE_XET=1``.
This module holds the plumbing (bodies, auth, errors, start/stop); :mod:`hubtune.hub.routes`
holds the endpoints.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import secrets
import signal
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from hubtune.errors import HubError
from hubtune.hub.names import Conflict, EntryNotFound, RepoNotFound, RevisionNotFound
from hubtune.hub.routes import HttpError, Routes
from hubtune.hub.store import LocalHub

log = logging.getLogger(__name__)
BAD_TOKEN = "Invalid credentials in Authorization header"  # the client's marker for a wrong token
CHUNK = 1 << 20


class HubServer(ThreadingHTTPServer):
    """A threaded HTTP server over one :class:`LocalHub`; ``tokens`` empty means open access."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], hub: LocalHub, tokens: set[str] | None = None) -> None:
        self.hub = hub
        self.tokens = set(tokens or ())
        self.secret = secrets.token_bytes(32)
        super().__init__(address, Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class Handler(Routes, BaseHTTPRequestHandler):
    """Request plumbing; the endpoints live in :class:`Routes`."""

    protocol_version = "HTTP/1.1"
    server: HubServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet unless debugging
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # ---- dispatch and errors -----------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        self.hub = self.server.hub
        self._body_read = False
        self._sent = False
        parts = urlsplit(self.path)
        self.query = parse_qs(parts.query)
        segments = [unquote(s) for s in parts.path.split("/")[1:]]
        try:
            self.route(method, segments)
        except HttpError as e:
            self._fail(e.status, str(e), e.code, e.headers)
        except RepoNotFound as e:
            self._fail(404, str(e), "RepoNotFound")
        except RevisionNotFound as e:
            self._fail(404, str(e), "RevisionNotFound")
        except EntryNotFound as e:
            self._fail(404, str(e), "EntryNotFound")
        except Conflict as e:
            self._fail(409, str(e))
        except HubError as e:
            self._fail(400, str(e))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # a bug: answer 500 rather than dropping the connection
            log.exception("error handling %s %s", method, parts.path)
            self._fail(500, f"internal error: {type(e).__name__}: {e}")
        finally:
            self._drain()

    def _fail(self, status: int, message: str, code: str | None = None, headers: dict | None = None) -> None:
        if self._sent:
            self.close_connection = True
            return
        extra = {"X-Error-Message": message.splitlines()[0][:300] if message else "error", **(headers or {})}
        if code:
            extra["X-Error-Code"] = code
        try:
            self.send_json({"error": message}, status, extra)
        except OSError:
            self.close_connection = True

    def _drain(self) -> None:
        """Read what is left of the request body so a kept-alive connection stays in sync."""
        if not self._body_read:
            try:
                for _ in self.iter_body():
                    pass
            except (OSError, ValueError):
                self.close_connection = True

    # ---- auth --------------------------------------------------------------------------
    def authed(self) -> bool:
        """True with a valid token; False when anonymous; 401 for a wrong token."""
        header = self.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        if not token:
            return False
        if self.server.tokens and token not in self.server.tokens:
            raise HttpError(401, BAD_TOKEN)
        return True

    def check_read(self, repo_id: str) -> None:
        """404 for a missing repo, 401 (as RepoNotFound) for a private repo without a token."""
        authed = self.authed()
        if not self.hub.exists(repo_id):
            raise HttpError(404, f"Repository {repo_id} not found", "RepoNotFound")
        if self.hub.is_private(repo_id) and not authed:
            raise HttpError(401, f"Repository {repo_id} not found", "RepoNotFound")

    def require_write(self) -> None:
        """With tokens configured every write needs one of them."""
        if not self.authed() and self.server.tokens:
            raise HttpError(401, "this action needs a token (Authorization: Bearer ...)")

    # ---- bodies ------------------------------------------------------------------------
    def iter_body(self) -> Iterator[bytes]:
        """The request body in chunks (Content-Length or chunked transfer encoding)."""
        self._body_read = True
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                data = self.rfile.read(size)
                if len(data) < size:
                    raise ValueError("request body ended early")
                self.rfile.readline()
                yield data
        left = int(self.headers.get("Content-Length") or 0)
        while left > 0:
            data = (
                self.rfile.read1(min(left, CHUNK))
                if hasattr(self.rfile, "read1")
                else self.rfile.read(min(left, CHUNK))
            )
            if not data:
                self.close_connection = True
                raise ValueError("request body ended early")
            left -= len(data)
            yield data

    def read_body(self) -> bytes:
        try:
            return b"".join(self.iter_body())
        except ValueError as e:
            raise HttpError(400, str(e)) from None

    def read_json(self) -> Any:
        body = self.read_body()
        if "application/x-www-form-urlencoded" in self.headers.get("Content-Type", ""):
            return parse_qs(body.decode())
        try:
            return json.loads(body or b"{}")
        except json.JSONDecodeError as e:
            raise HttpError(400, f"invalid JSON body: {e}") from None

    # ---- responses ---------------------------------------------------------------------
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{self.headers.get('Host') or f'{host}:{port}'}"

    def send_json(
        self, obj: Any, status: int = 200, headers: dict | None = None, ctype: str = "application/json"
    ) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self._sent = True
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_bytes(self, status: int, headers: dict, body: Iterator[bytes] | bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self._sent = True
        if self.command == "HEAD":
            return
        for chunk in [body] if isinstance(body, bytes) else body:
            self.wfile.write(chunk)


def make_server(
    root: str | Path | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    tokens_file: str | Path | None = None,
) -> HubServer:
    """A bound, not yet running server (``port=0`` picks a free port; see ``server.url``)."""
    tokens = {token} if token else set()
    if tokens_file:
        tokens |= {t.strip() for t in Path(tokens_file).read_text().splitlines() if t.strip() and not t.startswith("#")}
    return HubServer((host, port), LocalHub(root), tokens)


@contextlib.contextmanager
def running_server(root: str | Path | None = None, token: str | None = None) -> Iterator[HubServer]:
    """Serve ``root`` on a free 127.0.0.1 port in a background thread for the ``with`` block."""
    server = make_server(root, "127.0.0.1", 0, token)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def serve(
    root: str | Path | None = None,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    tokens_file: str | Path | None = None,
) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM), then close cleanly."""
    server = make_server(root, host, port, token, tokens_file)

    def stop(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    auth = "token required for writes and private repos" if server.tokens else "open access (no --token)"
    print(f"hubtune hub serving {server.hub.root} at {server.url} ({auth})", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="hubtune hub serve", description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="hub folder (default: $HUBTUNE_HOME/hub)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (0 picks a free one)")
    parser.add_argument("--token", default=None, help="token clients must send for writes and private repos")
    parser.add_argument("--tokens-file", default=None, help="file with one accepted token per line")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    serve(args.root, args.host, args.port, args.token, args.tokens_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
