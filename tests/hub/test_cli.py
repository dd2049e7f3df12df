"""``hubtune push`` / ``hubtune pull`` through the main CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from hubtune.cli import main


def test_cli_push_and_pull(hub_server, artifacts: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    assert main(["push", str(artifacts), "erin/cli", "--hub", hub_server.url, "--message", "from the cli"]) == 0
    assert "erin/cli" in capsys.readouterr().out
    assert main(["pull", "erin/cli@main", "--to", str(tmp_path / "got"), "--hub", hub_server.url]) == 0
    assert (tmp_path / "got" / "config.json").read_text() == (artifacts / "config.json").read_text()
    assert main(["push", str(artifacts), "../bad", "--hub", hub_server.url]) == 2
    assert "invalid repo id" in capsys.readouterr().err


def test_hub_token_add_list_revoke(tmp_path: Path, capsys) -> None:
    tokens = tmp_path / "tokens.json"
    assert main(["hub", "token", "--tokens-file", str(tokens), "add", "alice", "--org", "team"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert token.startswith("hth_") and token not in tokens.read_text()
    assert oct(tokens.stat().st_mode & 0o777) == "0o600"
    from hubtune.hub.users import TokenBook

    user = TokenBook.load(tokens).authenticate(token)
    assert user is not None and user.can_write("team") and not user.can_write("bob")
    assert main(["hub", "token", "--tokens-file", str(tokens), "list"]) == 0
    listed = capsys.readouterr().out
    assert "alice" in listed and "team" in listed and token not in listed
    assert main(["hub", "token", "--tokens-file", str(tokens), "revoke", "alice"]) == 0
    assert TokenBook.load(tokens).authenticate(token) is None
    assert main(["hub", "token", "--tokens-file", str(tokens), "revoke", "alice"]) == 2


def test_token_on_the_command_line_is_refused(capsys) -> None:
    assert main(["hub", "serve", "--port", "0", "--token", "visible-in-ps"]) == 2
    assert "HUBTUNE_HUB_TOKEN" in capsys.readouterr().err


def test_serve_reads_the_env_token_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = dict(os.environ, HUBTUNE_HUB_TOKEN="env-token-0123456789", HUBTUNE_HOME=str(tmp_path / "home"))
    cmd = [sys.executable, "-m", "hubtune", "hub", "serve", "--root", str(tmp_path / "root"), "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = proc.stdout.readline().split(" at ")[1].split()[0]
        with pytest.raises(urllib.error.HTTPError) as anon:
            urllib.request.urlopen(f"{url}/api/whoami-v2", timeout=10)
        me = urllib.request.Request(f"{url}/api/whoami-v2", headers={"Authorization": "Bearer env-token-0123456789"})
        with urllib.request.urlopen(me, timeout=10) as answer:
            assert (anon.value.code, answer.status) == (401, 200)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, proc.stderr.read()


def test_pull_of_a_missing_repo_names_the_local_hub_folder(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HUBTUNE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    assert main(["pull", "me/missing", "--hub", "local"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "home" / "hub") in err and "127.0.0.1" not in err
