"""``hubtune push`` / ``hubtune pull`` through the main CLI."""

from __future__ import annotations

from pathlib import Path

from hubtune.cli import main


def test_cli_push_and_pull(hub_server, artifacts: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    assert main(["push", str(artifacts), "erin/cli", "--hub", hub_server.url, "--message", "from the cli"]) == 0
    assert "erin/cli" in capsys.readouterr().out
    assert main(["pull", "erin/cli@main", "--to", str(tmp_path / "got"), "--hub", hub_server.url]) == 0
    assert (tmp_path / "got" / "config.json").read_text() == (artifacts / "config.json").read_text()
    assert main(["push", str(artifacts), "../bad", "--hub", hub_server.url]) == 2
    assert "invalid repo id" in capsys.readouterr().err
