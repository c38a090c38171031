"""The session page's state.

``SessionShared`` is one state per session, linked by every viewer
(``rx.SharedState``): the live projection (``live/projector.py``) writes it and
Reflex sends each change to all of them at once. ``SessionPage`` is each
viewer's own: the prompt being typed, older history loaded on demand, notices.
Handlers stay thin: they check who is asking and call services.

Single tenant: any signed-in person may see and act on any session; nobody else
may do anything — a tab nobody is signed in to is never linked to a session's
shared state (``join``), so no state of any session reaches it. Prompts and
sessions are attributed to the person the server found (``AuthState.viewer``).
"""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

import reflex as rx
from openinspect_protocol import logs
from openinspect_protocol.status import STARTUP_STAGES, SessionStatus

from openinspect_app import running
from openinspect_app.live.github_entries import PR_LIVE_STATES
from openinspect_app.live.presence import Participant
from openinspect_app.live.projector import SLOT_COUNT
from openinspect_app.live.timeline_view import Entry, PreviewButton, QueuedPrompt
from openinspect_app.routes import session_id_from_path
from openinspect_app.state.auth import AuthState
from openinspect_app.state.viewer import user_row, who_is_asking
from openinspect_core.services import prompts, sessions
from openinspect_core.services.errors import ServiceError

OLDER_PAGE = 100


class SessionShared(rx.SharedState):
    session_id: str = ""
    title: str = ""
    repo: str = ""
    branch: str = ""
    status: str = ""
    status_reason: str = ""
    archived: bool = False
    github_repo: str = ""  # owner/name on GitHub; "" for a repository that is not one
    work_branch: str = ""  # the session's own branch, pushed after turns with commits
    pushed: bool = False  # that branch is on GitHub (a PR can be opened from it)
    pull_request: list[Entry] = []  # the newest PR's card (none or one), for the header
    verify: str = ""  # the newest verify.sh outcome: passed | failed | timed_out; "" before any
    verify_detail: str = ""  # how it ended, how long it took, the commit
    changes_seq: int = 0  # the newest changes_updated event: the Changes panel reloads when it moves
    source: str = ""  # where the session was started: api | web | slack
    slack_thread: str = ""  # a Slack-started session's thread in Slack (its address), else ""
    # Spending and the title's origin (live/cost_view.py fills these; components/cost.py shows them).
    cost_label: str = ""  # "1,234 tokens · $0.0123": the whole session
    cost_usd: float = 0.0
    prompt_costs: dict[str, str] = {}  # per prompt (message id), live while it runs
    spend_limit_label: str = ""
    spend_limit_own: str = ""  # the session's own limit ("" = the default)
    spend_held: bool = False  # the limit is reached and holds the queue
    spend_notice: str = ""
    title_from_user: bool = False  # a person gave the title: the agent's does not replace it
    # The live window: a ring of SLOT_COUNT pages (see live/projector.py) and the newest entry.
    # Reflex needs each var declared; a test checks there is one per slot.
    slot_0: list[Entry] = []
    slot_1: list[Entry] = []
    slot_2: list[Entry] = []
    slot_3: list[Entry] = []
    slot_4: list[Entry] = []
    slot_5: list[Entry] = []
    slot_6: list[Entry] = []
    slot_7: list[Entry] = []
    slot_order: list[int] = list(range(SLOT_COUNT))
    window_start: int = 0
    tail: list[Entry] = []
    queue: list[QueuedPrompt] = []
    participants: list[Participant] = []
    artifacts: list[Entry] = []
    preview_ports: list[PreviewButton] = []  # the live sandbox's declared dev servers (components/previews.py)

    @rx.var
    def busy(self) -> bool:
        return self.status == SessionStatus.RUNNING

    @rx.var
    def can_open_pull_request(self) -> bool:
        """A GitHub session whose branch is pushed and has no PR that would take its commits already."""
        live = any(pr.status in PR_LIVE_STATES for pr in self.pull_request)
        return bool(self.github_repo and self.work_branch and self.pushed) and not live

    @rx.var
    def starting(self) -> bool:
        return self.status in STARTUP_STAGES[:-1]

    @rx.var
    def startup_step(self) -> int:
        """How far the sandbox's start has come (index into the startup stages)."""
        if self.status in STARTUP_STAGES:
            return STARTUP_STAGES.index(SessionStatus(self.status))
        return len(STARTUP_STAGES) if self.status in (SessionStatus.RUNNING, SessionStatus.IDLE) else -1

    @rx.event
    async def join(self) -> None:
        """Link this viewer to the session's shared state (first on_load handler) — only a
        signed-in one: an unlinked tab holds nothing but this state's empty defaults."""
        client_token = self.router.session.client_token
        viewer = await who_is_asking(self.router.headers.cookie, client_token)
        if viewer is None:
            return
        session_id = session_id_from_path(self.router.url.path)
        if session_id and "_" not in session_id:
            await self._link_to(session_id)
            # Watched from now on: the tab is unlinked again once this sign-in stops working.
            running.get().live.viewers.linked(session_id, client_token, viewer.sign_in)


class SessionPage(AuthState):
    older: list[Entry] = []
    older_loaded_from: int = -1  # index of the first loaded older entry; -1: none loaded
    notice: str = ""
    missing: bool = False

    def _session_id(self) -> str:
        return session_id_from_path(self.router.url.path)

    def _client(self) -> str:
        return self.router.session.client_token

    @rx.event
    async def open(self) -> Any:
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
        session_id = self._session_id()
        self.older, self.older_loaded_from, self.notice = [], -1, ""
        r = running.get()
        try:
            async with r.context.work() as work:  # joining changes nothing a watcher shows: no notification
                session = await sessions.get(work.db, session_id)
                await sessions.join(work.db, session, await user_row(work.db, viewer))
        except ServiceError:
            self.missing = True
            return None
        self.missing = False
        r.live.presence.join(session_id, self._client(), viewer.name, viewer.email)
        r.live.watch(session_id)
        return None

    @rx.event
    async def send(self, form: dict[str, Any] | None = None) -> None:
        content = ((form or {}).get("prompt") or "").strip()
        viewer = await self._viewer()
        if viewer is None or not content:
            return
        r = running.get()
        session_id = self._session_id()
        try:
            # A Reflex event is no HTTP request: it gets a request id of its own, for the logs to follow.
            with logs.bind(request_id=logs.new_request_id(), session_id=session_id):
                async with r.context.work() as work:
                    await prompts.enqueue(work.db, session_id=session_id, author=await user_row(work.db, viewer),
                                          content=content, client_request_id=uuid.uuid4().hex,
                                          limits=r.context.limits, source="web")
                    work.changed(session_id)
        except ServiceError as error:
            self.notice = error.message
            return
        self.notice = ""

    @rx.event
    async def cancel(self, message_id: str) -> None:
        await self._call(prompts.cancel, self._session_id(), message_id)

    @rx.event
    async def stop(self) -> None:
        await self._call(prompts.request_stop, self._session_id())

    @rx.event
    async def archive(self) -> None:
        await self._call(sessions.archive, self._session_id())

    @rx.event
    async def restore(self) -> None:
        # A person at their limit of active sessions cannot bring one back either.
        limit = running.get().context.settings.max_active_sessions_per_user
        await self._call(partial(sessions.restore, max_active=limit), self._session_id())

    @rx.event
    async def load_older(self) -> None:
        if await self._viewer() is None:
            return
        shared = await self.get_state(SessionShared)
        before = self.older_loaded_from if self.older_loaded_from >= 0 else shared.window_start
        if before <= 0:
            return
        page = running.get().live.older(self._session_id(), before, OLDER_PAGE)
        self.older = page + self.older
        self.older_loaded_from = before - len(page)

    async def _call(self, service: Any, *args: Any) -> Any:
        """Run one service call in its own transaction for a signed-in person; show a refusal as a notice."""
        if await self._viewer() is None:
            return None
        r = running.get()
        try:
            async with r.context.work() as work:
                result = await service(work.db, *args)
                work.changed(self._session_id())
        except ServiceError as error:
            self.notice = error.message
            return None
        self.notice = ""
        return result



async def forget_viewers(app: rx.App, session_id: str, client_tokens: set[str]) -> None:
    """Unlink tabs from the session's shared state: no later change of it reaches them."""
    async with app.modify_state(rx.BaseStateToken(ident=session_id, cls=SessionShared)) as root:
        shared = await root.get_state(SessionShared)
        shared._linked_from.difference_update(client_tokens)
