"""A real ``hubtune hub serve`` process for the hub tests, and the stock client pointed at it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hub_helpers import online_client

from hubtune.hub.users import TokenBook


@dataclass(frozen=True)
class Served:
    url: str
    token: str  # user "tester", writes every namespace (org "*")
    root: Path
    env: dict[str, str]  # environment for subprocesses using the stock client
    users: dict[str, str]  # alice (writes alice/, team/), bob (writes bob/), reader (team, read-only)
    log: Path


def _read_first_line(proc: subprocess.Popen, timeout: float) -> str:
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not box or not box[0]:
        proc.kill()
        raise RuntimeError("hub server did not start")
    return box[0]


@pytest.fixture(scope="session")
def hub_server(tmp_path_factory: pytest.TempPathFactory) -> Served:
    """The real ``hubtune hub serve`` CLI on a free 127.0.0.1 port with a tokens file; SIGTERM at the end."""
    base = tmp_path_factory.mktemp("hubserver")
    root, log_path, tokens = base / "root", base / "server.log", base / "tokens.json"
    book = TokenBook()
    token = book.add("tester", ["*"])[0]
    users = {name: book.add(name, orgs, role)[0] for name, orgs, role in
             (("alice", ["team"], "write"), ("bob", [], "write"), ("reader", ["team"], "read"))}
    book.save(tokens)
    log = log_path.open("wb")
    cmd = [sys.executable, "-m", "hubtune", "hub", "serve", "--root", str(root), "--port", "0",
           "--tokens-file", str(tokens)]
    env = {k: v for k, v in os.environ.items() if k != "HUBTUNE_HUB_TOKEN"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    line = _read_first_line(proc, 30)
    url = line.split(" at ")[1].split()[0]
    env = dict(
        os.environ,
        HF_ENDPOINT=url,
        HF_HUB_DISABLE_XET="1",
        HF_HUB_OFFLINE="0",
        HF_TOKEN=token,
        HF_HOME=str(base / "hf_home"),
        HF_HUB_DISABLE_TELEMETRY="1",
        HUBTUNE_HOME=str(base / "home"),
    )
    try:
        yield Served(url, token, root, env, users, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(autouse=True)
def _online_client() -> Iterator[None]:
    """Every hub test talks to the loopback server (module-scoped fixtures use ``online_client`` themselves)."""
    with online_client():
        yield


@pytest.fixture
def api(hub_server: Served):
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub_server.url, token=hub_server.token)


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """A small output folder: weights, config, card, metrics, plot, a checkpoint that is not pushed."""
    out = tmp_path / "out"
    (out / "plots").mkdir(parents=True)
    (out / "checkpoints").mkdir()
    (out / "model.safetensors").write_bytes(os.urandom(300_000))
    (out / "config.json").write_text('{"architecture": "tiny", "num_classes": 3}\n')
    (out / "README.md").write_text("---\nlicense: apache-2.0\ntags: [hubtune]\n---\n# tiny\n")
    (out / "metrics.json").write_text('{"accuracy": 0.5}\n')
    (out / "recipe.yaml").write_text("backbone: {name: tiny}\n")
    (out / "plots" / "loss.png").write_bytes(os.urandom(2000))
    (out / "checkpoints" / "state.pt").write_bytes(b"pickle")
    return out
