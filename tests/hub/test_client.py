"""push / pull through the stock client against a real served hub, and the embedded local hub."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from hubtune.errors import HubError
from hubtune.hub import LocalHub, pull, push


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file() and ".cache" not in p.relative_to(folder).parts
    }


def test_round_trip_identical_files(hub_server, artifacts: Path, tmp_path: Path) -> None:
    result = push(artifacts, "alice/roundtrip", hub=hub_server.url, token=hub_server.token)
    assert len(result.commit_sha) == 40 and result.commit_url.startswith(hub_server.url)
    got = pull("alice/roundtrip", to=tmp_path / "pulled", hub=hub_server.url, token=hub_server.token)
    sent, received = _digests(artifacts), _digests(got)
    pushed = {k: v for k, v in sent.items() if not k.startswith("checkpoints/")}
    assert {k: received[k] for k in pushed} == pushed
    assert not any(k.startswith("checkpoints/") for k in received)
    assert set(received) == set(pushed) | {".gitattributes"}


def test_revisions_branches_and_tags(hub_server, api, artifacts: Path, tmp_path: Path) -> None:
    kw = {"hub": hub_server.url, "token": hub_server.token}
    (artifacts / "config.json").write_text('{"v": 1}')
    first = push(artifacts, "alice/revs", message="v1", **kw).commit_sha
    api.create_tag("alice/revs", tag="v1.0")
    (artifacts / "config.json").write_text('{"v": 2}')
    push(artifacts, "alice/revs", message="v2", **kw)
    (artifacts / "config.json").write_text('{"v": 3}')
    push(artifacts, "alice/revs", branch="dev", message="dev work", **kw)

    def config(spec: str) -> str:
        return (pull(spec, to=tmp_path / spec.replace("/", "_"), **kw) / "config.json").read_text()

    assert config(f"alice/revs@{first}") == '{"v": 1}'  # an old commit still serves its own files
    assert config("alice/revs@v1.0") == '{"v": 1}'
    assert config("alice/revs") == '{"v": 2}'
    assert config("alice/revs@dev") == '{"v": 3}'
    refs = api.list_repo_refs("alice/revs")
    assert {b.name for b in refs.branches} == {"main", "dev"} and [t.name for t in refs.tags] == ["v1.0"]
    assert [c.title for c in api.list_repo_commits("alice/revs")] == ["v2", "v1", "initial commit"]
    with pytest.raises(HubError):
        pull("alice/revs@nope", to=tmp_path / "nope", **kw)


def test_push_refuses_pickle_files(hub_server, artifacts: Path) -> None:
    (artifacts / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(HubError, match=r"pytorch_model\.bin"):
        push(artifacts, "alice/pickled", hub=hub_server.url, token=hub_server.token)
    assert not LocalHub(hub_server.root).exists("alice/pickled")


def test_bad_repo_ids_rejected_by_client(hub_server, artifacts: Path) -> None:
    for bad in ("../escape", "alice/../../etc", "/abs/x", "a/b/c", "noslash"):
        with pytest.raises(HubError):
            push(artifacts, bad, hub=hub_server.url, token=hub_server.token)
        with pytest.raises(HubError):
            pull(bad, hub=hub_server.url, token=hub_server.token)


def test_token_is_never_written(hub_server, artifacts: Path) -> None:
    push(artifacts, "alice/tokencheck", hub=hub_server.url, token=hub_server.token, private=True)
    needle = hub_server.token.encode()
    assert not [p for p in hub_server.root.rglob("*") if p.is_file() and needle in p.read_bytes()]
    (artifacts / "metrics.json").write_text(f'{{"leaked": "{hub_server.token}"}}')
    with pytest.raises(HubError, match="token"):
        push(artifacts, "alice/tokencheck", hub=hub_server.url, token=hub_server.token)


def test_concurrent_pushes_keep_a_consistent_history(hub_server, api, tmp_path: Path) -> None:
    api.create_repo("alice/busy")
    folders, errors = [], []
    for i in range(3):
        folder = tmp_path / f"f{i}"
        folder.mkdir()
        (folder / f"part{i}.json").write_text(f'{{"i": {i}}}')
        (folder / "shared.json").write_text(f'{{"writer": {i}}}')
        folders.append(folder)
    barrier = threading.Barrier(len(folders))

    def run(i: int) -> None:
        barrier.wait()
        try:
            push(folders[i], "alice/busy", hub=hub_server.url, token=hub_server.token, message=f"writer {i}")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(folders))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    commits = api.list_repo_commits("alice/busy")
    assert sorted(c.title for c in commits[:3]) == ["writer 0", "writer 1", "writer 2"]
    files = set(api.list_repo_files("alice/busy"))
    assert {"part0.json", "part1.json", "part2.json", "shared.json"} <= files
    history = LocalHub(hub_server.root).list_commits("alice/busy")
    assert [c.parents for c in history[:-1]] == [(c.sha,) for c in history[1:]]  # one linear chain


def test_embedded_local_hub_is_the_default(tmp_path: Path, monkeypatch, artifacts: Path) -> None:
    monkeypatch.setenv("HUBTUNE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    result = push(artifacts, "bob/local", private=True)
    assert result.endpoint == "local" and result.commit_sha in result.commit_url
    store = LocalHub(tmp_path / "home" / "hub")
    assert store.exists("bob/local") and store.is_private("bob/local")
    got = pull(f"bob/local@{result.commit_sha}", to=tmp_path / "got")
    assert (got / "model.safetensors").read_bytes() == (artifacts / "model.safetensors").read_bytes()
    from hubtune.hub import resolve_checkpoint

    assert (resolve_checkpoint("bob/local") / "config.json").is_file()
