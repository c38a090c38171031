"""The Changes panel and the verify badge in Chromium: a turn changes the app and verify.sh passes; the panel
shows the highlighted diff, unified and split; a second prompt breaks it, the badge turns failed for the viewer
and the open panel follows. (A verify.sh that hangs past its limit: tests/integration/test_changes_verify.py,
where the limit can be seconds.)"""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from tests.e2e.conftest import Person, WebSystem, screenshot
from tests.e2e.test_multiplayer import READY, send
from tests.support.system import make_repo

VERIFY = """#!/bin/bash
echo "checking the heading"
grep -q 'Hello' app.py || { echo "the heading is gone" >&2; exit 1; }
echo "heading ok"
"""


def test_the_changes_panel_and_the_verify_badge(people, web_system: WebSystem) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(web_system.repo.parent / f"verified-{uuid.uuid4().hex[:8]}", {
        "README.md": "# Verified app\n", "app.py": "def heading():\n    return 'Welcome'\n",
        ".openinspect/verify.sh": VERIFY})
    session = web_system.create_session(repo_url=str(repo), title="Changes and verify")
    ada: Person = people("Ada Lovelace", "ada@example.com")
    page = ada.open_session(session["id"])
    expect(page.locator("#session-status")).to_have_text(READY)
    expect(page.locator("#verify-badge")).to_have_count(0)  # verify.sh has not run yet

    send(page, "#script commit path=app.py message=\"Say hello\"\ndef heading():\n    return '<b>Hello</b>'\n")
    badge = page.locator("#verify-badge")
    expect(badge).to_have_attribute("data-outcome", "passed")
    expect(badge).to_have_text("verify passed")
    expect(page.locator(".timeline-entry", has_text="Changes: 1 file changed")).to_be_visible()

    page.click("#changes-toggle")
    expect(page.locator("#changes-summary")).to_contain_text("1 file changed, +1 -1 against origin/main")
    changed = page.locator(".changed-file[data-path='app.py']")
    expect(changed.locator(".additions")).to_have_text("+1")
    diff = changed.locator("table.oi-diff.unified")
    expect(diff.locator("tr.del")).to_contain_text("return 'Welcome'")
    expect(diff.locator("tr.add")).to_contain_text("return '<b>Hello</b>'")  # as text: nothing of it is markup
    assert diff.locator("tr.add b").count() == 0
    expect(diff.locator("tr.add span.k")).to_have_text("return")  # highlighted as Python
    screenshot(page, "changes-unified")

    page.click("#changes-split")
    split = changed.locator("table.oi-diff.split")
    expect(split).to_be_visible()
    row = split.locator("tr.change").first
    expect(row.locator("td.code.del")).to_contain_text("'Welcome'")
    expect(row.locator("td.code.add")).to_contain_text("<b>Hello</b>")
    screenshot(page, "changes-split")
    page.click("#changes-unified")
    expect(changed.locator("table.oi-diff.unified")).to_be_visible()

    send(page, "#script commit path=app.py message=\"Say goodbye\"\ndef heading():\n    return 'Goodbye'\n")
    expect(badge).to_have_attribute("data-outcome", "failed")
    expect(badge).to_have_text("verify failed")
    # The open panel follows the session's newest changes by itself.
    expect(changed.locator("tr.add")).to_contain_text("return 'Goodbye'")
    failed_run = page.locator(".timeline-entry[data-kind=script]", has_text="the heading is gone")
    expect(failed_run).to_contain_text("exit 1")
    failed_run.locator(".fold-summary").click()  # its output, unfolded
    expect(failed_run.locator("pre")).to_contain_text("checking the heading")
    screenshot(page, "verify-failed")
