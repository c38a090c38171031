"""Which tabs are linked to each session's shared state, under which sign-in — and unlinking those
whose sign-in has ended.

A tab linked to a session's shared state receives every change of it, whether
or not it sends anything: a tab that stays open after its person signed out
elsewhere (or whose sign-in was revoked or expired) would go on receiving. The
live projection of the session sweeps its tabs every few seconds: each distinct
sign-in is looked up again, and the tabs of one that no longer works are
unlinked (``forget``, installed by the pages: it edits the shared state's
viewer set under its lock). Their next event meets the identity gate, which
clears the rest. In memory, per web process, like presence; the clock is
injected so the sweep is tested without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from openinspect_protocol.logs import EventLog

from openinspect_app.live.sign_ins import CACHE_SECONDS

log = EventLog(__name__)

Check = Callable[[str], Awaitable[bool]]  # a sign-in token -> does it still work?
Forget = Callable[[str, set[str]], Awaitable[None]]  # session id, client tokens to unlink


@dataclass
class ViewerGuard:
    check: Check
    forget: Forget | None = None
    interval_seconds: float = CACHE_SECONDS  # a revoked sign-in keeps a tab linked at most about this long
    clock: Callable[[], float] = time.monotonic
    _linked: dict[str, dict[str, str]] = field(default_factory=dict)  # session -> client token -> sign-in token
    _swept: dict[str, float] = field(default_factory=dict)

    _session_of: dict[str, str] = field(default_factory=dict)  # client token -> the session it is linked to

    def linked(self, session_id: str, client_token: str, sign_in: str) -> None:
        """A signed-in tab was linked to the session's shared state (``SessionShared.join``); a tab is
        linked to one session at a time (Reflex unlinks it from the one before)."""
        previous = self._session_of.get(client_token)
        if previous is not None and previous != session_id:
            self._linked.get(previous, {}).pop(client_token, None)
        self._session_of[client_token] = session_id
        self._linked.setdefault(session_id, {})[client_token] = sign_in

    def tabs(self, session_id: str) -> set[str]:
        return set(self._linked.get(session_id, {}))

    async def sweep(self, session_id: str, *, now: bool = False) -> set[str]:
        """Unlink the session's tabs whose sign-in no longer works (at most every ``interval_seconds``
        unless ``now``); the client tokens unlinked."""
        tabs = self._linked.get(session_id)
        if not tabs or self.forget is None:
            return set()
        at = self.clock()
        if not now and at - self._swept.get(session_id, float("-inf")) < self.interval_seconds:
            return set()
        self._swept[session_id] = at
        works = {sign_in: await self.check(sign_in) for sign_in in set(tabs.values())}
        gone = {client for client, sign_in in tabs.items() if not works[sign_in]}
        if not gone:
            return set()
        await self.forget(session_id, gone)
        for client in gone:
            tabs.pop(client, None)
            self._session_of.pop(client, None)
        log.info("live.viewers_unlinked", session_id=session_id, tabs=len(gone))
        return gone
