"""Who is looking at a session right now, and whether they are typing.

In memory, per web process: presence is a property of open browser tabs, not of
the data. Each tab (Reflex client token) reports a heartbeat every few seconds
saying whether its person touched anything lately; a tab that stops reporting
has left. A person with several tabs counts once, at their most present.
The rules are pure functions of timestamps (injected clock), so they are tested
without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

HEARTBEAT_INTERVAL_SECONDS = 5.0  # how often a tab reports (the page's timer)
AWAY_AFTER_SECONDS = 15.0  # three missed heartbeats: the tab is gone
IDLE_AFTER_SECONDS = 60.0  # open but untouched this long
TYPING_SECONDS = 4.0  # a keystroke keeps "typing" shown this long

RANK = {"active": 2, "idle": 1, "away": 0}


@dataclass
class Tab:
    email: str
    name: str
    last_seen: float
    last_input: float
    typing_until: float = 0.0


@dataclass
class Participant:
    """One person in a session, as the UI shows them."""

    name: str
    email: str
    presence: str  # active | idle | away
    typing: bool


def tab_presence(tab: Tab, now: float, *, away_after: float = AWAY_AFTER_SECONDS,
                 idle_after: float = IDLE_AFTER_SECONDS) -> str:
    if now - tab.last_seen > away_after:
        return "away"
    if now - tab.last_input > idle_after:
        return "idle"
    return "active"


@dataclass
class PresenceBook:
    clock: Callable[[], float] = time.monotonic
    away_after_seconds: float = AWAY_AFTER_SECONDS
    idle_after_seconds: float = IDLE_AFTER_SECONDS
    _tabs: dict[str, dict[str, Tab]] = field(default_factory=dict)  # session -> client token -> tab
    _known: dict[str, dict[str, str]] = field(default_factory=dict)  # session -> email -> name

    def know(self, session_id: str, people: dict[str, str]) -> None:
        """Remember who has been in the session (shown as away when not here)."""
        self._known.setdefault(session_id, {}).update(people)

    def join(self, session_id: str, client_token: str, name: str, email: str) -> None:
        now = self.clock()
        self._tabs.setdefault(session_id, {})[client_token] = Tab(email, name, now, now)
        self._known.setdefault(session_id, {})[email] = name

    def report(self, session_id: str, client_token: str, *, input_seconds_ago: float, typing: bool = False) -> bool:
        """A tab's heartbeat: it is here, its person last touched it that long ago, maybe typing.

        False when the tab is unknown (it has not joined, or joined another process).
        """
        tab = self._tabs.get(session_id, {}).get(client_token)
        if tab is None:
            return False
        now = self.clock()
        tab.last_seen = now
        tab.last_input = max(tab.last_input, now - max(input_seconds_ago, 0.0))
        if typing:
            tab.typing_until = now + TYPING_SECONDS
        return True

    def leave(self, session_id: str, client_token: str) -> None:
        self._tabs.get(session_id, {}).pop(client_token, None)

    def viewers(self, session_id: str) -> int:
        """Tabs not yet gone."""
        now = self.clock()
        return sum(1 for tab in self._tabs.get(session_id, {}).values()
                   if tab_presence(tab, now, away_after=self.away_after_seconds) != "away")

    def snapshot(self, session_id: str) -> list[Participant]:
        now = self.clock()
        best: dict[str, Participant] = {
            email: Participant(name, email, "away", False) for email, name in self._known.get(session_id, {}).items()
        }
        for tab in self._tabs.get(session_id, {}).values():
            presence = tab_presence(tab, now, away_after=self.away_after_seconds,
                                    idle_after=self.idle_after_seconds)
            current = best.setdefault(tab.email, Participant(tab.name, tab.email, "away", False))
            if RANK[presence] > RANK[current.presence]:
                current.presence = presence
            current.typing = current.typing or (presence != "away" and tab.typing_until > now)
        return sorted(best.values(), key=lambda p: (-RANK[p.presence], p.name.lower()))
