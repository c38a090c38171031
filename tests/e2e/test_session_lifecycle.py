"""Sign-in, warming, archive and restore, safe rendering, long sessions, screenshots."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import openinspect_protocol as p
from playwright.sync_api import Browser, expect

from openinspect_core.db import Database
from openinspect_core.services import timeline
from openinspect_core.settings import Settings
from tests.e2e.conftest import Person, WebSystem, screenshot
from tests.e2e.test_multiplayer import READY, entries, prompt_entry, send


def test_local_sign_in(browser: Browser, web_system: WebSystem) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(web_system.base_url + "/")
    expect(page).to_have_url(re.compile(r"/signin\?next=/$"))
    page.fill("#signin-name", "Grace Hopper")
    page.fill("#signin-email", "not-an-email")
    page.click("#signin-submit")
    # The browser's own check holds the form back (the server checks again).
    assert page.evaluate("document.querySelector('#signin-email').validity.valid") is False
    expect(page).to_have_url(re.compile(r"/signin"))
    page.fill("#signin-email", "grace@example.com")
    page.click("#signin-submit")
    expect(page).to_have_url(web_system.base_url + "/")
    expect(page.locator(".me")).to_have_text("Grace Hopper")
    # The browser holds only the signed, HttpOnly cookie: nothing a page script can read or set.
    [cookie] = [c for c in context.cookies() if c["name"] == "openinspect_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert "openinspect_session" not in page.evaluate("document.cookie")
    assert not page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('openinspect'))")
    # Signing in again with the same email never renames the person.
    page.click("#sign-out")
    expect(page).to_have_url(re.compile(r"/signin"))
    page.fill("#signin-name", "Somebody Else")
    page.fill("#signin-email", "grace@example.com")
    page.click("#signin-submit")
    expect(page.locator(".me")).to_have_text("Grace Hopper")
    # A `next` that leaves the site is not followed.
    page.click("#sign-out")
    page.goto(web_system.base_url + "/signin?next=//evil.example/")
    page.fill("#signin-name", "Grace Hopper")
    page.fill("#signin-email", "grace@example.com")
    page.click("#signin-submit")
    expect(page).to_have_url(web_system.base_url + "/")
    context.close()


def test_a_forged_local_storage_identity_signs_nobody_in(browser: Browser, web_system: WebSystem) -> None:
    title = f"Forged {uuid.uuid4().hex[:8]}"
    session = web_system.create_session(title=title)
    context = browser.new_context()
    # What signed a browser in before: two local-storage keys, settable by anyone.
    context.add_init_script("localStorage.setItem('openinspect_user_name', 'Ada Lovelace');"
                            "localStorage.setItem('openinspect_user_email', 'ada@example.com');")
    page = context.new_page()
    page.goto(f"{web_system.base_url}/sessions/{session['id']}")
    expect(page).to_have_url(re.compile(rf"/signin\?next=/sessions/{session['id']}$"))
    expect(page.locator("#signin-form")).to_be_visible()
    assert title not in page.content()
    expect(page.locator(".me")).to_have_count(0)
    page.goto(web_system.base_url + "/")
    expect(page).to_have_url(re.compile(r"/signin\?next=/$"))
    assert title not in page.content()
    context.close()


def test_a_signed_out_viewer_gets_no_session_state(people, web_system: WebSystem) -> None:  # type: ignore[no-untyped-def]
    title = f"Signed out {uuid.uuid4().hex[:8]}"
    session = web_system.create_session(title=title)
    ada: Person = people("Ada Lovelace", "ada@example.com")
    watching = ada.open_session(session["id"])
    expect(watching.locator("#session-title")).to_have_text(title)
    other_tab = ada.open_session(session["id"])
    log_before = web_system.log.read_text().count("live.viewers_unlinked")

    # Ada signs out in the other tab; this one stays open and is unlinked from the session.
    other_tab.click("#sign-out")
    expect(other_tab).to_have_url(re.compile(r"/signin/?$"))
    deadline = time.monotonic() + 60
    while web_system.log.read_text().count("live.viewers_unlinked") <= log_before:
        assert time.monotonic() < deadline, "the signed-out tab was not unlinked"
        watching.wait_for_timeout(200)
    brian: Person = people("Brian Kernighan", "bwk@example.com")
    pb = brian.open_session(session["id"])
    send(pb, "#script text text=after-ada-left")
    expect(prompt_entry(pb, "after-ada-left").locator(".entry-status")).to_have_text("completed")
    # Every linked tab gets a change at once; give a (wrongly) linked one a moment more to show it.
    watching.wait_for_timeout(1000)
    assert "after-ada-left" not in watching.content()

    # Back to the session in the signed-out tab: sent to sign in, and nothing of the session arrives.
    other_tab.goto(f"{web_system.base_url}/sessions/{session['id']}")
    expect(other_tab).to_have_url(re.compile(rf"/signin\?next=/sessions/{session['id']}$"))
    other_tab.wait_for_load_state("networkidle")
    assert title not in other_tab.content() and "after-ada-left" not in other_tab.content()
    watching.reload()
    expect(watching).to_have_url(re.compile(r"/signin"))
    assert title not in watching.content()


def test_new_session_from_the_sessions_page(people, web_system: WebSystem) -> None:  # type: ignore[no-untyped-def]
    ada: Person = people("Ada Lovelace", "ada@example.com")
    page = ada.page()
    page.goto(web_system.base_url + "/")
    page.fill("#new-repo", str(web_system.repo))
    page.fill("#new-title", "From the form")
    page.fill("#new-prompt", "#script text text=hello-from-the-form")
    page.click("#new-submit")
    expect(page).to_have_url(re.compile(r"/sessions/[0-9a-f]{32}$"))
    expect(page.locator("#session-title")).to_have_text("From the form")
    expect(prompt_entry(page, "hello-from-the-form").locator(".entry-status")).to_have_text("completed")
    page.goto(web_system.base_url + "/")
    expect(page.locator(".session-row", has_text="From the form")).to_be_visible()


def test_typing_warms_a_sandbox_and_archive_then_restore(people, web_system: WebSystem) -> None:  # type: ignore[no-untyped-def]
    ada: Person = people("Ada Lovelace", "ada@example.com")
    session = web_system.create_session(title="Warm me")
    page = ada.open_session(session["id"])
    expect(page.locator("#session-status")).to_have_text(READY)

    page.click("#archive")
    expect(page.locator("#session-status")).to_have_text("stopped")
    expect(page.locator("#restore")).to_be_visible()
    expect(page.locator("#prompt")).to_be_disabled()
    listing = ada.page()
    listing.goto(web_system.base_url + "/")
    expect(listing.locator(".session-row", has_text="Warm me")).to_have_count(0)
    listing.get_by_role("radio", name="Archived").click()
    expect(listing.locator(".session-row", has_text="Warm me")).to_be_visible()

    page.click("#restore")
    expect(page.locator("#archive")).to_be_visible()
    expect(page.locator("#session-status")).to_have_text("stopped")
    # Typing alone (nothing sent) starts a sandbox; the page shows its progress.
    page.locator("#prompt").press_sequentially("please look at", delay=40)
    expect(page.locator("#startup-progress")).to_be_visible()
    expect(page.locator("#session-status")).to_have_text(READY)
    with web_system.api() as api:
        events = api.get(f"/api/sessions/{session['id']}/events").json()["events"]
    assert [e["type"] for e in events].count("sandbox_spawning") == 2
    assert "prompt_queued" not in [e["type"] for e in events]
    # The prompt then goes to the sandbox that is already running.
    page.locator("#prompt").fill("#script text text=warm-answer")
    page.click("#send")
    expect(prompt_entry(page, "warm-answer").locator(".entry-status")).to_have_text("completed")
    with web_system.api() as api:
        events = api.get(f"/api/sessions/{session['id']}/events").json()["events"]
    assert [e["type"] for e in events].count("sandbox_spawning") == 2
    listing.get_by_role("radio", name="Active").click()
    expect(listing.locator(".session-row", has_text="Warm me")).to_be_visible()


def test_agent_and_user_text_never_runs_as_script(people, web_system: WebSystem) -> None:  # type: ignore[no-untyped-def]
    ada: Person = people("Ada Lovelace", "ada@example.com")
    session = web_system.create_session(title="Hostile text")
    page = ada.open_session(session["id"])
    hostile = '<script>window.__xss = 1</script> and <img src=x onerror="window.__xss = 2">\n\nstill **bold**'
    send(page, "#script text\n" + hostile)
    answer = page.locator(".agent-text", has_text="window.__xss = 1")
    expect(answer).to_be_visible()
    expect(answer).to_contain_text('<img src=x onerror="window.__xss = 2">')
    expect(answer.locator("strong")).to_have_text("bold")  # markdown still renders
    expect(prompt_entry(page, "onerror").locator(".entry-text")).to_contain_text("<script>window.__xss = 1</script>")
    page.wait_for_timeout(500)
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("#timeline img").count() == 0
    assert page.locator("#timeline script").count() == 0


def test_a_long_session_shows_a_window_and_loads_older_history(people, web_system: WebSystem) -> None:  # type: ignore[no-untyped-def]
    session = web_system.create_session(title="Ten thousand events")
    settings = Settings.from_env({"OPENINSPECT_DATA_DIR": str(web_system.data_dir)})

    async def fill() -> None:
        db = Database(settings.database_url)
        async with db.session() as s:
            for i in range(5000):  # two events each: 5,000 tool rows, 10,000 events
                await timeline.append(s, session["id"], p.ToolCall(call_id=f"c{i}", tool="bash",
                                                                  input={"command": f"echo {i}"}))
                await timeline.append(s, session["id"], p.ToolResult(call_id=f"c{i}", tool="bash",
                                                                    status="completed", output=f"line {i}"))
            await s.commit()
        await db.dispose()

    # Playwright's sync API runs an event loop in this thread: fill the database from another one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, fill()).result()
    ada: Person = people("Ada Lovelace", "ada@example.com")
    page = ada.open_session(session["id"])
    last = page.locator(".timeline-entry[data-kind=tool]", has_text="echo 4999")
    expect(last).to_be_visible()
    shown = len(entries(page))
    assert shown <= 8 * 16 + 1, shown  # the live window, not the whole history
    expect(page.locator(".timeline-entry", has_text="echo 1000")).to_have_count(0)
    oldest_shown = oldest_echo(page)
    page.click("#load-older")
    expect(page.locator(".timeline-entry")).to_have_count(shown + 100)
    assert oldest_echo(page) < oldest_shown
    # And the session still works.
    send(page, "#script text text=still-responsive")
    expect(prompt_entry(page, "still-responsive").locator(".entry-status")).to_have_text("completed")


def oldest_echo(page) -> int:  # type: ignore[no-untyped-def]
    texts = page.eval_on_selector_all(".timeline-entry[data-kind=tool]", "els => els.map(e => e.textContent)")
    return min(int(m.group(1)) for t in texts if (m := re.search(r"echo (\d+)", t)))


def test_screenshots_at_desktop_and_phone_width(people, web_system: WebSystem) -> None:  # type: ignore[no-untyped-def]
    session = web_system.create_session(title="Screenshots")
    for label, width, height in (("desktop", 1280, 860), ("phone", 390, 844)):
        person: Person = people("Ada Lovelace", "ada@example.com", width=width, height=height)
        page = person.open_session(session["id"])
        if label == "desktop":
            send(page, "#script agent-turn")
            expect(prompt_entry(page, "agent-turn").locator(".entry-status")).to_have_text("completed")
        else:
            expect(prompt_entry(page, "agent-turn").locator(".entry-status")).to_have_text("completed")
            # Nothing spills sideways at phone width.
            assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
        assert screenshot(page, f"session-{label}").stat().st_size > 10_000
        page.goto(web_system.base_url + "/")
        expect(page.locator(".session-row").first).to_be_visible()
        if label == "phone":
            assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
        assert screenshot(page, f"sessions-{label}").stat().st_size > 10_000


def test_personal_api_tokens_on_the_settings_page(people, web_system: WebSystem) -> None:  # type: ignore[no-untyped-def]
    grace: Person = people("Grace Hopper", "grace@example.com")
    page = grace.page()
    page.goto(web_system.base_url + "/")
    page.click("#settings-link")
    expect(page).to_have_url(re.compile(r"/settings/?$"))
    expect(page.locator("#no-tokens")).to_be_visible()
    page.fill("#token-name", "laptop CLI")
    page.click("#create-token")
    token = page.locator("#new-token").inner_text()
    assert token.startswith("oi_")
    expect(page.locator(".token-row", has_text="laptop CLI").locator(".token-prefix")).to_have_text(token[:10] + "…")
    assert screenshot(page, "settings-new-token").stat().st_size > 10_000
    with httpx.Client(base_url=web_system.base_url, timeout=30, trust_env=False,
                      headers={"Authorization": f"Bearer {token}"}) as api:
        assert api.get("/api/me").json()["email"] == "grace@example.com"
        # Shown once: the next thing the tab does clears it, and a reload never brings it back.
        page.reload()
        expect(page.locator(".token-row", has_text="laptop CLI")).to_be_visible()
        expect(page.locator("#new-token-box")).to_have_count(0)
        assert token not in page.content()
        page.locator(".token-row", has_text="laptop CLI").locator(".revoke-token").click()
        expect(page.locator(".token-row", has_text="laptop CLI")).to_have_count(0)
        assert api.get("/api/me").status_code == 401


def test_the_sign_in_page_says_why_a_sign_in_was_refused(browser: Browser, web_system: WebSystem) -> None:
    """The endpoint sends a refused form back with ``?error=<code>``; the page puts it in words."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(web_system.base_url + "/signin?error=local_sign_in_unavailable")
    expect(page.locator("#signin-error")).to_contain_text("only while the server listens on loopback")
    page.goto(web_system.base_url + "/signin?error=invalid_author&next=/settings")
    expect(page.locator("#signin-error")).to_contain_text("display name and an email")
    page.fill("#signin-name", "Grace Hopper")
    page.fill("#signin-email", "grace@example.com")
    page.click("#signin-submit")
    expect(page).to_have_url(re.compile(r"/settings/?$"))
    page.goto(web_system.base_url + "/signin")
    expect(page.locator("#signin-form")).to_be_visible()
    expect(page.locator(".me")).to_have_text("Grace Hopper")
    assert screenshot(page, "sign-in").stat().st_size > 5_000
    context.close()
