"""The session page's "Sandbox log" panel: the tail of the session's sandbox runtime log.

Each viewer's own (opened or not, the lines last fetched): nothing is pushed live — a
runtime's log is for debugging, read on demand with the panel's refresh button. It reads
what ``GET /api/sessions/{id}/sandbox-log`` answers (``services.sandbox_logs``), with the
same check: a person signed in may read the session. Lines are shown as
``time level event key=value …`` (the stored JSON made readable).
"""

from __future__ import annotations

import json

import reflex as rx

from openinspect_app import running
from openinspect_app.routes import session_id_from_path
from openinspect_app.state.auth import AuthState
from openinspect_core.services import sandbox_logs, sessions
from openinspect_core.services.errors import ServiceError

TAIL_LINES = 200
_SHOWN_FIRST = ("ts", "level", "logger", "event")


def readable(line: str) -> str:
    """A stored JSON log line as ``HH:MM:SS.mmm level event key=value …`` (other text as it is)."""
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict):
        return line
    ts = str(record.get("ts", ""))
    clock = ts[11:23] if len(ts) >= 23 else ts
    fields = " ".join(f"{key}={value}" for key, value in record.items() if key not in _SHOWN_FIRST)
    return f"{clock} {record.get('level', '')!s:<7} {record.get('event', '')} {fields}".rstrip()


class SandboxLogPanel(AuthState):
    opened: bool = False
    loading: bool = False
    lines: list[str] = []
    error: str = ""

    def _session_id(self) -> str:
        return session_id_from_path(self.router.url.path)

    @rx.event
    async def toggle(self) -> None:
        """Open the panel (fetching the tail) or close it (forgetting the lines)."""
        if await self._viewer() is None:
            return
        self.opened = not self.opened
        if self.opened:
            await self._load()
        else:
            self.lines, self.error = [], ""

    @rx.event
    async def refresh(self) -> None:
        if await self._viewer() is None or not self.opened:
            return
        await self._load()

    async def _load(self) -> None:
        self.loading = True
        try:
            async with running.get().context.db.session() as db:
                await sessions.get(db, self._session_id())
                rows = await sandbox_logs.tail(db, self._session_id(), TAIL_LINES)
        except ServiceError as error:
            self.lines, self.error = [], error.message
        else:
            self.lines = [readable(row.line) for row in rows]
            self.error = "" if rows else "No sandbox log yet: lines arrive once a sandbox has started."
        finally:
            self.loading = False
