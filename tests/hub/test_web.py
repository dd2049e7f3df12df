"""The hub's HTML pages in-process (Starlette TestClient): rights, 404s, commit URLs, pagination, sanitising."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from hubtune.hub.app import build_app
from hubtune.hub.plumbing import HubState
from hubtune.hub.records import AddBytes
from hubtune.hub.store import LocalHub
from hubtune.hub.users import TokenBook

CARD = """---
license: apache-2.0
tags: [hubtune]
model-index:
- name: tiny
  results:
  - task: {type: image-classification}
    dataset: {name: digits, type: digits, split: test}
    metrics:
    - {type: accuracy, value: 0.9375, name: Accuracy}
---
# tiny

![Training curves](training_curves.png)

<script>document.body.dataset.pwned=1</script>
<img src="x.png" onerror="document.body.dataset.pwned=1">
<a href="javascript:alert(1)">bad</a> <a href="config.json">config</a>
"""


@pytest.fixture
def web(tmp_path: Path):
    hub = LocalHub(tmp_path / "hub")
    book = TokenBook()
    alice = book.add("alice", ["team"])[0]
    bob = book.add("bob")[0]
    hub.create_repo("alice/pub")
    hub.commit("alice/pub", [AddBytes("README.md", CARD.encode()), AddBytes("config.json", b'{"a": 1}\n'),
                             AddBytes("training_curves.png", b"\x89PNG fake"),
                             AddBytes("model.safetensors", b"\0" * 20_000_000)], "add model")
    hub.create_repo("alice/secret", private=True)
    hub.create_tag("alice/pub", "v1")
    client = TestClient(build_app(HubState(hub, book, "http://testserver")))
    return client, hub, {"alice": alice, "bob": bob}


def login(client: TestClient, token: str) -> None:
    r = client.post("/login", data={"token": token, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")


def test_pages_and_card_are_sanitised(web) -> None:
    client, _, _ = web
    index = client.get("/")
    assert index.status_code == 200 and "alice/pub" in index.text and "alice/secret" not in index.text
    page = client.get("/alice/pub")
    assert page.status_code == 200
    assert "Content-Security-Policy" in page.headers
    html = page.text
    assert "<script" not in html and "onerror" not in html and "javascript:" not in html
    assert re.search(r"<td>Accuracy</td><td class=\"num\">0.9375</td>", html)
    assert 'src="/alice/pub/resolve/main/training_curves.png"' in html
    assert 'href="/alice/pub/blob/main/config.json"' in html
    assert "v1" in html and "model.safetensors" in html and "20.0 MB" in html
    assert client.get("/alice/pub/resolve/main/training_curves.png").content == b"\x89PNG fake"
    assert client.get("/-/hub.css").headers["content-type"].startswith("text/css")
    assert client.get("/?q=pub").text.count("alice/pub") >= 1 and "alice/pub" not in client.get("/?q=zzz").text


def test_blob_preview_never_reads_lfs(web, monkeypatch) -> None:
    client, hub, _ = web
    r = client.get("/alice/pub/blob/main/config.json")
    assert r.status_code == 200 and ("&#34;a&#34;: 1" in r.text or "\"a\": 1" in r.text)
    monkeypatch.setattr(hub, "read_file", lambda *a, **k: pytest.fail("read a blob to render an LFS file"))
    r = client.get("/alice/pub/blob/main/model.safetensors")
    assert r.status_code == 200 and "LFS" in r.text
    assert client.get("/alice/pub/blob/main/nope.txt").status_code == 404


def test_private_repo_hidden_until_owner_logs_in(web) -> None:
    client, _, tokens = web
    missing = client.get("/alice/nothing-here")
    hidden = client.get("/alice/secret")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.text.replace("secret", "X") == missing.text.replace("nothing-here", "X")
    login(client, tokens["bob"])
    assert client.get("/alice/secret").status_code == 404 and "alice/secret" not in client.get("/").text
    client.post("/logout")
    login(client, tokens["alice"])
    assert client.get("/alice/secret").status_code == 200 and "alice/secret" in client.get("/").text
    client.post("/logout", follow_redirects=False)
    assert client.get("/alice/secret").status_code == 404
    bad = client.post("/login", data={"token": "hth_wrong"}, follow_redirects=False)
    assert bad.status_code == 401 and "set-cookie" not in bad.headers


def test_login_cookie_is_secure_over_https(web) -> None:
    client, _, tokens = web
    https = TestClient(client.app, base_url="https://testserver")
    r = https.post("/login", data={"token": tokens["alice"], "next": "//evil.example"}, follow_redirects=False)
    assert "Secure" in r.headers["set-cookie"] and r.headers["location"] == "/"


def test_commit_url_printed_by_push_opens(web) -> None:
    client, hub, _ = web
    sha = hub.commit("alice/pub", [AddBytes("notes.txt", b"hello")], "add notes\n\nlonger text")
    r = client.get(f"/alice/pub/commit/{sha}")
    assert r.status_code == 200 and "add notes" in r.text and "notes.txt" in r.text and "1 changed file" in r.text
    assert client.get("/alice/pub/commit/" + "0" * 40).status_code == 404
    assert client.get("/alice/pub/commits/main").status_code == 200


def test_big_repo_paginates_fast(tmp_path: Path) -> None:
    hub = LocalHub(tmp_path / "hub")
    hub.create_repo("org/big")
    hub.commit("org/big", [AddBytes(f"data/f{i:04d}.txt", b"x") for i in range(1000)], "many files")
    for i in range(500):
        hub.commit("org/big", [AddBytes("counter.txt", str(i).encode())], f"step {i}")
    client = TestClient(build_app(HubState(hub, TokenBook(), "http://testserver")))
    start = time.perf_counter()
    page1 = client.get("/org/big/tree/main/data")
    assert page1.status_code == 200 and page1.text.count('class="file"') == 50 and "page=2" in page1.text
    last = client.get("/org/big/tree/main/data?page=20")
    assert "f0999.txt" in last.text and "page=21" not in last.text
    history = client.get("/org/big/commits/main")
    assert history.text.count("/org/big/commit/") >= 50 and "step 499" in history.text and "page=2" in history.text
    tail = client.get("/org/big/commits/main?page=11")
    assert "initial commit" in tail.text
    assert client.get("/org/big").status_code == 200
    assert time.perf_counter() - start < 20
