"""Each viewer's side of editing a session's title and spend limit (the session page's header).

Single tenant, as the rest of the page: any signed-in person may change a session, nobody
else (the identity gate refuses a tab without a working sign-in before a handler runs, and
each handler asks who is asking again). What changes reaches every viewer through the
timeline event the service appends (``session_renamed``, ``spend_limit_changed``) and the
live projection; this state holds only the open editor and its notice.
"""

from __future__ import annotations

import math
from typing import Any

import reflex as rx

from openinspect_app import running
from openinspect_app.routes import session_id_from_path
from openinspect_app.state.auth import AuthState
from openinspect_app.state.viewer import user_row
from openinspect_core.services import spend, titles
from openinspect_core.services.errors import ServiceError


def parse_limit(text: str) -> float | None:
    """What a person typed as a limit: dollars (``5``, ``$0.50``, ``1,000``); empty = back to the default.
    ValueError with a message a person can act on."""
    cleaned = text.strip().removeprefix("$").replace(",", "").strip()
    if not cleaned:
        return None
    try:
        value = float(cleaned)
    except ValueError:
        raise ValueError(f"“{text.strip()[:40]}” is not an amount in US dollars (e.g. 5 or 0.50)") from None
    if not math.isfinite(value):
        raise ValueError("the limit must be a finite amount in US dollars")
    return value


class SessionEdits(AuthState):
    editing_title: bool = False
    editing_limit: bool = False
    edit_notice: str = ""

    def _session_id(self) -> str:
        return session_id_from_path(self.router.url.path)

    @rx.event
    def edit_title(self) -> None:
        self.editing_title, self.editing_limit, self.edit_notice = True, False, ""

    @rx.event
    def edit_limit(self) -> None:
        self.editing_limit, self.editing_title, self.edit_notice = True, False, ""

    @rx.event
    def close_editor(self) -> None:
        self.editing_title, self.editing_limit, self.edit_notice = False, False, ""

    @rx.event
    async def rename(self, form: dict[str, Any] | None = None) -> None:
        title = str((form or {}).get("title") or "")
        await self._change(lambda db, user: titles.rename(db, self._session_id(), title, by=user))
        if not self.edit_notice:
            self.editing_title = False

    @rx.event
    async def set_spend_limit(self, form: dict[str, Any] | None = None) -> None:
        try:
            limit = parse_limit(str((form or {}).get("limit") or ""))
        except ValueError as error:
            self.edit_notice = str(error)
            return
        default = running.get().context.settings.session_spend_limit_usd
        await self._change(lambda db, user: spend.set_limit(db, self._session_id(), limit, by=user,
                                                           default_limit_usd=default))
        if not self.edit_notice:
            self.editing_limit = False

    async def _change(self, change: Any) -> None:
        """One change in its own unit of work, as the signed-in person; a refusal becomes the notice."""
        viewer = await self._viewer()
        if viewer is None:
            return
        r = running.get()
        try:
            async with r.context.work() as work:
                await change(work.db, await user_row(work.db, viewer))
                work.changed(self._session_id())  # control: a new limit may release the queue
        except ServiceError as error:
            self.edit_notice = error.message
            return
        self.edit_notice = ""
