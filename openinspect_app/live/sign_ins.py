"""Verified sign-ins per browser tab, in memory, for a few seconds (see ``state/viewer.py``).

Per web process, like presence: an answer about a tab's cookie is only worth
keeping for as long as a revoked sign-in may go on working, so a restart loses
nothing. The clock is injected, so the expiry is tested without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

CACHE_SECONDS = 5.0  # how long a verified sign-in is believed without looking again
MAX_CACHED_TABS = 10_000  # beyond this, expired entries are dropped (and, if need be, the oldest)


@dataclass(frozen=True)
class Viewer:
    """A signed-in person, as the server found them (never as a browser said)."""

    user_id: str
    name: str
    email: str
    sign_in: str = field(default="", repr=False, compare=False)  # the sign-in token (server memory only)


@dataclass
class _Entry:
    cookie_digest: str
    viewer: Viewer
    until: float


@dataclass
class SignInCache:
    """Per tab: the person its cookie named when last checked, believed until ``until``."""

    ttl_seconds: float = CACHE_SECONDS
    clock: Callable[[], float] = time.monotonic
    max_tabs: int = MAX_CACHED_TABS
    _entries: dict[str, _Entry] = field(default_factory=dict)

    def get(self, client_token: str, cookie_digest: str) -> Viewer | None:
        entry = self._entries.get(client_token)
        if entry is None or entry.cookie_digest != cookie_digest or self.clock() >= entry.until:
            return None
        return entry.viewer

    def put(self, client_token: str, cookie_digest: str, viewer: Viewer) -> None:
        if len(self._entries) >= self.max_tabs:
            self._prune()
        self._entries[client_token] = _Entry(cookie_digest, viewer, self.clock() + self.ttl_seconds)

    def forget(self, client_token: str) -> None:
        self._entries.pop(client_token, None)

    def _prune(self) -> None:
        now = self.clock()
        self._entries = {k: e for k, e in self._entries.items() if e.until > now}
        while len(self._entries) >= self.max_tabs:
            self._entries.pop(next(iter(self._entries)))
