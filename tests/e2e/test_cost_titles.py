"""Cost and titles in two browsers: the header shows what the session cost (as the model proxy
metered it), each prompt its own share; a title one person gives shows for the other at once;
a spend limit set on the page holds the next prompt with a notice both see, and raising it
releases it."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from openinspect_core import costs
from tests.e2e.conftest import Person, WebSystem, screenshot

READY = re.compile(r"^(ready|idle)$")
SPENT = re.compile(r"^[1-9][\d,]* tokens · \$\d")  # the scripted model's calls are priced (conftest)


def prompt_entry(page: Page, text: str):  # type: ignore[no-untyped-def]
    return page.locator(".timeline-entry[data-kind=prompt]", has_text=text)


def send(page: Page, text: str) -> None:
    page.fill("#prompt", text)
    page.click("#send")
    expect(page.locator("#prompt")).to_have_value("")


def set_limit(page: Page, value: str) -> None:
    page.click("#spend-limit-edit")
    page.fill("#spend-limit-input", value)
    page.click("#spend-limit-save")


def spend_of(web_system: WebSystem, session_id: str) -> dict:
    with web_system.api() as api:
        return api.get(f"/api/sessions/{session_id}").json()["spend"]


def test_the_header_shows_the_cost_and_a_title_edit_reaches_the_other_viewer(  # type: ignore[no-untyped-def]
        people, web_system: WebSystem) -> None:
    ada: Person = people("Ada Lovelace", "ada@example.com")
    brian: Person = people("Brian Kernighan", "bwk@example.com")
    session = web_system.create_session()
    sid = session["id"]
    pa, pb = ada.open_session(sid), brian.open_session(sid)
    for page in (pa, pb):
        expect(page.locator("#session-status")).to_have_text(READY)
        expect(page.locator("#session-cost")).to_have_text("0 tokens · $0.0000")
        expect(page.locator("#spend-limit")).to_have_text("no spend limit")

    # A turn: the header and the prompt's row show what its model calls cost, for both viewers.
    send(pa, "#script text text=counted")
    for page in (pa, pb):
        expect(prompt_entry(page, "counted").locator(".entry-status")).to_have_text("completed")
        expect(page.locator("#session-cost")).to_have_text(SPENT)
        expect(prompt_entry(page, "counted").locator(".prompt-cost")).to_have_text(SPENT)
    # What the header says is what the REST API says (the title request may still add a call: wait for it).
    def header_matches_api() -> bool:
        spend = spend_of(web_system, sid)["total"]
        shown = costs.label(costs.Spend(spend["input_tokens"], spend["output_tokens"], spend["cost_usd"]))
        return pa.locator("#session-cost").inner_text() == shown
    for _ in range(100):
        if header_matches_api():
            break
        pa.wait_for_timeout(100)
    assert header_matches_api(), (pa.locator("#session-cost").inner_text(), spend_of(web_system, sid))

    # The agent titled the session; Ada gives it her own title, and Brian sees it at once.
    expect(pa.locator("#session-title")).not_to_have_text("webapp")
    pa.click("#title-edit")
    pa.fill("#title-input", "Cost review")
    pa.press("#title-input", "Enter")
    for page in (pa, pb):
        expect(page.locator("#session-title")).to_have_text("Cost review")
    expect(pb.locator(".timeline-entry", has_text="Ada Lovelace renamed the session to “Cost review”")).to_be_visible()
    with web_system.api() as api:
        assert api.get(f"/api/sessions/{sid}").json()["title_from_user"] is True

    # Brian sets a limit below what was spent: a bad amount first (refused, said), then a real one.
    set_limit(pb, "lots")
    expect(pb.locator("#edit-notice")).to_contain_text("is not an amount")
    pb.fill("#spend-limit-input", "0.0001")
    pb.click("#spend-limit-save")
    for page in (pa, pb):
        expect(page.locator("#spend-limit")).to_have_text("limit $0.0001")
    # The next prompt waits, and both see why.
    send(pa, "#script text text=after-the-limit")
    for page in (pa, pb):
        expect(page.locator("#spend-notice")).to_contain_text("Spend limit reached")
        expect(prompt_entry(page, "after-the-limit").locator(".entry-status")).to_have_text("queued")
        expect(page.locator(".timeline-entry[data-kind=warning]", has_text="Spend limit reached")).to_be_visible()
    screenshot(pa, "session-spend-limit-reached")
    # Raising it releases the queue.
    set_limit(pa, "5")
    for page in (pa, pb):
        expect(prompt_entry(page, "after-the-limit").locator(".entry-status")).to_have_text("completed")
        expect(page.locator("#spend-notice")).to_have_count(0)
        expect(page.locator("#spend-limit")).to_have_text("limit $5.00")
    screenshot(pb, "session-cost-header")

