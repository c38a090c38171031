"""The settings page's secrets: names per scope, who changed them and when; set, import, delete.

Thin handlers over :mod:`openinspect_core.secrets.store` for the signed-in person. A value
arrives in a form's submit (the password field and the .env box are uncontrolled: the page
holds them, not a var) and goes straight to the store; no var here ever holds one, so no delta
of this state can carry one to any tab. Errors name the secret or line, never show a value.
"""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx
from openinspect_protocol.logs import EventLog

from openinspect_app import running
from openinspect_app.live.sign_ins import Viewer
from openinspect_app.state.auth import AuthState
from openinspect_app.state.viewer import user_row
from openinspect_core.secrets import store
from openinspect_core.secrets.store import GLOBAL, Scope
from openinspect_core.services.errors import ServiceError

log = EventLog(__name__)

GLOBAL_CHOICE = "global"  # the select's value for the global scope (a repository's is its id)


@dataclass
class ScopeChoice:
    value: str
    label: str


@dataclass
class SecretRow:
    name: str
    updated_by: str
    updated_at: str  # ISO time; the page shows it relative


@dataclass
class ChangeRow:
    action: str
    name: str
    by: str
    at: str


class SecretsState(AuthState):
    scopes: list[ScopeChoice] = []
    scope: str = GLOBAL_CHOICE
    secrets: list[SecretRow] = []
    changes: list[ChangeRow] = []
    secret_error: str = ""
    secret_notice: str = ""

    @rx.event
    async def open(self) -> None:
        viewer = await self._viewer()
        if viewer is None:
            return  # the settings page's own on_load sends the tab to sign in
        async with running.get().context.db.session() as db:
            choices = await store.repositories(db)
        self.scopes = [ScopeChoice(GLOBAL_CHOICE, "Global (every repository)"),
                       *(ScopeChoice(repo_id, label) for repo_id, label in choices)]
        if self.scope not in {c.value for c in self.scopes}:
            self.scope = GLOBAL_CHOICE
        self._say("", "")
        await self._load()

    @rx.event
    async def choose_scope(self, value: str) -> None:
        if await self._viewer() is None:
            return
        self.scope = str(value)[:64]
        self._say("", "")
        await self._load()

    @rx.event
    async def save_secret(self, form: dict[str, object]) -> None:
        viewer = await self._viewer()
        if viewer is None:
            return
        name = str(form.get("name") or "").strip()
        try:
            async with running.get().context.work() as work:
                await store.set_secret(work.db, running.get().context.cipher, self._scope(), name,
                                       str(form.get("value") or ""), await user_row(work.db, viewer))
        except ServiceError as error:
            self._say("", error.message)
            return
        self._said(viewer, "ui.secret_set", [name])
        self._say(f"Saved {name}.", "")
        await self._load()

    @rx.event
    async def import_dotenv(self, form: dict[str, object]) -> None:
        viewer = await self._viewer()
        if viewer is None:
            return
        try:
            async with running.get().context.work() as work:
                found = await store.import_dotenv(work.db, running.get().context.cipher, self._scope(),
                                                  str(form.get("dotenv") or ""), await user_row(work.db, viewer))
        except ServiceError as error:
            self._say("", error.message)
            return
        self._said(viewer, "ui.secrets_imported", [info.name for info in found])
        self._say(f"Imported {len(found)}: {', '.join(info.name for info in found)}.", "")
        await self._load()

    @rx.event
    async def delete_secret(self, name: str) -> None:
        viewer = await self._viewer()
        if viewer is None:
            return
        name = str(name)[:300]
        try:
            async with running.get().context.work() as work:
                await store.delete_secret(work.db, self._scope(), name, await user_row(work.db, viewer))
        except ServiceError as error:
            self._say("", error.message)
            return
        self._said(viewer, "ui.secret_deleted", [name])
        self._say(f"Deleted {name}.", "")
        await self._load()

    def _scope(self) -> Scope:
        return GLOBAL if self.scope == GLOBAL_CHOICE else Scope(self.scope)

    def _say(self, notice: str, error: str) -> None:
        self.secret_notice, self.secret_error = notice, error

    def _said(self, viewer: Viewer, event: str, names: list[str]) -> None:
        log.info(event, user_id=viewer.user_id, scope=self._scope().key, names=names)

    async def _load(self) -> None:
        try:
            async with running.get().context.db.session() as db:
                listed = await store.list_secrets(db, self._scope())
                changes = await store.audit_log(db, self._scope(), limit=20)
        except ServiceError as error:  # the repository is gone: back to the global scope
            self.scope = GLOBAL_CHOICE
            self._say("", error.message)
            return await self._load()
        self.secrets = [SecretRow(s.name, s.updated_by_name, s.updated_at.isoformat()) for s in listed]
        self.changes = [ChangeRow(c.action, c.name, c.user_name, c.at.isoformat()) for c in changes]
        return None
