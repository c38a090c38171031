"""The settings page's state: the person's own API tokens — create, list, revoke.

Thin handlers over ``services/identity`` for the signed-in person the server
found. A new token's value is shown once: it sits in ``new_token`` for the one
render that shows it and the identity gate clears it on the tab's next event
(``shown_once``); only its hash is kept, and it is never logged.
"""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx
from openinspect_protocol.logs import EventLog

from openinspect_app import running
from openinspect_app.live.sign_ins import Viewer
from openinspect_app.state.auth import AuthState
from openinspect_app.state.gate import shown_once
from openinspect_app.state.viewer import user_row
from openinspect_core.models import ApiToken
from openinspect_core.services import identity
from openinspect_core.services.errors import ServiceError

log = EventLog(__name__)


@dataclass
class TokenRow:
    id: str
    name: str
    prefix: str
    created: str  # ISO time; the page shows it relative
    last_used: str  # ISO time, or "" when never used


def _row(token: ApiToken) -> TokenRow:
    return TokenRow(id=token.id, name=token.name, prefix=token.prefix, created=token.created_at.isoformat(),
                    last_used=token.last_used_at.isoformat() if token.last_used_at else "")


@shown_once("new_token", "new_token_name")
class SettingsState(AuthState):
    tokens: list[TokenRow] = []
    new_token: str = ""  # the value of the token just created, for one render
    new_token_name: str = ""
    form_error: str = ""

    @rx.event
    async def open(self) -> object:
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
        self.form_error = ""
        await self._load(viewer)
        return None

    @rx.event
    async def create_token(self, form: dict[str, object]) -> None:
        viewer = await self._viewer()
        if viewer is None:
            return
        try:
            async with running.get().context.work() as work:
                token, plaintext = await identity.create_api_token(work.db, await user_row(work.db, viewer),
                                                                   str(form.get("name") or ""))
        except ServiceError as error:
            self.form_error = error.message
            return
        log.info("ui.api_token_created", user_id=viewer.user_id, token_id=token.id)
        self.form_error = ""
        self.new_token, self.new_token_name = plaintext, token.name
        await self._load(viewer)

    @rx.event
    async def revoke_token(self, token_id: str) -> None:
        viewer = await self._viewer()
        if viewer is None:
            return
        try:
            async with running.get().context.work() as work:
                await identity.revoke_api_token(work.db, await user_row(work.db, viewer), str(token_id))
        except ServiceError as error:
            self.form_error = error.message
            return
        log.info("ui.api_token_revoked", user_id=viewer.user_id, token_id=str(token_id)[:32])
        self.form_error = ""
        await self._load(viewer)

    async def _load(self, viewer: Viewer) -> None:
        async with running.get().context.db.session() as db:
            self.tokens = [_row(t) for t in await identity.list_api_tokens(db, await user_row(db, viewer))]

