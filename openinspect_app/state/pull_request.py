"""The session page's "Create pull request" dialog: a draft to edit, then the PR opened as the person asking.

Each viewer's own (the draft being edited is nobody else's). The PR itself
reaches every viewer the usual way: opening it adds a ``pull_request`` event to
the session's timeline, which the live projection folds into the card and the
header (``live/projector.py``); nothing here publishes.

Handlers stay thin: who is asking (``_viewer``), then one call to the pull
request service (``openinspect_core.github.pulls``), whose refusals are shown
in the dialog. The service is imported when called: it talks to GitHub and is
needed only by sessions on a GitHub repository.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import reflex as rx
from openinspect_protocol.logs import EventLog

from openinspect_app import running
from openinspect_app.routes import session_id_from_path
from openinspect_app.state.auth import AuthState
from openinspect_app.state.viewer import user_row
from openinspect_core.github.client import GitHubError
from openinspect_core.services.errors import ServiceError

log = EventLog(__name__)

# What a PR's title may be on GitHub is long; a person's edit beyond this is a mistake.
MAX_TITLE_CHARS = 256
NO_TITLE = "A pull request needs a title."


class PullRequestDialog(AuthState):
    opened: bool = False
    loading: bool = False  # the draft is being written
    submitting: bool = False
    draft_title: str = ""
    draft_body: str = ""
    error: str = ""

    def _session_id(self) -> str:
        return session_id_from_path(self.router.url.path)

    @rx.event
    async def start(self) -> AsyncIterator[Any]:
        """Open the dialog, then fill it with a draft of the PR (title and body from the session)."""
        if await self._viewer() is None:
            return
        self.opened, self.loading, self.submitting, self.error = True, True, False, ""
        self.draft_title, self.draft_body = "", ""
        yield
        from openinspect_core.github import pulls

        context = running.get().context
        try:
            async with context.db.session() as db:
                self.draft_title, self.draft_body = await pulls.draft(db, self._session_id(),
                                                                      origin=context.settings.origin)
        except ServiceError as error:
            self.error = error.message
        self.loading = False

    @rx.event
    async def set_opened(self, value: bool) -> None:
        """The dialog's own open/close (Escape, a click outside, Cancel): closing forgets the draft."""
        if await self._viewer() is None or value or self.submitting:
            return
        self.opened, self.draft_title, self.draft_body, self.error = False, "", "", ""

    @rx.event
    async def create(self, form: dict[str, Any]) -> AsyncIterator[Any]:
        viewer = await self._viewer()
        if viewer is None or self.submitting:
            return
        title = str(form.get("title") or "").strip()
        body = str(form.get("body") or "")
        # Kept as typed: a refusal below shows the dialog again with the person's own edits.
        self.draft_title, self.draft_body = title, body
        if not title:
            self.error = NO_TITLE
            return
        if len(title) > MAX_TITLE_CHARS:
            self.error = f"The title is longer than {MAX_TITLE_CHARS} characters."
            return
        self.submitting, self.error = True, ""
        yield
        from openinspect_core.github import pulls

        r = running.get()
        session_id = self._session_id()
        try:
            async with r.context.db.session() as db:
                requester = await user_row(db, viewer)
            await pulls.open_for_session(r.context, session_id, requester=requester, title=title, body=body,
                                         draft=bool(form.get("draft")))
        except (ServiceError, GitHubError) as error:
            self.error = error.message if isinstance(error, ServiceError) else str(error)
            self.submitting = False
            return
        log.info("ui.pull_request_opened", session_id=session_id)
        self.opened, self.submitting, self.draft_title, self.draft_body = False, False, "", ""
