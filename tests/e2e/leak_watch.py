"""The end-to-end suite's leak watch: canary secrets and everything the browser saw.

Every system the suite starts gets canary secrets (random per run, set through the REST API
right after it starts, so every session of every test has them in scope) and is registered
here; every browser context any test makes records its pages' HTTP response bodies and
WebSocket frames (both ways) here — the ``browser`` fixture instruments the browser, so no
test has to remember. ``test_zz_leaks`` (the suite's last test) then searches all of it, and
the systems' logs, database rows, files and pushed git objects, for every canary.
"""

from __future__ import annotations

import hashlib
import os
import signal
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Error, Page, Request, WebSocket

from tests.support.system import RunCommand

# The names the suite's canaries are set under (reserved prefixes such as OPENINSPECT_ are refused).
GLOBAL_CANARY = "E2E_CANARY_GLOBAL"
REPO_CANARY = "E2E_CANARY_REPO"


def new_canary() -> str:
    """A value found nowhere by chance: random per run, long enough for any scrubber."""
    return f"canary-{uuid.uuid4().hex}"


@dataclass
class WatchedSystem:
    """A system the suite started, and where its traces are."""

    name: str
    root: Path  # everything of it: run.log, data/, the repositories it clones from and pushes to
    data_dir: Path
    log: Path
    stop: Callable[[], None] | None = None  # ends it (so its last log lines are written) before the search


@dataclass
class LeakWatch:
    canaries: dict[str, str] = field(default_factory=dict)  # value -> where it was set (for messages)
    # Values a test typed into a page's form: the browser sending them is the person's own input.
    typed: set[str] = field(default_factory=set)
    payloads: list[tuple[str, str]] = field(default_factory=list)  # (what, text), each distinct text once
    sent: list[tuple[str, str]] = field(default_factory=list)  # browser -> server frames
    seen: int = 0  # payloads recorded, duplicates included
    unreadable: int = 0  # response bodies the browser no longer had (a page gone before we asked)
    systems: list[WatchedSystem] = field(default_factory=list)
    _digests: set[bytes] = field(default_factory=set)

    def canary(self, where: str) -> str:
        value = new_canary()
        self.canaries[value] = where
        return value

    def record(self, what: str, payload: Any, *, sent: bool = False) -> None:
        text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else str(payload)
        self.seen += 1
        digest = hashlib.sha256(text.encode()).digest()
        if digest in self._digests:  # the same script bundle on every page load: search it once
            return
        self._digests.add(digest)
        (self.sent if sent else self.payloads).append((what, text))

    # -- the browser ----------------------------------------------------------

    def instrument(self, browser: Browser) -> None:
        """Every context (and every page of it) made from ``browser`` from now on is recorded."""
        new_context, new_page = browser.new_context, browser.new_page

        def recorded_context(*args: Any, **kwargs: Any) -> BrowserContext:
            context = new_context(*args, **kwargs)
            self.watch(context)
            return context

        def recorded_page(*args: Any, **kwargs: Any) -> Page:
            page = new_page(*args, **kwargs)  # a context of its own, made before we could watch it
            self.watch(page.context)
            self._watch_page(page)
            return page

        # Why on the instance: every test gets the browser from the fixture; none must remember to record.
        browser.new_context = recorded_context  # type: ignore[method-assign]
        browser.new_page = recorded_page  # type: ignore[method-assign]

    def watch(self, context: BrowserContext) -> None:
        # requestfinished, not response: the body is whole then (a response event comes with the headers).
        context.on("requestfinished", self._finished)
        context.on("page", self._watch_page)

    def _finished(self, request: Request) -> None:
        try:
            response = request.response()
            if response is None or 300 <= response.status < 400:
                return  # a redirect has no body
            body = response.body()
        except Error:
            self.unreadable += 1
            return
        self.record(f"{request.method} {request.url} ({response.status})", body)

    def _watch_page(self, page: Page) -> None:
        page.on("websocket", self._watch_socket)

    def _watch_socket(self, ws: WebSocket) -> None:
        ws.on("framereceived", lambda payload: self.record(f"frame from {ws.url}", payload))
        ws.on("framesent", lambda payload: self.record(f"frame to {ws.url}", payload, sent=True))

    # -- the search -----------------------------------------------------------

    def browser_findings(self, extra: Sequence[tuple[str, str]] = ()) -> list[str]:
        """Canaries in what the browser received, and in what it sent other than what a person typed."""
        found = [f"{where} (canary {self.canaries[value]})" for where, text in [*self.payloads, *extra]
                 for value in self.canaries if value in text]
        found += [f"{where} (canary {self.canaries[value]})" for where, text in self.sent
                  for value in self.canaries if value in text and value not in self.typed]
        return found


WATCH = LeakWatch()  # one per test run: the fixtures of every e2e module and the last test share it


def stop_run(run: RunCommand) -> None:
    """Stop the run command as Ctrl-C would (its shutdown's log lines are searched too)."""
    if run.process.poll() is None:
        os.killpg(run.process.pid, signal.SIGINT)
        run.process.wait(timeout=60)
