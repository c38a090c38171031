"""Two people in one session, each in their own browser."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import Person, WebSystem

READY = re.compile(r"^(ready|idle)$")


def entries(page: Page) -> list[tuple[str, int]]:
    """The timeline as the page shows it: (kind, sequence) of every entry, top to bottom."""
    return [(kind, int(seq)) for kind, seq in page.eval_on_selector_all(
        ".timeline-entry", "els => els.map(e => [e.dataset.kind, e.dataset.seq])")]


def prompt_entry(page: Page, text: str):  # type: ignore[no-untyped-def]
    return page.locator(".timeline-entry[data-kind=prompt]", has_text=text)


def send(page: Page, text: str) -> None:
    page.fill("#prompt", text)
    page.click("#send")
    expect(page.locator("#prompt")).to_have_value("")


def test_two_people_work_in_one_session(people, web_system: WebSystem) -> None:  # type: ignore[no-untyped-def]
    ada: Person = people("Ada Lovelace", "ada@example.com")
    brian: Person = people("Brian Kernighan", "bwk@example.com")
    session = web_system.create_session(title="Pairing")
    pa, pb = ada.open_session(session["id"]), brian.open_session(session["id"])
    for page in (pa, pb):
        expect(page.locator("#session-status")).to_have_text(READY)

    # A sends a prompt: both see it as A's, then the streamed text, the tool call and the result.
    send(pa, "#script agent-turn")
    for page in (pa, pb):
        first = prompt_entry(page, "agent-turn")
        expect(first.locator(".entry-author")).to_have_text("Ada Lovelace")
        expect(page.locator(".agent-text", has_text="Looking around first.")).to_be_visible()
        expect(page.locator(".timeline-entry[data-kind=tool]", has_text="bash")).to_be_visible()

    # B follows up while the agent works: queued for both, behind A's running prompt.
    send(pb, "#script slow seconds=120")
    # A queues one more and thinks better of it.
    send(pa, "#script text text=never-runs")
    for page in (pa, pb):
        expect(page.locator(".queued-prompt")).to_have_count(3)
        expect(page.locator(".queued-prompt", has_text="slow").locator(".queue-position")).to_have_text("#1")
        expect(page.locator(".queued-prompt", has_text="never-runs").locator(".queue-position")).to_have_text("#2")
    pa.locator(".queued-prompt", has_text="never-runs").locator(".cancel-prompt").click()
    for page in (pa, pb):
        expect(prompt_entry(page, "never-runs").locator(".entry-status")).to_have_text("cancelled")
        expect(page.locator(".queued-prompt", has_text="never-runs")).to_have_count(0)

    # A's turn completes; then B's follow-up runs, and B stops it.
    for page in (pa, pb):
        expect(prompt_entry(page, "agent-turn").locator(".entry-status")).to_have_text("completed")
        expect(page.locator(".agent-text", has_text="Finished: all-good")).to_be_visible()
        expect(prompt_entry(page, "slow").locator(".entry-status")).to_have_text("running")
        expect(prompt_entry(page, "slow").locator(".entry-author")).to_have_text("Brian Kernighan")
    expect(pb.locator(".agent-text", has_text="tick1")).to_be_visible()
    pb.click("#stop")
    for page in (pa, pb):
        expect(prompt_entry(page, "slow").locator(".entry-status")).to_have_text("stopped")
        expect(page.locator("#session-status")).to_have_text(READY)
    expect(prompt_entry(pa, "never-runs").locator(".entry-status")).to_have_text("cancelled")

    # Both saw the same timeline, in the same order, and in the order it happened.
    timeline_a, timeline_b = entries(pa), entries(pb)
    assert timeline_a == timeline_b
    assert [seq for _, seq in timeline_a] == sorted(seq for _, seq in timeline_a)
    kinds = [kind for kind, _ in timeline_a]
    assert kinds.index("prompt") < kinds.index("text") < kinds.index("tool") < kinds.index("step")


def test_presence_typing_and_a_late_viewer_gets_the_whole_history(people, web_system: WebSystem) -> None:  # type: ignore[no-untyped-def]
    ada: Person = people("Ada Lovelace", "ada@example.com")
    brian: Person = people("Brian Kernighan", "bwk@example.com")
    session = web_system.create_session(title="Presence")
    pa = ada.open_session(session["id"])
    expect(pa.locator("#session-status")).to_have_text(READY)
    send(pa, "#script text text=first-answer")
    expect(prompt_entry(pa, "first-answer").locator(".entry-status")).to_have_text("completed")

    pb = brian.open_session(session["id"])
    brian_on_a = pa.locator('.participant[data-name="Brian Kernighan"]')
    expect(brian_on_a).to_have_attribute("data-presence", "active")
    pb.locator("#prompt").press_sequentially("thinking about it", delay=30)
    expect(brian_on_a.locator(".presence")).to_have_text("typing…")

    pb.close()  # B leaves
    expect(brian_on_a).to_have_attribute("data-presence", "away", timeout=45_000)

    send(pa, "#script text text=while-brian-was-away")
    expect(prompt_entry(pa, "while-brian-was-away").locator(".entry-status")).to_have_text("completed")
    pb = brian.open_session(session["id"])  # B comes back
    expect(brian_on_a).to_have_attribute("data-presence", "active")
    expect(pb.locator(".agent-text", has_text="while-brian-was-away")).to_be_visible()
    expect(pb.locator(".agent-text", has_text="first-answer")).to_be_visible()
    assert entries(pb) == entries(pa)
