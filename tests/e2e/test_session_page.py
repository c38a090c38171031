"""The session page as people work in it: timeline rows that never overlap, the sidebar of sessions
(grouped, mine or everyone's, searchable, live), keyboard shortcuts, the phone drawer, dark mode —
and its screenshots at desktop and phone width, light and dark, in ``test-artifacts/screenshots/``."""

from __future__ import annotations

import itertools
import re
import uuid

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Person, WebSystem, screenshot
from tests.e2e.test_multiplayer import READY, prompt_entry, send
from tests.support.system import token_over_http

DESKTOP, PHONE = (1280, 860), (390, 844)
MIN_ROW_GAP_PX = 4  # rows are apart, not merely touching: a touching row reads as one with its neighbour

# Each timeline row's box: its own and every visible descendant's (content spilling out of a row
# counts), and the descendants that clip their content vertically (text cut at the row's edge).
ROW_BOXES = """
() => Array.from(document.querySelectorAll("#timeline .timeline-entry")).map((row) => {
  let top = Infinity, bottom = -Infinity, left = Infinity, right = -Infinity;
  const clipped = [];
  for (const el of [row, ...row.querySelectorAll("*")]) {
    if (el !== row && !el.checkVisibility({ visibilityProperty: true })) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    top = Math.min(top, r.top); bottom = Math.max(bottom, r.bottom);
    left = Math.min(left, r.left); right = Math.max(right, r.right);
    const style = getComputedStyle(el);
    if (["hidden", "clip"].includes(style.overflowY) && el.scrollHeight > el.clientHeight + 1) {
      clipped.push(el.tagName + "." + el.className);
    }
  }
  return { kind: row.dataset.kind, seq: row.dataset.seq, top, bottom, left, right, clipped };
})
"""


def assert_rows_apart(page: Page, label: str) -> int:
    """No two timeline rows overlap (their boxes, content included), consecutive rows have space
    between them, no row cuts its text, and the prompt box covers none of them. The rows counted."""
    rows = page.evaluate(ROW_BOXES)
    assert len(rows) >= 5, rows
    for i, a in enumerate(rows):
        assert not a["clipped"], f"{label}: row {a['kind']}#{a['seq']} clips its text: {a['clipped']}"
        for b in rows[i + 1:]:
            overlap = min(a["bottom"], b["bottom"]) - max(a["top"], b["top"])
            across = min(a["right"], b["right"]) - max(a["left"], b["left"])
            assert overlap <= 0 or across <= 0, f"{label}: {a['kind']}#{a['seq']} overlaps {b['kind']}#{b['seq']}"
    for a, b in itertools.pairwise(rows):
        assert b["top"] - a["bottom"] >= MIN_ROW_GAP_PX, (
            f"{label}: {a['kind']}#{a['seq']} ({a['top']:.0f} to {a['bottom']:.0f}) and {b['kind']}#{b['seq']} "
            f"({b['top']:.0f} to {b['bottom']:.0f}) touch")
    scroller, footer = page.locator("#session-scroll").bounding_box(), page.locator("#main-footer").bounding_box()
    assert scroller and footer and scroller["y"] + scroller["height"] <= footer["y"] + 0.5, (scroller, footer)
    return len(rows)


def finished_session(web_system: WebSystem, person: Person, title: str) -> tuple[dict, Page]:
    """A session whose setup ran and whose agent answered with text, a tool call and token counts."""
    session = web_system.create_session(title=title)
    page = person.open_session(session["id"])
    send(page, "#script agent-turn")
    expect(prompt_entry(page, "agent-turn").locator(".entry-status")).to_have_text("completed")
    expect(page.locator(".timeline-entry[data-kind=step]")).to_have_count(2)
    return session, page


def test_timeline_rows_never_overlap_and_setup_output_unfolds(people, web_system: WebSystem) -> None:  # type: ignore[no-untyped-def]
    ada: Person = people("Ada Lovelace", "ada@example.com", width=DESKTOP[0], height=DESKTOP[1])
    session, page = finished_session(web_system, ada, f"Rows {uuid.uuid4().hex[:6]}")
    assert assert_rows_apart(page, "desktop") >= 7
    # Setup's output is folded under its row; a click unfolds it, and the rows still keep apart.
    script = page.locator(".timeline-entry[data-kind=script]")
    expect(script.locator(".fold-body")).not_to_be_visible()
    script.locator("summary").click()
    expect(script.locator(".fold-body")).to_contain_text("installing")
    assert_rows_apart(page, "desktop, setup unfolded")
    tool = page.locator(".timeline-entry[data-kind=tool]").first
    tool.locator("summary").click()
    expect(tool.locator(".fold-body")).to_contain_text("all-good")
    assert_rows_apart(page, "desktop, tool unfolded")

    phone: Person = people("Ada Lovelace", "ada@example.com", width=PHONE[0], height=PHONE[1])
    small = phone.open_session(session["id"])
    expect(prompt_entry(small, "agent-turn").locator(".entry-status")).to_have_text("completed")
    assert_rows_apart(small, "phone")
    assert small.evaluate("document.documentElement.scrollWidth") <= PHONE[0] + 1


def leave_fields(page: Page) -> None:
    """Out of any text field: keys then go to the page's shortcuts, not into a box."""
    page.evaluate("document.activeElement && document.activeElement.blur()")


def sidebar_item(page: Page, title: str):  # type: ignore[no-untyped-def]
    return page.locator("#session-sidebar a.sidebar-session", has_text=title)


def test_the_sidebar_moves_between_sessions_and_keeps_up(people, web_system: WebSystem) -> None:  # type: ignore[no-untyped-def]
    run = uuid.uuid4().hex[:6]
    first = web_system.create_session(title=f"Side A {run}")
    second = web_system.create_session(title=f"Side B {run}")
    ada: Person = people("Ada Lovelace", "ada@example.com")
    page = ada.open_session(first["id"])
    expect(page.locator("#session-title")).to_have_text(f"Side A {run}")
    send(page, "#script text text=only-in-a-" + run)
    expect(prompt_entry(page, "only-in-a-" + run).locator(".entry-status")).to_have_text("completed")
    expect(sidebar_item(page, f"Side A {run}")).to_have_attribute("data-current", "true")

    # One click moves to the other session: its title and timeline, none of the first's.
    sidebar_item(page, f"Side B {run}").click()
    expect(page).to_have_url(re.compile(rf"/sessions/{second['id']}$"))
    expect(page.locator("#session-title")).to_have_text(f"Side B {run}")
    expect(page.locator("#timeline")).not_to_contain_text("only-in-a-" + run)
    expect(sidebar_item(page, f"Side B {run}")).to_have_attribute("data-current", "true")

    # Keys move too: to the neighbour in the sidebar, and back. (Searched down to this test's two
    # sessions, both settled, so no other session's activity reorders the list meanwhile.)
    expect(page.locator("#session-status")).to_have_text(READY)
    page.fill("#sidebar-search", run)
    expect(page.locator("#session-sidebar a.sidebar-session")).to_have_count(2)
    leave_fields(page)
    order = page.eval_on_selector_all("#session-sidebar a.sidebar-session", "els => els.map(e => e.dataset.session)")
    key, back = ("Alt+ArrowDown", "[") if order[0] == second["id"] else ("Alt+ArrowUp", "]")
    page.keyboard.press(key)
    expect(page).to_have_url(re.compile(rf"/sessions/{first['id']}$"))
    expect(page.locator("#session-title")).to_have_text(f"Side A {run}")
    leave_fields(page)
    page.keyboard.press(back)
    expect(page).to_have_url(re.compile(rf"/sessions/{second['id']}$"))
    page.fill("#sidebar-search", "")

    # Live: a session started elsewhere appears without a reload; one that fails needs attention;
    # a working one is running, and Esc stops it.
    third = web_system.create_session(title=f"Side C {run}")
    expect(sidebar_item(page, f"Side C {run}")).to_be_visible()
    with web_system.api() as api:
        for session, content in ((first, "#script fail"), (third, "#script slow seconds=120")):
            response = api.post(f"/api/sessions/{session['id']}/prompts",
                                json={"content": content, "client_request_id": uuid.uuid4().hex})
            assert response.status_code == 201, response.text
    expect(page.locator("#sidebar-attention").locator("a.sidebar-session", has_text=f"Side A {run}")).to_be_visible()
    expect(page.locator("#sidebar-running").locator("a.sidebar-session", has_text=f"Side C {run}")).to_be_visible()
    sidebar_item(page, f"Side C {run}").click()
    expect(page.locator("#session-title")).to_have_text(f"Side C {run}")
    expect(page.locator(".agent-text", has_text="tick1")).to_be_visible()
    page.locator("#prompt").focus()
    page.keyboard.press("Escape")
    expect(prompt_entry(page, "slow").locator(".entry-status")).to_have_text("stopped")
    expect(page.locator("#session-status")).to_have_text(READY)
    expect(page.locator("#sidebar-recent").locator("a.sidebar-session", has_text=f"Side C {run}")).to_be_visible()

    # Mine or everyone's: another person's session shows only under everyone's; search narrows.
    brian_token = token_over_http(web_system.base_url, {"name": "Brian Kernighan", "email": "bwk@example.com"})
    with httpx.Client(base_url=web_system.base_url, timeout=30, trust_env=False,
                      headers={"Authorization": f"Bearer {brian_token}"}) as brian_api:
        created = brian_api.post("/api/sessions", json={"repo_url": str(web_system.repo), "title": f"Brian's {run}"})
        assert created.status_code == 201, created.text
    page.wait_for_timeout(3000)  # past a few ticks of the sidebar's timer: a wrongly listed one would be there
    expect(sidebar_item(page, f"Brian's {run}")).to_have_count(0)
    page.get_by_role("radio", name="Everyone's").click()
    expect(sidebar_item(page, f"Brian's {run}")).to_be_visible()
    page.fill("#sidebar-search", f"side b {run}")
    expect(page.locator("#session-sidebar a.sidebar-session")).to_have_count(1)
    expect(sidebar_item(page, f"Side B {run}")).to_be_visible()
    page.fill("#sidebar-search", f"nothing-like-this-{run}")
    expect(page.locator("#sidebar-empty")).to_have_text("No session matches.")
    # The shortcuts are documented on the page itself.
    leave_fields(page)
    page.keyboard.press("?")
    expect(page.locator("#shortcuts-dialog")).to_contain_text("Next session in the sidebar")
    page.keyboard.press("Escape")
    expect(page.locator("#shortcuts-dialog")).to_have_count(0)


def test_phone_drawer_dark_mode_and_screenshots(people, web_system: WebSystem) -> None:  # type: ignore[no-untyped-def]
    ada: Person = people("Ada Lovelace", "ada@example.com", width=DESKTOP[0], height=DESKTOP[1])
    session, page = finished_session(web_system, ada, f"Looks {uuid.uuid4().hex[:6]}")
    other = web_system.create_session(title=f"Drawer target {uuid.uuid4().hex[:6]}")
    expect(page.locator("html")).to_have_class(re.compile(r"\blight\b"))
    assert screenshot(page, "session-page-desktop-light").stat().st_size > 10_000
    page.click("#color-mode")
    expect(page.locator("html")).to_have_class(re.compile(r"\bdark\b"))
    page.reload()  # kept in this browser
    expect(page.locator("#session-status")).not_to_have_text("")
    expect(page.locator("html")).to_have_class(re.compile(r"\bdark\b"))
    assert_rows_apart(page, "desktop, dark")
    assert screenshot(page, "session-page-desktop-dark").stat().st_size > 10_000

    phone: Person = people("Ada Lovelace", "ada@example.com", width=PHONE[0], height=PHONE[1])
    small = phone.open_session(session["id"])
    expect(prompt_entry(small, "agent-turn").locator(".entry-status")).to_have_text("completed")
    # The sidebar is a drawer: out of sight until the header's button opens it.
    expect(small.locator("#session-sidebar")).not_to_be_in_viewport()
    assert screenshot(small, "session-page-phone-light").stat().st_size > 10_000
    small.click("#sidebar-open")
    expect(small.locator("#session-sidebar")).to_be_in_viewport()
    small.wait_for_function("document.querySelector('#session-sidebar').getBoundingClientRect().left >= 0")
    assert screenshot(small, "session-page-phone-drawer").stat().st_size > 10_000
    small.keyboard.press("Escape")
    expect(small.locator("#session-sidebar")).not_to_be_in_viewport()
    small.click("#sidebar-open")
    sidebar_item(small, other["title"]).click()
    expect(small.locator("#session-title")).to_have_text(other["title"])
    expect(small.locator("#session-sidebar")).not_to_be_in_viewport()
    small.goto(f"{web_system.base_url}/sessions/{session['id']}")
    expect(prompt_entry(small, "agent-turn").locator(".entry-status")).to_have_text("completed")
    small.click("#color-mode")
    expect(small.locator("html")).to_have_class(re.compile(r"\bdark\b"))
    assert_rows_apart(small, "phone, dark")
    assert small.evaluate("document.documentElement.scrollWidth") <= PHONE[0] + 1
    assert screenshot(small, "session-page-phone-dark").stat().st_size > 10_000
