"""Tabs linked to a session are unlinked once their sign-in stops working (real sign-ins in a real
database; the unlinking itself is recorded, as Reflex's part is tested on the running system in
tests/security/test_reflex_events.py)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from openinspect_app.live.viewer_guard import ViewerGuard
from openinspect_core.db import Database
from openinspect_core.models import SignIn, utcnow
from openinspect_core.services import identity


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def sign_in(database: Database, email: str) -> str:
    async with database.writer() as db:
        _, token = await identity.sign_in_local(db, email.split("@")[0], email, ttl_seconds=3600)
        await db.commit()
    return token


async def test_tabs_whose_sign_in_ended_are_unlinked_and_the_others_stay(database: Database) -> None:
    ada, bob, cy = [await sign_in(database, e) for e in ("ada@example.com", "bob@example.com", "cy@example.com")]

    async def works(token: str) -> bool:
        async with database.session() as db:
            return await identity.find_sign_in(db, token) is not None

    unlinked: list[tuple[str, set[str]]] = []

    async def forget(session_id: str, tabs: set[str]) -> None:
        unlinked.append((session_id, tabs))

    clock = Clock()
    guard = ViewerGuard(works, forget, clock=clock)
    guard.linked("s1", "ada-tab-1", ada)
    guard.linked("s1", "ada-tab-2", ada)
    guard.linked("s1", "bob-tab", bob)
    guard.linked("s1", "cy-tab", cy)
    assert await guard.sweep("s1") == set()

    async with database.writer() as db:
        await identity.sign_out(db, ada)  # signed out (in another tab, say)
        await db.exec(sa.update(SignIn).where(SignIn.token_hash == identity.token_hash(cy))
                      .values(expires_at=utcnow() - timedelta(seconds=1)))
        await db.commit()
    assert await guard.sweep("s1") == set(), "swept a moment ago: not again yet"
    clock.now += guard.interval_seconds
    assert await guard.sweep("s1") == {"ada-tab-1", "ada-tab-2", "cy-tab"}
    assert unlinked == [("s1", {"ada-tab-1", "ada-tab-2", "cy-tab"})]
    assert guard.tabs("s1") == {"bob-tab"}
    clock.now += guard.interval_seconds
    assert await guard.sweep("s1") == set()


async def test_a_tab_is_watched_in_the_one_session_it_is_linked_to() -> None:
    async def works(token: str) -> bool:
        return True

    guard = ViewerGuard(works)
    guard.linked("s1", "tab", "sign-in")
    guard.linked("s2", "tab", "sign-in")  # the tab opened another session
    assert guard.tabs("s1") == set()
    assert guard.tabs("s2") == {"tab"}
