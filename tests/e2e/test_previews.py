"""Live previews end to end: a repository whose start.sh serves a small web app and which declares its port
in .openinspect/preview.toml; the agent (the real OpenCode, the scripted model) is told the preview's URL and
changes the page; "Open preview" shows the live app through the proxy in Chromium, with its own script and
data loaded through the preview's grant, in an opaque origin that cannot read this app's cookies; a browser
nobody signed in to gets no preview."""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect

from tests.e2e.conftest import Person, WebSystem, screenshot
from tests.support.http import free_port
from tests.support.system import make_repo

APP_JS = "document.getElementById('from-script').textContent = 'script ran';\n" \
         "fetch('data.json').then(r => r.json()).then(d => " \
         "{ document.getElementById('from-fetch').textContent = d.message; });\n"


def preview_repo(web_system: WebSystem, port: int) -> str:
    page = "<!doctype html><title>Preview app</title><h1 id='heading'>{}</h1>" \
           "<p id='from-script'>waiting</p><p id='from-fetch'>waiting</p><script src='app.js'></script>\n"
    path = make_repo(web_system.repo.parent / f"preview-app-{port}", {
        "index.html": page.format("Hello from the start"),
        "app.js": APP_JS,
        "data.json": json.dumps({"message": "fetched through the preview"}),
        ".openinspect/preview.toml": f'[[ports]]\nport = {port}\nlabel = "Web app"\n',
        # The dev server outlives start.sh (the sandbox ends it with everything else).
        ".openinspect/start.sh": f"#!/bin/bash\nnohup python3 -m http.server {port} --bind 127.0.0.1 "
                                 ">/dev/null 2>&1 &\n",
    })
    return str(path)


def test_open_preview_shows_the_live_app_and_nobody_signed_out_sees_it(people, browser,  # type: ignore[no-untyped-def]
                                                                       web_system: WebSystem) -> None:
    port = free_port()
    session = web_system.create_session(repo_url=preview_repo(web_system, port), title="Preview app")
    ada: Person = people("Ada Lovelace", "ada@example.com")
    page = ada.open_session(session["id"])
    # The agent changes the heading, and is told where its preview is (its environment).
    page.locator("#prompt").fill(
        "#script write-file path=index.html\n<!doctype html><title>Preview app</title>"
        "<h1 id='heading'>Changed by the agent</h1><p id='from-script'>waiting</p><p id='from-fetch'>waiting</p>"
        "<script src='app.js'></script>\n")
    page.click("#send")
    button = page.locator(".open-preview")
    expect(button).to_have_count(1)
    expect(button).to_contain_text("Web app")
    expect(page.locator(".timeline-entry[data-kind=prompt]", has_text="write-file").locator(".entry-status")) \
        .to_have_text("completed")
    with web_system.api() as api:
        queued = api.post(f"/api/sessions/{session['id']}/prompts", json={
            "content": "#script bash printenv OPENINSPECT_PREVIEW_URLS", "client_request_id": "env"})
        assert queued.status_code in (200, 201), queued.text
    expect(page.locator(".timeline-entry[data-kind=prompt]", has_text="printenv").locator(".entry-status")) \
        .to_have_text("completed")
    with web_system.api() as api:
        events = api.get(f"/api/sessions/{session['id']}/events").json()["events"]
    outputs = [e["data"].get("output", "") for e in events if e["type"] == "tool_result"]
    assert any(json.dumps({str(port): f"http://127.0.0.1:{port}/"}) in output for output in outputs), outputs

    with page.expect_popup() as opened:
        button.click()
    preview = opened.value
    expect(preview.locator("#heading")).to_have_text("Changed by the agent")
    expect(preview.locator("#from-script")).to_have_text("script ran")  # its own script, through the grant
    expect(preview.locator("#from-fetch")).to_have_text("fetched through the preview")
    assert f"/sessions/{session['id']}/preview/{port}/" in preview.url
    # An opaque origin: this app's cookies (and storage) are not the preview's to read.
    assert preview.evaluate("() => { try { return document.cookie; } catch (e) { return 'refused: ' + e.name; } }") \
        == "refused: SecurityError"
    screenshot(preview, "preview-live-app")

    stranger = browser.new_context()
    try:
        outsider = stranger.new_page()
        outsider.goto(f"{web_system.base_url}/sessions/{session['id']}/preview/{port}/")
        expect(outsider).to_have_url(re.compile(
            rf"/signin/?\?next=/sessions/{session['id']}/preview/{port}/$"))  # sent to sign in, and back after
        expect(outsider.get_by_text("Changed by the agent")).to_have_count(0)
        refused = outsider.request.get(f"{web_system.base_url}/sessions/{session['id']}/preview/{port}/")
        assert refused.status == 401
    finally:
        stranger.close()
