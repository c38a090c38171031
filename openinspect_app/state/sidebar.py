"""The session page's sidebar: the sessions a person moves between, grouped, filtered, searchable.

Each tab's own state (below :class:`AuthState`, so the identity gate resets it when the tab's
person changes, and refuses its events when nobody is signed in). The list is read through
``services/session_index`` on page load, when the filter or search changes, and on a short timer
(``tick``) — but the timer reads the database only when ``live/session_changes`` says some session
changed since the last read, or ``REREAD_SECONDS`` have passed. Every read is an event, so every
read passes the gate: a tab whose sign-in ended gets nothing more.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import reflex as rx

from openinspect_app import running
from openinspect_app.live.session_changes import REREAD_SECONDS
from openinspect_app.state.auth import AuthState
from openinspect_core.services import session_index
from openinspect_core.services.session_index import Group

TICK_SECONDS = 2  # how often an open sidebar asks whether anything changed
SCOPES = ("mine", "all")


@dataclass
class SidebarRow:
    id: str
    title: str
    repo: str  # owner/name on GitHub, else the repository's name
    branch: str
    status: str
    group: str  # a session_index.Group value
    pending: int
    last_activity: str  # ISO time; shown relative


class SessionSidebar(AuthState):
    rows: list[SidebarRow] = []
    scope: str = "mine"  # "mine" (started or joined) or "all" (everyone's)
    query: str = ""
    drawer_open: bool = False  # at phone width the sidebar is a drawer
    _read_version: int = -1
    _read_at: float = 0.0

    @rx.var
    def attention_rows(self) -> list[SidebarRow]:
        return [row for row in self.rows if row.group == Group.ATTENTION]

    @rx.var
    def running_rows(self) -> list[SidebarRow]:
        return [row for row in self.rows if row.group == Group.RUNNING]

    @rx.var
    def recent_rows(self) -> list[SidebarRow]:
        return [row for row in self.rows if row.group == Group.RECENT]

    @rx.event
    async def open(self) -> None:
        self.drawer_open = False  # moving to another session closes the drawer
        await self._reload()

    @rx.event
    async def tick(self, _: Any = None) -> None:
        changes = running.get().session_changes
        version = changes.version if changes is not None else self._read_version + 1
        if version == self._read_version and time.monotonic() - self._read_at < REREAD_SECONDS:
            return
        await self._reload()

    @rx.event
    async def set_scope(self, value: str | list[str]) -> None:
        if value not in SCOPES:
            return
        self.scope = str(value)
        await self._reload()

    @rx.event
    async def search(self, value: str) -> None:
        self.query = str(value)[:session_index.MAX_QUERY_CHARS]
        await self._reload()

    @rx.event
    async def toggle_drawer(self) -> None:
        if await self._viewer() is not None:
            self.drawer_open = not self.drawer_open

    @rx.event
    async def close_drawer(self) -> None:
        self.drawer_open = False

    async def _reload(self) -> None:
        viewer = await self._viewer()
        if viewer is None:
            return
        r = running.get()
        # Read the counter before the list: a change landing in between is read again next tick.
        version = r.session_changes.version if r.session_changes is not None else 0
        async with r.context.db.session() as db:
            found = await session_index.list_for_sidebar(db, user_id=viewer.user_id, mine=self.scope == "mine",
                                                         query=self.query)
        rows = [SidebarRow(
            id=item.session.id, title=item.session.title or item.repo.name,
            repo=item.repo.full_name or item.repo.name, branch=item.session.branch or "",
            status=str(item.session.status),
            group=str(session_index.group_of(item.session.status, item.pending_prompts, item.last_prompt_status,
                                               item.session.spend_held_at is not None)),
            pending=item.pending_prompts, last_activity=item.session.last_activity_at.isoformat(),
        ) for item in found]
        self._read_version, self._read_at = version, time.monotonic()
        if rows != self.rows:  # assigning re-sends the whole list: only when it differs
            self.rows = rows
