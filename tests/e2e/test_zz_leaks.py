"""The leak test over the whole end-to-end suite: the suite's last test (the module name sorts
last; ``tests/conftest.py`` puts the e2e directory last and keeps its order).

Every system of the suite ran with canary secrets in scope (:mod:`tests.e2e.leak_watch`), and
``test_secrets`` made its agent print, stream and commit them. Now every browser payload
Playwright saw (HTTP response bodies, WebSocket frames both ways), every log file, every file
of the systems' data directories, every database row and every git object in the repositories
the systems cloned from and pushed to (the fake GitHub's among them) is searched: no canary
may be anywhere.

Left out, on purpose: what each session's agent keeps for itself in its workspace (the clone,
its HOME and TMPDIR, OpenCode's state). The agent is given the values; what it writes there
(OpenCode's own storage of the model's answers, a file it was told to write, a refused
commit's staged blob) is the sandbox's. What leaves the sandbox — events, logs, pushes — and
the rest of the workspace (the sandbox's log, the commit hook's notes) is searched.

The search cannot pass by finding nothing to search: each kind of trace must have been
collected, and a canary planted in a sample of each must be found.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from openinspect_core.db import Database
from openinspect_core.settings import Settings
from tests.e2e.conftest import Person, WebSystem
from tests.e2e.leak_watch import LeakWatch, WatchedSystem, new_canary
from tests.support import leaks
from tests.support.rows import every_row

# Of a workspace, what the agent keeps for itself: the clone, its HOME and TMPDIR, OpenCode's state.
AGENT_OWN = ("repo", "home", "tmp", "agent")


def agent_spaces(system: WatchedSystem) -> list[Path]:
    """What each session's agent keeps for itself (the rest of a workspace is searched: the
    sandbox's log, the commit hook's notes, whatever a later change puts there)."""
    workspaces = system.data_dir / "workspaces"
    if not workspaces.is_dir():
        return []
    return [workspace / name for workspace in workspaces.iterdir() for name in AGENT_OWN]


def database_rows(data_dir: Path) -> list[tuple[str, str]]:
    """Every row of every table of a system's database, as text."""
    url = Settings.from_env({"OPENINSPECT_DATA_DIR": str(data_dir)}).database_url

    async def read() -> dict[str, list[tuple[Any, ...]]]:
        database = Database(url)
        try:
            return await every_row(database)
        finally:
            await database.dispose()

    # Playwright's sync API runs an event loop in this thread: read from another one.
    with ThreadPoolExecutor(1) as pool:
        tables = pool.submit(asyncio.run, read()).result()
    return [(f"row of {table}", repr(row)) for table, rows in tables.items() for row in rows]


def test_no_canary_anywhere_after_the_whole_suite(  # type: ignore[no-untyped-def]
        people, web_system: WebSystem, leak_watch: LeakWatch) -> None:
    # Browse a little first, so the browser's part is never empty (this test may run alone).
    ada: Person = people("Ada Lovelace", "ada@example.com")
    for path in ("/", "/settings"):
        page = ada.page()
        page.goto(web_system.base_url + path)
        expect(page.locator(".me")).to_be_attached()
        page.close()

    canaries = list(leak_watch.canaries)
    assert len(canaries) >= 2 * len(leak_watch.systems) >= 2, leak_watch.canaries
    logs: list[tuple[str, str]] = []
    files: list[tuple[str, bytes]] = []
    rows: list[tuple[str, str]] = []
    objects: list[tuple[str, bytes]] = []
    for system in leak_watch.systems:
        if system.stop:
            system.stop()  # its shutdown is logged too
        skip = agent_spaces(system)
        for path, data in leaks.file_contents(system.root, skip):
            files.append((f"{system.name}: file {path}", data))
            if path.suffix == ".log":
                logs += [(f"{system.name}: {path} line {n}", line)
                         for n, line in enumerate(data.decode(errors="replace").splitlines(), 1)]
        rows += [(f"{system.name}: {where}", text) for where, text in database_rows(system.data_dir)]
        for repo in leaks.git_repositories(system.root, skip):
            objects += [(f"{system.name}: {name}", data) for name, data in leaks.git_objects(repo)]

    # Nothing vacuous: every kind of trace was collected.
    frames = [what for what, _ in leak_watch.payloads if what.startswith("frame from")]
    bodies = [what for what, _ in leak_watch.payloads if not what.startswith("frame")]
    counts = {"response bodies": len(bodies), "frames received": len(frames), "frames sent": len(leak_watch.sent),
              "log lines": len(logs), "files": len(files), "rows": len(rows), "git objects": len(objects)}
    assert all(counts.values()), counts
    print(f"leak search over {counts}, {len(canaries)} canaries")  # shown with -s / -rP
    assert any("sandbox-" in what for what, _ in logs), "no sandbox log was searched"

    # The searchers find a canary planted in a sample of each kind.
    planted = new_canary()
    leak_watch.canaries[planted] = "planted by the self-check"
    for name, samples in (("payload", leak_watch.payloads), ("log line", logs), ("row", rows)):
        what, text = samples[len(samples) // 2]
        assert leaks.in_texts([(what, text[:50] + planted + text[50:])], [planted]) == [what], name
    for name, blobs in (("file", files), ("git object", objects)):
        what, data = blobs[len(blobs) // 2]
        assert leaks.in_blobs([(what, data + planted.encode())], [planted]) == [what], name
    assert leak_watch.browser_findings([("planted frame", f"42[{planted}]")]) == [
        "planted frame (canary planted by the self-check)"]
    del leak_watch.canaries[planted]

    found = leak_watch.browser_findings()
    found += leaks.in_texts(logs, canaries) + leaks.in_texts(rows, canaries)
    found += leaks.in_blobs(files, canaries) + leaks.in_blobs(objects, canaries)
    assert found == [], f"canaries found ({counts}):\n" + "\n".join(sorted(set(found))[:100])
