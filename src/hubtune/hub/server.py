"""Serve the hub app with uvicorn: connection cap, header/idle timeouts, h11 limits, graceful stop.

``hubtune hub serve`` runs :func:`serve` in the foreground (SIGTERM or Ctrl-C finish the requests
in flight, then exit); :func:`running_server` serves a store from a background thread for the
duration of a ``with`` block (the embedded local hub of ``hubtune push/pull``, and tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from hubtune.hub.app import build_app
from hubtune.hub.plumbing import HubState, Limits
from hubtune.hub.store import LocalHub
from hubtune.hub.users import TokenBook

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerLimits:
    """Connection-level limits (request bodies are limited per endpoint by :class:`Limits`)."""

    max_connections: int = 1000  # beyond this uvicorn answers 503
    header_timeout_s: float = 10.0  # from connection (or previous response) to a complete request head
    keep_alive_s: int = 5  # idle keep-alive connections are closed after this
    max_header_bytes: int = 64 * 1024
    graceful_s: int = 30  # SIGTERM: time left to requests in flight


class HubProtocol(H11Protocol):
    """uvicorn's h11 protocol plus a request-head timeout (uvicorn has none: slow-header clients)."""

    header_timeout_s = ServerLimits.header_timeout_s

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        old = getattr(self, "_head_timer", None)
        if old is not None:
            old.cancel()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timeout)

    def _head_timeout(self) -> None:
        waiting = self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)
        if waiting and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        timer = getattr(self, "_head_timer", None)
        if timer is not None:
            timer.cancel()
        super().connection_lost(exc)


def _bind(host: str, port: int, backlog: int = 2048) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def _raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def public_url_for(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@dataclass
class Served:
    """A bound server: its uvicorn ``Server``, socket and the URL clients use."""

    server: uvicorn.Server
    sock: socket.socket
    url: str
    hub: LocalHub


def make_server(
    root: str | Path | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    book: TokenBook | None = None,
    public_url: str | None = None,
    limits: ServerLimits | None = None,
    log_level: str = "warning",
) -> Served:
    """Bind the socket (``port=0`` picks one) and configure uvicorn; orphaned uploads are removed."""
    limits = limits or ServerLimits()
    hub = LocalHub(root)
    removed = hub.lfs.clean_orphans()
    if removed:
        log.warning("removed %d unfinished upload(s) from %s", removed, hub.lfs.tmp_dir)
    sock = _bind(host, port)
    url = (public_url or public_url_for(sock)).rstrip("/")
    app = build_app(HubState(hub, book or TokenBook(), url, Limits()))
    protocol = type("HubProtocolConfigured", (HubProtocol,), {"header_timeout_s": limits.header_timeout_s})
    config = uvicorn.Config(
        app,
        http=protocol,
        ws="none",
        lifespan="off",
        log_level=log_level,
        access_log=False,
        limit_concurrency=limits.max_connections,
        timeout_keep_alive=limits.keep_alive_s,
        timeout_graceful_shutdown=limits.graceful_s,
        h11_max_incomplete_event_size=limits.max_header_bytes,
        server_header=False,
    )
    _raise_fd_limit(limits.max_connections + 256)
    return Served(uvicorn.Server(config), sock, url, hub)


def serve(served: Served) -> None:
    """Run until SIGTERM / Ctrl-C, finish the requests in flight, then return (exit status 0)."""
    quiet = threading.current_thread() is threading.main_thread()
    saved = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)} if quiet else {}
    try:  # uvicorn re-raises the signal it caught once stopped: the no-op handlers above absorb it
        served.server.run(sockets=[served.sock])
    finally:
        served.sock.close()
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def running_server(
    root: str | Path | None = None,
    token: str | None = None,
    book: TokenBook | None = None,
    limits: ServerLimits | None = None,
) -> Iterator[Served]:
    """Serve ``root`` on a free 127.0.0.1 port from a background thread for the ``with`` block."""
    served = make_server(root, "127.0.0.1", 0, book or (TokenBook.single(token) if token else None), limits=limits)
    thread = threading.Thread(target=serve, args=(served,), name="hubtune-hub", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not served.server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not served.server.started:
        served.server.should_exit = True
        raise RuntimeError("the embedded hub server did not start")
    try:
        yield served
    finally:
        served.server.should_exit = True
        thread.join(timeout=35)
