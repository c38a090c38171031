"""The sessions page's state: the list, its filter, and "new session" — for signed-in people only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import reflex as rx

from openinspect_app import running
from openinspect_app.routes import session_url
from openinspect_app.state.auth import AuthState
from openinspect_app.state.repo_picker import RepoPicker
from openinspect_app.state.viewer import user_row
from openinspect_core.services import prompts, sessions
from openinspect_core.services.errors import ServiceError

REFRESH_SECONDS = 3


@dataclass
class SessionRow:
    id: str
    title: str
    repo: str
    branch: str
    status: str
    status_reason: str
    last_activity: str  # ISO time; the page shows it relative
    people: str  # who is looking at it now
    pending: int
    source: str = "web"  # where it was started: api | web | slack (a badge says which, but for web)


class SessionsPage(AuthState):
    rows: list[SessionRow] = []
    show_archived: bool = False
    form_error: str = ""
    creating: bool = False

    @rx.event
    async def open(self) -> Any:
        if await self._viewer() is None:
            return self._to_sign_in()
        await self._load()
        picker = await self.get_state(RepoPicker)
        assert isinstance(picker, RepoPicker)
        await picker._open()
        return None

    @rx.event
    async def refresh(self, _: Any = None) -> None:
        if await self._viewer() is None:
            return
        await self._load()

    @rx.event
    async def set_filter(self, value: str | list[str]) -> None:
        if await self._viewer() is None:
            return
        self.show_archived = value == "archived"
        await self._load()

    @rx.event
    async def create(self, form: dict[str, Any]) -> Any:
        viewer = await self._viewer()
        if viewer is None:
            return
        r = running.get()
        # With the GitHub App the repository is the one picked (owner/name), never a typed URL.
        picker = await self.get_state(RepoPicker)
        assert isinstance(picker, RepoPicker)
        if picker.github and not picker.chosen:
            self.form_error = "Choose a repository first."
            return
        branch = (picker.branch or None) if picker.github else (form.get("branch") or None)
        self.creating = True
        yield
        try:
            async with r.context.work() as work:
                creator = await user_row(work.db, viewer)
                session = await sessions.create(
                    work.db, repo_url=None if picker.github else str(form.get("repo_url") or ""),
                    repo=picker.chosen if picker.github else None, creator=creator,
                    policy=sessions.SessionPolicy.from_settings(r.context.settings),
                    branch=branch, title=form.get("title") or None, source="web")
                first_prompt = (form.get("prompt") or "").strip()
                if first_prompt:
                    await prompts.enqueue(work.db, session_id=session.id, author=creator, content=first_prompt,
                                          client_request_id="first", limits=r.context.limits, source="web")
                work.changed(session.id)
        except ServiceError as error:
            self.form_error, self.creating = error.message, False
            return
        self.form_error, self.creating = "", False
        yield rx.redirect(session_url(session.id))

    async def _load(self) -> None:
        r = running.get()
        async with r.context.db.session() as db:
            summaries = await sessions.list_sessions(db, archived=self.show_archived, limit=100)
        rows = []
        for summary in summaries:
            present = [p.name for p in r.live.presence.snapshot(summary.session.id) if p.presence != "away"]
            rows.append(SessionRow(
                id=summary.session.id, title=summary.session.title or summary.repo.name,
                repo=summary.repo.full_name or summary.repo.url,
                branch=summary.session.branch or "", status=str(summary.session.status),
                status_reason=summary.session.status_reason or "",
                last_activity=summary.session.last_activity_at.isoformat(), people=", ".join(present),
                pending=summary.pending_prompts, source=summary.session.source))
        self.rows = rows
