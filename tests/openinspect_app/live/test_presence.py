"""Presence rules with a hand-driven clock."""

from __future__ import annotations

from openinspect_app.live.presence import AWAY_AFTER_SECONDS, IDLE_AFTER_SECONDS, TYPING_SECONDS, PresenceBook


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def book() -> tuple[PresenceBook, Clock]:
    clock = Clock()
    return PresenceBook(clock=clock), clock


def states(b: PresenceBook, session: str = "s") -> list[tuple[str, str, bool]]:
    return [(p.name, p.presence, p.typing) for p in b.snapshot(session)]


def test_a_tab_is_active_then_idle_then_away() -> None:
    b, clock = book()
    b.join("s", "tab1", "Ada", "ada@x")
    assert states(b) == [("Ada", "active", False)]
    clock.now += IDLE_AFTER_SECONDS + 1
    assert b.report("s", "tab1", input_seconds_ago=IDLE_AFTER_SECONDS + 1)
    assert states(b) == [("Ada", "idle", False)]
    assert b.report("s", "tab1", input_seconds_ago=0)
    assert states(b) == [("Ada", "active", False)]
    clock.now += AWAY_AFTER_SECONDS + 1  # no more heartbeats: the tab is gone
    assert states(b) == [("Ada", "away", False)]
    assert b.viewers("s") == 0


def test_leaving_is_immediate_and_known_people_stay_listed_as_away() -> None:
    b, _ = book()
    b.know("s", {"bwk@x": "Brian"})
    b.join("s", "tab1", "Ada", "ada@x")
    assert states(b) == [("Ada", "active", False), ("Brian", "away", False)]
    b.leave("s", "tab1")
    assert states(b) == [("Ada", "away", False), ("Brian", "away", False)]
    assert not b.report("s", "tab1", input_seconds_ago=0)  # must join again


def test_several_tabs_count_once_at_their_most_present() -> None:
    b, clock = book()
    b.join("s", "tab1", "Ada", "ada@x")
    clock.now += 30
    b.join("s", "tab2", "Ada", "ada@x")
    clock.now += AWAY_AFTER_SECONDS - 10
    assert states(b) == [("Ada", "active", False)]  # tab1 is gone, tab2 still here
    assert b.viewers("s") == 1


def test_typing_shows_for_a_few_seconds() -> None:
    b, clock = book()
    b.join("s", "tab1", "Ada", "ada@x")
    b.report("s", "tab1", input_seconds_ago=0, typing=True)
    assert states(b) == [("Ada", "active", True)]
    clock.now += TYPING_SECONDS + 0.1
    b.report("s", "tab1", input_seconds_ago=TYPING_SECONDS)
    assert states(b) == [("Ada", "active", False)]


def test_sessions_are_separate() -> None:
    b, _ = book()
    b.join("s1", "tab1", "Ada", "ada@x")
    assert states(b, "s2") == []
