"""The hub's pages in real headless Chromium (Debian's ``chromium`` driven by Playwright) against ``hubtune hub serve``.

A tiny MLP is trained and pushed by the test; these tests FAIL (never skip) when Chromium or Playwright is missing.
With ``HUBTUNE_SCREENSHOTS=<folder>`` they save PNGs of the repo list, a model page, a file view and the history.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tiny_recipes import TINY_MLP

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
XSS_CARD = """---
license: mit
---
# xss card

Visible text.

<script>document.body.dataset.pwned=1</script>
<img src="missing.png" onerror="document.body.dataset.pwned=1">
<a href="javascript:document.body.dataset.pwned=1" id="js-link">click</a>
"""


def _shot(page, name: str) -> None:
    folder = os.environ.get("HUBTUNE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def chromium():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:  # fail, never skip: the browser tests are part of the suite
        pytest.fail(f"Playwright is not installed ({e}): pip install playwright==1.65.2")
    if not (Path(CHROMIUM).is_file() or shutil.which("chromium")):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def pushed(hub_server, tmp_path_factory):
    """A tiny model trained here and pushed as alice: public, private, plus a card with scripts."""
    from hub_helpers import online_client
    from huggingface_hub import HfApi

    import hubtune

    out = tmp_path_factory.mktemp("webmodel") / "out"
    recipe = {**TINY_MLP, "output_dir": str(out),
              "data": {**TINY_MLP["data"], "validation": "train", "test": "train"}}
    saved = {k: os.environ.get(k) for k in ("HF_TOKEN", "HF_HUB_DISABLE_XET")}
    os.environ.update(HF_TOKEN=hub_server.users["alice"], HF_HUB_DISABLE_XET="1")
    try:
        with online_client():
            hubtune.train(recipe)
            public = hubtune.push(out, "alice/tiny-web", hub=hub_server.url, message="tiny model from the web test")
            hubtune.push(out, "alice/tiny-private", hub=hub_server.url, private=True)
            api = HfApi(endpoint=hub_server.url, token=hub_server.users["alice"])
            api.create_repo("alice/xss-card")
            api.upload_file(path_or_fileobj=XSS_CARD.encode(), path_in_repo="README.md", repo_id="alice/xss-card")
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    return {"url": hub_server.url, "push_url": str(public), "out": out, "alice": hub_server.users["alice"]}


def _images_loaded(page, selector: str) -> list[int]:
    page.wait_for_function(f"[...document.querySelectorAll('{selector}')].every(i => i.complete)")
    return page.eval_on_selector_all(selector, "els => els.map(i => i.naturalWidth)")


def test_model_page_metrics_images_files_and_history(chromium, pushed) -> None:
    url = pushed["url"]
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(30_000)
    page.goto(url + "/")
    page.fill("input[name=q]", "tiny-web")
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**/?q=tiny-web")
    assert page.locator("#repo-list a").all_inner_texts() == ["alice/tiny-web"]
    page.goto(url + "/")
    assert "alice/tiny-private" not in page.inner_text("#repo-list")
    _shot(page, "repo-list")
    page.click("#repo-list a:text-is('alice/tiny-web')")
    page.wait_for_url(url + "/alice/tiny-web")
    rows = page.locator("#metrics tbody tr").all_inner_texts()
    assert any("accuracy" in r.lower() for r in rows), rows
    assert all(any(ch.isdigit() for ch in r.split("\t")[-1]) for r in rows)
    widths = _images_loaded(page, "#card img")
    assert len(widths) >= 1 and all(w > 0 for w in widths), widths  # training curves (and confusion matrix)
    srcs = page.eval_on_selector_all("#card img", "els => els.map(i => i.getAttribute('src'))")
    assert any(s.endswith("/training_curves.png") for s in srcs), srcs
    _shot(page, "model-page")
    page.click("#file-table a.file:text-is('config.json')")
    page.wait_for_url("**/alice/tiny-web/blob/main/config.json")
    assert page.inner_text("#file-text").strip().startswith("{")
    _shot(page, "file-view")
    with page.expect_download() as dl:
        page.click("#download")
    assert Path(dl.value.path()).read_bytes() == (pushed["out"] / "config.json").read_bytes()
    page.click("text=History")
    page.wait_for_url("**/alice/tiny-web/commits/main")
    titles = page.locator("#commit-list a").all_inner_texts()
    assert titles[0] == "tiny model from the web test" and titles[-1] == "initial commit"
    _shot(page, "commit-history")
    page.click("#commit-list a >> nth=0")
    assert "README.md" in page.inner_text("#changes")
    response = page.goto(pushed["push_url"])  # the URL `hubtune push` printed
    assert response.status == 200 and page.inner_text("#commit-title") == "tiny model from the web test"
    page.close()


def test_private_repo_hidden_before_login_and_visible_after(chromium, pushed) -> None:
    url = pushed["url"]
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(url + "/")
    assert "alice/tiny-private" not in page.inner_text("#repo-list")
    hidden = page.goto(url + "/alice/tiny-private")
    missing_text = page.inner_text("main")
    assert hidden.status == 404
    page.goto(url + "/alice/no-such-repo")
    assert page.inner_text("main") == missing_text  # private and missing look the same
    page.goto(url + "/alice/tiny-private")
    page.click("#login-link")
    page.fill("input[name=token]", pushed["alice"])
    page.click("form.login button")
    page.wait_for_url(url + "/alice/tiny-private")
    assert "private" in page.inner_text(".repohead")
    assert all(w > 0 for w in _images_loaded(page, "#card img"))  # /resolve/ accepts the login cookie
    cookie = next(c for c in context.cookies() if c["name"] == "hubtune_token")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert page.evaluate("document.cookie") == ""  # scripts cannot read the token
    page.goto(url + "/")
    assert "alice/tiny-private" in page.inner_text("#repo-list")
    page.click("text=Log out")
    page.goto(url + "/alice/tiny-private")
    assert "404" in page.inner_text("main")
    context.close()


def test_script_in_a_card_does_not_run(chromium, pushed) -> None:
    page = chromium.new_page()
    page.set_default_timeout(30_000)
    page.set_content("<html><body><script>document.body.dataset.control = '1'</script></body></html>")
    assert page.evaluate("document.body.dataset.control") == "1"  # control: this browser runs inline scripts
    page.goto(pushed["url"] + "/alice/xss-card")
    assert "Visible text." in page.inner_text("#card")
    page.wait_for_function("[...document.querySelectorAll('#card img')].every(i => i.complete)")
    page.click("#card a:text-is('click')", timeout=5_000)
    page.wait_for_timeout(300)
    assert page.evaluate("document.body.dataset.pwned") is None
    html = page.inner_html("#card")
    assert "<script" not in html and "onerror" not in html and "javascript:" not in html
    page.close()
