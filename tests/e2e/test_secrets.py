"""A secret, end to end: set on the settings page, it reaches the repository's setup.sh and the
agent's shell, and everywhere else it is ``[secret:NAME]``.

The scripted model plays an agent that tries to leak: it echoes secrets in its shell, streams
one in its answer split across chunks, and commits a file holding one (the sandbox's hook refuses
it, and the timeline says why; a local repository is never pushed, so the push check is
``test_github``'s). The page, the stored events and the REST answers show only marks; ``test_zz_leaks`` then searches
everything the suite left behind for the values themselves.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time
from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.e2e.conftest import Person, WebSystem, screenshot
from tests.e2e.leak_watch import GLOBAL_CANARY, LeakWatch
from tests.e2e.test_multiplayer import READY, prompt_entry, send
from tests.fakes.scripted_model import ScriptContext, ScriptedModel, TextReply, ToolCallSpec, ToolReply
from tests.support.system import make_repo

UI_SECRET = "E2E_UI_SECRET"
HASH_FILE = "ui-secret.sha256"  # in the sandbox's HOME, which is the workspace's home/ on this machine
# setup.sh proves it has the value without showing it (a hash), and shows it (which must arrive scrubbed).
SETUP_SH = f"""#!/bin/bash
printf %s "${UI_SECRET}" | sha256sum | cut -d' ' -f1 > "$HOME/{HASH_FILE}"
echo "setup sees ${UI_SECRET}"
"""
WAIT_SECONDS = 90


def mark(name: str) -> str:
    return f"[secret:{name}]"


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def set_secret_on_page(page: Page, base_url: str, name: str, value: str) -> None:
    """Through the settings page's secrets form, the way a person adds one."""
    page.goto(base_url + "/settings")
    page.fill("#secret-name", name)
    page.fill("#secret-value", value)
    page.click("#save-secret")
    expect(page.locator(".secret-row", has_text=name)).to_be_visible()


def leaking_scripts(model: ScriptedModel, canary: str) -> None:
    """The agent that tries to leak (each a separate prompt, so each step is checked on its own)."""
    def shell_and_stream(ctx: ScriptContext) -> TextReply | ToolReply:
        if ctx.step == 0:
            command = f'echo "global=${GLOBAL_CANARY}"; printf %s "${UI_SECRET}" | sha256sum'
            return ToolReply((ToolCallSpec("bash", {"command": command}),))
        # The value split across three chunks, streamed slowly: each arrives as its own delta.
        return TextReply.streamed("Here it is: ", canary[:9], canary[9:20], canary[20:], " (streamed).",
                                  chunk_delay_seconds=0.1)

    def commit(ctx: ScriptContext) -> TextReply | ToolReply:
        if ctx.step == 0:
            command = f'echo "${UI_SECRET}" > leak.txt && git add leak.txt && git commit -m leak'
            return ToolReply((ToolCallSpec("bash", {"command": command}),))
        return TextReply("The commit was tried.")

    model.register("leak-shell-and-stream", shell_and_stream)
    model.register("leak-commit", commit)


def stored_events(system: WebSystem, session_id: str) -> list[dict]:
    events: list[dict] = []
    after = 0
    with system.api() as api:
        while True:
            page = api.get(f"/api/sessions/{session_id}/events", params={"after": after}).json()
            events += page["events"]
            after = page["next_after"]
            if not page["has_more"]:
                return events


def wait_for_event(system: WebSystem, session_id: str, matches: Callable[[dict], bool]) -> dict:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if found := [e for e in stored_events(system, session_id) if matches(e)]:
            return found[0]
        time.sleep(0.5)
    summary = "\n".join(f"{e['type']} {json.dumps(e['data'])[:200]}" for e in stored_events(system, session_id))
    raise AssertionError(f"no such event within {WAIT_SECONDS} s:\n{summary}")


def test_a_secret_set_on_the_page_is_used_and_never_shown(  # type: ignore[no-untyped-def]
        people, web_system: WebSystem, scripted_model: ScriptedModel, leak_watch: LeakWatch) -> None:
    canary = web_system.canaries[GLOBAL_CANARY]
    ui_value = leak_watch.canary("set on the settings page")
    leak_watch.typed.add(ui_value)  # the person types it: only their own browser's request may carry it
    values = (canary, ui_value)
    leaking_scripts(scripted_model, canary)

    # Set on the page: afterwards it shows the name, never the value, and so does the REST API.
    ada: Person = people("Ada Lovelace", "ada@example.com")
    settings = ada.page()
    set_secret_on_page(settings, web_system.base_url, UI_SECRET, ui_value)
    settings.reload()
    expect(settings.locator(".secret-row", has_text=UI_SECRET)).to_be_visible()
    assert not [v for v in values if v in settings.content()]
    screenshot(settings, "settings-secrets")
    with web_system.api() as api:
        listing = api.get("/api/secrets")
    assert listing.status_code == 200 and UI_SECRET in listing.text, listing.text
    assert not [v for v in values if v in listing.text]

    # setup.sh has it (the hash it wrote matches) and its output shows only the mark.
    repo = make_repo(web_system.repo.parent / "vault-app",
                     {"README.md": "# Vault\n", ".openinspect/setup.sh": SETUP_SH})
    session = web_system.create_session(repo_url=str(repo), title="Secrets")
    sid = session["id"]
    page = ada.open_session(sid)
    expect(page.locator("#session-status")).to_have_text(READY)
    workspace = web_system.data_dir / "workspaces" / sid
    assert (workspace / "home" / HASH_FILE).read_text().strip() == sha256(ui_value)
    wait_for_event(web_system, sid, lambda e: e["type"] == "script_output"
                   and f"setup sees {mark(UI_SECRET)}" in e["data"]["text"])

    # The agent's shell has both; what it prints is marked; the answer streamed in pieces is marked.
    send(page, "#script leak-shell-and-stream")
    expect(prompt_entry(page, "leak-shell-and-stream").locator(".entry-status")).to_have_text("completed")
    tool = page.locator(".timeline-entry[data-kind=tool]", has_text=f"global={mark(GLOBAL_CANARY)}")
    expect(tool).to_be_visible()
    expect(tool).to_contain_text(sha256(ui_value))  # the agent's shell saw the value set on the page
    expect(page.locator(".agent-text", has_text=f"Here it is: {mark(GLOBAL_CANARY)} (streamed).")).to_be_visible()
    events = stored_events(web_system, sid)
    [output] = [e["data"]["output"] for e in events if e["type"] == "tool_result"]
    assert output.startswith(f"global={mark(GLOBAL_CANARY)}\n"), output
    streamed = "".join(e["data"]["text"] for e in events if e["type"] == "token")  # stored per delta
    assert streamed == f"Here it is: {mark(GLOBAL_CANARY)} (streamed).", streamed
    assert not [v for v in values if v in json.dumps(events)]

    # A commit holding a value is refused by the sandbox's hook; the timeline says which secret, and why.
    send(page, "#script leak-commit")
    expect(prompt_entry(page, "leak-commit").locator(".entry-status")).to_have_text("completed")
    warning = page.locator(".timeline-entry[data-kind=warning]", has_text=UI_SECRET)
    warning = warning.filter(has_text=re.compile("commit was refused", re.I))
    expect(warning.first).to_be_visible()
    subjects = git(workspace / "repo", "log", "--format=%s")
    assert "leak" not in subjects.split(), subjects

    # The sandbox's own log, kept with the session, opens on the page: the turns' lines, scrubbed too.
    page.locator("#sandbox-log-toggle").click()
    expect(page.locator(".sandbox-log-line", has_text="supervisor.prompt_finished").first).to_be_visible()
    page.locator("#sandbox-log-refresh").click()
    expect(page.locator(".sandbox-log-line", has_text="supervisor.prompt_started").first).to_be_visible()

    screenshot(page, "secrets-session")
    shown = page.content()
    assert not [v for v in values if v in shown]
    stored = json.dumps(stored_events(web_system, sid))
    assert not [v for v in values if v in stored]


def git(repo: object, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout
