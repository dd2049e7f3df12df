"""The attack table of issue 11 as tests: request → expected status (in-process app, then the real server)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from dulwich.repo import Repo
from starlette.testclient import TestClient

from hubtune.hub.app import build_app
from hubtune.hub.plumbing import HubState
from hubtune.hub.records import AddBytes
from hubtune.hub.server import ServerLimits, make_server, running_server
from hubtune.hub.store import LocalHub
from hubtune.hub.users import TokenBook


class Hub:
    """An in-process app over a fresh store, with four users and a few repos."""

    def __init__(self, root: Path) -> None:
        self.store = LocalHub(root)
        book = TokenBook()
        self.tokens = {name: book.add(name, orgs, role)[0] for name, orgs, role in (
            ("alice", ["team"], "write"), ("bob", [], "write"), ("reader", ["team"], "read"))}
        self.client = TestClient(build_app(HubState(self.store, book, "https://hub.example.org")),
                                 raise_server_exceptions=False)
        self.store.create_repo("alice/public")
        self.store.create_repo("alice/private", private=True)
        self.store.create_repo("team/private", private=True)
        self.store.commit("alice/private", [AddBytes("secret.txt", b"s3cret")], "add")

    def call(self, method: str, path: str, user: str | None = None, **kw):
        headers = kw.pop("headers", {}) | ({"Authorization": f"Bearer {self.tokens[user]}"} if user else {})
        return self.client.request(method, path, headers=headers, **kw)


@pytest.fixture
def hub(tmp_path: Path) -> Hub:
    return Hub(tmp_path / "root")


def ndjson(*items: dict) -> bytes:
    return b"\n".join(json.dumps(i).encode() for i in items)


def file_op(path: str, content: str, encoding: str = "base64") -> dict:
    return {"key": "file", "value": {"path": path, "content": content, "encoding": encoding}}


HEADER = {"key": "header", "value": {"summary": "s"}}
COMMIT = "/api/models/alice/public/commit/main"

# (name, method, path, user, body, expected status)
TABLE = [
    ("private repo to anonymous", "GET", "/api/models/alice/private", None, None, 401),
    ("missing repo to anonymous (same as private)", "GET", "/api/models/alice/nope", None, None, 401),
    ("private repo to another user", "GET", "/api/models/alice/private", "bob", None, 404),
    ("missing repo to a user (same as private)", "GET", "/api/models/alice/nope", "bob", None, 404),
    ("private file to another user", "GET", "/alice/private/resolve/main/secret.txt", "bob", None, 404),
    ("private repo to its owner", "GET", "/api/models/alice/private", "alice", None, 200),
    ("org private repo to a read-only member", "GET", "/api/models/team/private", "reader", None, 200),
    ("wrong token", "GET", "/api/models/alice/public", "nobody", None, 401),
    ("create in another user's namespace", "POST", "/api/repos/create", "bob", {"name": "x", "organization": "alice"}, 403),
    ("create in an org the user is in", "POST", "/api/repos/create", "alice", {"name": "x", "organization": "team"}, 200),
    ("create with a read-only token", "POST", "/api/repos/create", "reader", {"name": "x", "organization": "team"}, 403),
    ("commit to another user's repo", "POST", COMMIT, "bob", ndjson(HEADER, file_op("a.txt", "eA==")), 403),
    ("commit to someone's private repo", "POST", "/api/models/alice/private/commit/main", "bob", ndjson(HEADER), 404),
    ("anonymous commit", "POST", COMMIT, None, ndjson(HEADER), 401),
    ("bad base64", "POST", COMMIT, "alice", ndjson(HEADER, file_op("a.txt", "!!not base64!!")), 400),
    ("NDJSON line not JSON", "POST", COMMIT, "alice", b'{"key": "header"\n{oops', 400),
    ("NDJSON value not an object", "POST", COMMIT, "alice", ndjson({"key": "file", "value": "x"}), 400),
    ("NDJSON path not text", "POST", COMMIT, "alice", ndjson({"key": "file", "value": {"path": 5}}), 400),
    ("NDJSON line is a list", "POST", COMMIT, "alice", b"[1, 2]", 400),
    ("unknown operation", "POST", COMMIT, "alice", ndjson({"key": "chmod", "value": {"path": "a"}}), 400),
    ("LFS object never uploaded", "POST", COMMIT, "alice",
     ndjson(HEADER, {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": "a" * 64, "size": 3}}), 400),
    ("preupload body is a list", "POST", "/api/models/alice/public/preupload/main", "alice", [1, 2], 400),
    ("preupload files not a list", "POST", "/api/models/alice/public/preupload/main", "alice", {"files": 3}, 400),
    ("preupload size not a number", "POST", "/api/models/alice/public/preupload/main", "alice",
     {"files": [{"path": "a", "size": "big"}]}, 400),
    ("preupload entry not an object", "POST", "/api/models/alice/public/preupload/main", "alice", {"files": [1]}, 400),
    ("create body not JSON", "POST", "/api/repos/create", "alice", b"{name", 400),
    ("create name not text", "POST", "/api/repos/create", "alice", {"name": ["x"]}, 400),
    ("batch objects not a list", "POST", "/alice/public.git/info/lfs/objects/batch", "alice",
     {"operation": "upload", "objects": "x"}, 400),
    ("branch body a number", "POST", "/api/models/alice/public/branch/dev", "alice", 5, 400),
    ("validate-yaml body a list", "POST", "/api/validate-yaml", None, [1], 400),
    ("non-Latin-1 missing file", "GET", "/alice/public/resolve/main/数据.txt", "alice", None, 404),
    ("path traversal", "GET", "/alice/public/resolve/main/..%2F..%2Fhubtune.json", "alice", None, 400),
    ("unknown endpoint", "GET", "/api/nothing-here", None, None, 404),
]


@pytest.mark.parametrize("name,method,path,user,body,status", TABLE, ids=[row[0] for row in TABLE])
def test_attack_table(hub: Hub, name, method, path, user, body, status) -> None:
    if user == "nobody":
        response = hub.call(method, path, headers={"Authorization": "Bearer hth_not-a-real-token"})
    elif isinstance(body, bytes):
        response = hub.call(method, path, user, content=body)
    else:
        response = hub.call(method, path, user, json=body) if body is not None else hub.call(method, path, user)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    if status >= 400:
        error = response.json()["error"]
        assert str(hub.store.root) not in error and "Traceback" not in error
        response.headers["X-Error-Message"].encode("latin-1")  # always a valid header value


def test_bad_base64_commits_nothing(hub: Hub) -> None:
    before = hub.store.resolve_revision("alice/public")
    assert hub.call("POST", COMMIT, "alice", content=ndjson(HEADER, file_op("a.txt", "x==y"))).status_code == 400
    assert hub.store.resolve_revision("alice/public") == before


def test_lfs_object_of_another_repo_is_not_readable_by_reference(hub: Hub) -> None:
    data = b"alice's private weights"
    oid = hashlib.sha256(data).hexdigest()
    hub.store.put_lfs([data], oid, len(data), "alice/private")
    hub.call("POST", "/api/repos/create", "bob", json={"name": "thief", "organization": "bob"})
    batch = hub.call("POST", "/bob/thief.git/info/lfs/objects/batch", "bob",
                     json={"operation": "upload", "objects": [{"oid": oid, "size": len(data)}]}).json()
    assert "actions" in batch["objects"][0], "an object uploaded elsewhere must be uploaded again (proof of bytes)"
    steal = ndjson(HEADER, {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": oid,
                                                        "size": len(data)}})
    assert hub.call("POST", "/api/models/bob/thief/commit/main", "bob", content=steal).status_code == 400
    assert hub.call("GET", "/bob/thief/resolve/main/w.bin", "bob").status_code == 404


@pytest.mark.parametrize("card,expected", [
    ("---\nrelease_date: 2024-01-01\ntags: 5\n---\n# x\n", {"release_date": "2024-01-01", "tags": 5}),
    ("---\n3: three\nwhen: 2024-01-01T10:00:00\n---\n", {"3": "three", "when": "2024-01-01T10:00:00"}),
    ("---\n- a list\n---\n", {}),
    ("---\nkey: [unclosed\n---\n", {}),
])
def test_front_matter_of_any_type_gives_model_info(hub: Hub, card: str, expected: dict) -> None:
    hub.store.commit("alice/public", [AddBytes("README.md", card.encode())], "card")
    response = hub.call("GET", "/api/models/alice/public")
    assert response.status_code == 200
    assert response.json()["cardData"] == expected
    assert all(isinstance(t, str) for t in response.json()["tags"])


def test_yaml_alias_bomb_is_refused(hub: Hub) -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"] + [f"{c}: &{c} [{', '.join(['*' + p] * 9)}]"
                                                   for p, c in zip("abcdefgh", "bcdefghi", strict=True)]
    bomb = "---\n" + "\n".join(lines) + "\n---\n"
    assert len(bomb) < 400
    hub.store.commit("alice/public", [AddBytes("README.md", bomb.encode())], "bomb")
    response = hub.call("GET", "/api/models/alice/public")
    assert response.status_code == 200 and response.json()["cardData"] == {} and len(response.content) < 5000
    check = hub.call("POST", "/api/validate-yaml", json={"content": bomb})
    assert check.status_code == 400 and "alias" in check.json()["errors"][0]["message"]


def test_validate_yaml_body_limit(hub: Hub) -> None:
    big = json.dumps({"content": "---\na: " + "x" * (2 << 20) + "\n---\n"})
    assert hub.call("POST", "/api/validate-yaml", content=big).status_code == 413


def test_upload_urls_use_the_public_url_not_the_host_header(hub: Hub) -> None:
    response = hub.call("POST", "/alice/public.git/info/lfs/objects/batch", "alice",
                        headers={"Host": "evil.example"},
                        json={"operation": "upload", "objects": [{"oid": "b" * 64, "size": 5}]})
    href = response.json()["objects"][0]["actions"]["upload"]["href"]
    assert href.startswith("https://hub.example.org/lfs-upload/alice/public/")


def test_concurrent_commits_of_the_same_new_file_all_land(hub: Hub) -> None:
    statuses: list[int] = []
    barrier = threading.Barrier(20)

    def one(i: int) -> None:
        barrier.wait()
        body = ndjson({"key": "header", "value": {"summary": f"c{i}"}}, file_op("same.txt", "c2FtZQ=="))
        statuses.append(hub.call("POST", COMMIT, "alice", content=body).status_code)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert statuses == [200] * 20
    titles = {c.title for c in hub.store.list_commits("alice/public")}
    assert {f"c{i}" for i in range(20)} <= titles


def test_a_crashed_writers_ref_lock_is_recovered(hub: Hub) -> None:
    (hub.store.repo_dir("alice/public") / "refs" / "heads" / "main.lock").write_bytes(b"")
    assert hub.call("POST", COMMIT, "alice", content=ndjson(HEADER, file_op("a.txt", "eA=="))).status_code == 200


def test_a_commit_reads_only_the_trees_it_touches(hub: Hub, monkeypatch) -> None:
    hub.store.commit("alice/public", [AddBytes(f"d{i % 40}/f{i}.txt", b"%d" % i) for i in range(2000)], "many")
    reads = []
    original = Repo.__getitem__
    monkeypatch.setattr(Repo, "__getitem__", lambda self, key: reads.append(key) or original(self, key))
    hub.store.commit("alice/public", [AddBytes("d3/new.txt", b"new")], "one")
    assert len(reads) <= 4, f"{len(reads)} objects read for a one-file commit"


def test_orphaned_uploads_are_cleaned_at_start_live_ones_kept(tmp_path: Path) -> None:
    store = LocalHub(tmp_path / "root")
    (store.lfs.tmp_dir / "killed-upload").write_bytes(b"partial")
    writer = store.lfs.writer("c" * 64, 10)
    writer.write(b"12345")
    served = make_server(tmp_path / "root", port=0)
    served.sock.close()
    assert [p.name for p in store.lfs.tmp_dir.iterdir()] == [Path(writer.tmp).name]
    writer.abort()


# ---- against real uvicorn sockets ------------------------------------------------------
def raw(url: str, data: bytes, timeout: float = 10) -> bytes:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def test_both_transfer_encoding_and_content_length_is_refused(hub_server) -> None:
    request = (b"POST /api/validate-yaml HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert raw(hub_server.url, request).startswith(b"HTTP/1.1 400")


def test_bad_chunked_leftovers_are_not_a_second_request(hub_server) -> None:
    smuggled = b"GET /api/whoami-v2 HTTP/1.1\r\nHost: x\r\n\r\n"
    request = (b"POST /api/validate-yaml HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"zz\r\n" + smuggled)
    answer = raw(hub_server.url, request)
    assert answer.startswith(b"HTTP/1.1 400") and answer.count(b"HTTP/1.1") == 1


def test_lfs_upload_stops_at_the_signed_size(hub_server, api) -> None:
    api.create_repo("alice/signed")
    oid = hashlib.sha256(b"12345").hexdigest()
    batch = json.dumps({"operation": "upload", "objects": [{"oid": oid, "size": 5}]}).encode()
    href = urlsplit(_batch_href(hub_server, "alice/signed", batch))
    big = os.urandom(30 << 20)
    head = f"PUT {href.path}?{href.query} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    parts = urlsplit(hub_server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=20) as sock:
        sock.sendall(head)
        sent, answer = 0, b""
        try:
            for i in range(0, len(big), 1 << 20):
                sock.sendall(b"%x\r\n" % (1 << 20) + big[i : i + (1 << 20)] + b"\r\n")
                sent += 1 << 20
        except OSError:
            pass
        sock.settimeout(5)
        with pytest.raises(OSError):
            while True:
                chunk = sock.recv(65536)
                answer += chunk
                if not chunk:
                    raise OSError
        assert answer.startswith(b"HTTP/1.1 413")
    tmp = hub_server.root / "lfs" / "tmp"
    assert not list(tmp.iterdir()) and not (hub_server.root / "lfs" / oid[:2] / oid).exists()


def _batch_href(hub_server, repo: str, batch: bytes) -> str:
    import http.client

    parts = urlsplit(hub_server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("POST", f"/{repo}.git/info/lfs/objects/batch", batch, {"Authorization": f"Bearer {hub_server.token}"})
    answer = json.loads(conn.getresponse().read())
    conn.close()
    return answer["objects"][0]["actions"]["upload"]["href"]


def test_idle_and_slow_header_connections_are_closed(tmp_path: Path) -> None:
    limits = ServerLimits(header_timeout_s=1.0, keep_alive_s=1)
    with running_server(tmp_path / "root", token="t" * 20, limits=limits) as served:
        parts = urlsplit(served.url)
        idle = socket.create_connection((parts.hostname, parts.port), timeout=5)
        slow = socket.create_connection((parts.hostname, parts.port), timeout=5)
        slow.sendall(b"GET /api/whoami-v2 HTTP/1.1\r\n")
        start = time.monotonic()
        for sock in (idle, slow):
            assert sock.recv(100) == b""  # closed by the server
            sock.close()
        assert time.monotonic() - start < 4
        assert raw(served.url, b"GET /api/models/a/b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith(
            b"HTTP/1.1 401")


def test_push_message_is_scrubbed(hub_server, artifacts: Path, monkeypatch, api) -> None:
    from hubtune.cli import main

    secret = "sk-" + base64.b32encode(os.urandom(20)).decode().rstrip("=")
    monkeypatch.setenv("MY_SERVICE_TOKEN", secret)
    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    assert main(["push", str(artifacts), "alice/scrubbed", "--hub", hub_server.url,
                 "--message", f"upload {secret} and {hub_server.token}"]) == 0
    title = api.list_repo_commits("alice/scrubbed")[0].title
    assert secret not in title and hub_server.token not in title and title == "upload *** and ***"
