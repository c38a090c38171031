"""The agent's screenshot in the web UI: a repository whose ``start.sh`` serves a small page in the sandbox,
a prompt that changes its heading and calls the screenshot tool (the real OpenCode, the scripted model);
the thumbnail appears for two people at once and opens full size; the image is the changed page (its
pixels against the page rendered here), not the old one; nobody signed out gets a byte of it."""

from __future__ import annotations

import socket
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import Person, WebSystem
from tests.support.images import decode_png
from tests.support.system import make_repo

STYLE = ("<style>body{margin:0;background:#fff;font-family:sans-serif}"
         "h1{margin:0;padding:32px;background:rgb(30,110,60);color:#fff;font-size:56px}</style>")
BEFORE = f"<!doctype html><html><head><title>Shop</title>{STYLE}</head><body><h1>Welcome</h1></body></html>\n"
AFTER = BEFORE.replace("<h1>Welcome</h1>", "<h1>Big summer sale</h1>")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def shop_repo(web_system: WebSystem, port: int) -> Path:
    return make_repo(web_system.repo.parent / f"shop-{port}", {
        "site/index.html": BEFORE,
        ".openinspect/start.sh": f"#!/bin/bash\nnohup python3 -m http.server {port} --bind 127.0.0.1 --directory site "
                                 ">server.log 2>&1 &\nfor i in $(seq 100); do python3 -c 'import socket; "
                                 f"socket.create_connection((\"127.0.0.1\", {port}), 1)' 2>/dev/null && exit 0; "
                                 "sleep 0.1; done; exit 1\n",
    })


def rendered(browser: Browser, url: str) -> list[bytes]:
    """The page as a 1280x800 desktop screenshot taken here: what the tool's must equal."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto(url)
        return decode_png(page.screenshot(type="png"))[2]
    finally:
        context.close()


def same_rows(a: list[bytes], b: list[bytes]) -> float:
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def loaded(page: Page, selector: str) -> int:
    """The natural width of the image ``selector`` names once it has loaded (0: it has not)."""
    return int(page.locator(selector).first.evaluate("img => img.complete ? img.naturalWidth : 0"))


def test_the_agents_screenshot_shows_for_two_people_and_opens_full_size(  # type: ignore[no-untyped-def]
        people, browser: Browser, web_system: WebSystem) -> None:
    port = free_port()
    ada: Person = people("Ada Lovelace", "ada@example.com")
    brian: Person = people("Brian Kernighan", "bwk@example.com")
    session = web_system.create_session(repo_url=str(shop_repo(web_system, port)), title="Summer sale")
    pa, pb = ada.open_session(session["id"]), brian.open_session(session["id"])
    for page in (pa, pb):
        expect(page.locator("#session-status")).to_have_text("ready", timeout=60_000)
    before = rendered(browser, f"http://127.0.0.1:{port}/")

    pa.fill("#prompt", f'#script screenshot path=site/index.html port={port} caption="The new heading"\n{AFTER}')
    pa.click("#send")

    for page in (pa, pb):
        shot = page.locator(".entry-screenshot")
        expect(shot).to_be_visible(timeout=90_000)
        expect(shot.locator(".screenshot-caption")).to_have_text("The new heading")
        expect(page.locator(".screenshot-thumbnail")).to_be_visible()
        page.wait_for_function("() => { const i = document.querySelector('.screenshot-thumbnail');"
                               " return i && i.complete && i.naturalWidth > 0; }")
        assert loaded(page, ".screenshot-thumbnail") == 1280

    # Brian opens it: the lightbox shows the full-size image, and closes with Escape.
    pb.locator(".screenshot-open").click()
    lightbox = pb.locator(".screenshot-lightbox")
    expect(lightbox).to_be_visible()
    pb.wait_for_function("() => { const i = document.querySelector('.screenshot-full');"
                         " return i && i.complete && i.naturalWidth > 0; }")
    assert loaded(pb, ".screenshot-full") == 1280
    full = pb.locator(".screenshot-full").bounding_box()
    assert full is not None and full["width"] >= 1000  # shown at full size, not as the thumbnail
    expect(lightbox).to_contain_text(f"http://127.0.0.1:{port}/")
    pb.keyboard.press("Escape")
    expect(lightbox).to_have_count(0)

    # The image is the changed page: pixel for pixel what this browser renders of it now, not of before.
    url = pb.locator(".screenshot-thumbnail").first.get_attribute("src")
    assert url and url.startswith("/api/artifacts/")
    response = brian.context.request.get(web_system.base_url + url)
    assert response.status == 200 and response.headers["content-type"] == "image/png"
    width, height, shot_rows = decode_png(response.body())
    after = rendered(browser, f"http://127.0.0.1:{port}/")
    assert (width, height) == (1280, 800)
    assert same_rows(shot_rows, after) > 0.99
    assert same_rows(shot_rows, before) < 0.95  # the heading's rows differ: it is not the old page

    # Nobody signed in gets nothing.
    stranger = browser.new_context()
    try:
        refused = stranger.request.get(web_system.base_url + url)
        assert refused.status == 401 and b"PNG" not in refused.body()
    finally:
        stranger.close()
