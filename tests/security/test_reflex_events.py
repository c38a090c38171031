"""Every Reflex event the app registers, with every credential that must not work: refused, nothing
changed, and no state of any session delivered to that tab.

The handlers are read off the app's own state classes (every ``rx.State`` below the root whose
class lives in ``openinspect_app``, each of its ``event_handlers``), and the pages off the app's
page table, so a new handler or page is in the matrix the moment it exists. The system is the
real one (``scripts/run``, manual sandboxes); each case is a fresh browserless tab
(``bench/reflex_client.py`` speaks Reflex's wire protocol) whose WebSocket carries the case's
``Cookie`` header: none, forged, expired, revoked. (The HTTP routes have their own matrix,
``test_authorization_matrix.py``.)
"""

from __future__ import annotations

import asyncio
import inspect
import json
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import reflex as rx
import sqlalchemy as sa
from sqlmodel import SQLModel

import openinspect_app.openinspect_app as web
from bench.reflex_client import IS_HYDRATED_VAR, ROOT_STATE_NAME, ReflexClient, Update
from openinspect_app.http import cookies
from openinspect_app.state.auth import NOT_SIGNED_IN, AuthState
from openinspect_app.state.gate import is_public
from openinspect_app.state.session import SessionPage, SessionShared
from openinspect_app.state.session_edits import SessionEdits
from openinspect_app.state.sessions import SessionsPage
from openinspect_app.state.settings import SettingsState
from openinspect_core.db import Database
from openinspect_core.models import SignIn, utcnow
from openinspect_core.services import identity
from openinspect_core.settings import normalise_database_url
from tests.support.system import make_repo, run_command, token_over_http

pytestmark = pytest.mark.timeout(600)

OWNER = {"name": "Olive Owner", "email": "olive.owner@example.com"}
MALLORY = {"name": "Mallory Revoked", "email": "mallory@example.com"}
RUN = uuid.uuid4().hex[:8]
# What must never reach a refused tab: each appears in exactly one place of the system's state.
TITLE = f"matrix-title-{RUN}"
PROMPT = f"matrix-prompt-{RUN}"
TOKEN_NAME = f"matrix-token-{RUN}"
# Columns the system itself refreshes in the background (once a minute per credential in use).
NOISE_COLUMNS = {"last_seen_at", "last_used_at"}
AUTH = AuthState.get_full_name()
SHARED = SessionShared.get_full_name()
SENTINEL = f"{ROOT_STATE_NAME}.set_is_hydrated"  # Reflex's own; answered with a delta, in order
SETTLE_SECONDS = 20.0


@dataclass
class World:
    base_url: str
    log: Path
    database_url: str
    repo: Path
    owner_cookie: str
    owner_token: str
    session_id: str
    message_id: str
    token_id: str
    secrets: list[str] = field(default_factory=list)  # texts no refused tab may receive

    def rest(self, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
        """A client of the REST API (as the owner, with their API token, unless ``headers`` say otherwise)."""
        return httpx.AsyncClient(base_url=self.base_url, timeout=30, trust_env=False,
                                 headers={"Authorization": f"Bearer {self.owner_token}"} if headers is None
                                 else headers)


def cookie_of(response: httpx.Response) -> str:
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith(cookies.COOKIE_NAME + "="), set_cookie
    return set_cookie.split(";", 1)[0]


def sign_in(base_url: str, person: dict[str, str]) -> str:
    """A real sign-in through the endpoint the sign-in page posts to; the ``Cookie`` header value."""
    response = httpx.post(f"{base_url}/api/auth/local", json=person, timeout=30, trust_env=False)
    assert response.status_code == 200, response.text
    return cookie_of(response)


async def signed_in(world: World, person: dict[str, str]) -> str:
    async with world.rest({}) as http:
        response = await http.post("/api/auth/local", json=person)
    assert response.status_code == 200, response.text
    return cookie_of(response)


async def sign_out(world: World, cookie: str) -> None:
    """Signing out the way the page's button does (a post from the app's own origin)."""
    async with world.rest({"Cookie": cookie, "Origin": world.base_url}) as http:
        response = await http.post("/api/auth/sign-out")
    assert response.status_code == 204, response.text


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("reflex-matrix")
    repo = make_repo(root / "repo", {"README.md": "# Matrix\n"})
    # Manual sandboxes: nothing runs, and nothing changes in the background while the cases run.
    env = {"OPENINSPECT_SANDBOX_BACKEND": "manual", "OPENINSPECT_PROVIDER_BASE_URL": "http://127.0.0.1:9/v1",
           "OPENINSPECT_REPO_ROOTS": str(root), "OPENINSPECT_HEARTBEAT_STALE_SECONDS": "86400",
           "OPENINSPECT_SANDBOX_IDLE_TIMEOUT_SECONDS": "0"}
    with run_command(root, env) as system:
        base = system.base_url
        owner_token = token_over_http(base, OWNER, name=TOKEN_NAME)
        with httpx.Client(base_url=base, timeout=30, trust_env=False,
                          headers={"Authorization": f"Bearer {owner_token}"}) as rest:
            session = rest.post("/api/sessions", json={"repo_url": str(repo), "title": TITLE})
            assert session.status_code == 201, session.text
            message = rest.post(f"/api/sessions/{session.json()['id']}/prompts",
                                json={"content": PROMPT, "client_request_id": "matrix"})
            assert message.status_code == 201, message.text
            token_id = rest.get("/api/tokens").json()[0]["id"]
        database_url = normalise_database_url(f"sqlite:///{(root / 'data' / 'openinspect.db').resolve()}")
        yield World(base, system.log, database_url, repo, sign_in(base, OWNER), owner_token,
                    session.json()["id"], message.json()["id"], token_id,
                    [TITLE, PROMPT, TOKEN_NAME, OWNER["email"], OWNER["name"], str(repo), owner_token[:10]])


# The credentials that must not work ------------------------------------------------------------------

async def no_cookie(world: World) -> dict[str, str]:
    return {}


async def forged_cookie(world: World) -> dict[str, str]:
    return {"Cookie": f"{cookies.COOKIE_NAME}={cookies.sign(secrets.token_urlsafe(32), b'not our key')}"}


async def expired_cookie(world: World) -> dict[str, str]:
    cookie = await signed_in(world, MALLORY)
    token = cookie.split("=", 1)[1].rsplit(".", 1)[0]  # <token>.<signature>
    database = Database(world.database_url)
    try:
        async with database.writer() as db:
            await db.exec(sa.update(SignIn).where(SignIn.token_hash == identity.token_hash(token))
                          .values(expires_at=utcnow() - timedelta(seconds=1)))
            await db.commit()
    finally:
        await database.dispose()
    return {"Cookie": cookie}


async def revoked_cookie(world: World) -> dict[str, str]:
    cookie = await signed_in(world, MALLORY)
    await sign_out(world, cookie)
    return {"Cookie": cookie}


CREDENTIALS = [no_cookie, forged_cookie, expired_cookie, revoked_cookie]


# The app's own pages and handlers ------------------------------------------------------------------------

def app_states() -> list[type[rx.State]]:
    found, pending = [], [rx.State]
    while pending:
        cls = pending.pop()
        pending.extend(cls.get_substates())
        if cls.__module__.startswith("openinspect_app."):
            found.append(cls)
    return sorted(found, key=lambda c: c.get_full_name())


def page_routes(world: World) -> list[tuple[str, dict[str, str]]]:
    routes = []
    for route in web.app._unevaluated_pages:
        path = "/" if route == "index" else "/" + route
        params = {}
        if "[session_id]" in path:
            path, params = path.replace("[session_id]", world.session_id), {"session_id": world.session_id}
        routes.append((path, params))
    assert len(routes) >= 4, routes
    return routes


def payloads(cls: type[rx.State], name: str, world: World) -> list[dict[str, Any]]:
    """What a tab might send to the handler: real ids, a form that would work for a signed-in person."""
    if name == "setvar":  # Reflex's generic setter: try every var of the state
        return [{"var_name": var, "value": "x"} for var in cls.get_fields() if not var.startswith("_")] or [{}]
    parameters = list(inspect.signature(cls.event_handlers[name].fn).parameters)[1:]
    known: dict[str, Any] = {
        "form": {"prompt": PROMPT + "-again", "repo_url": str(world.repo), "title": "matrix-new", "branch": "",
                 "name": "matrix-new-token"},
        "message_id": world.message_id, "token_id": world.token_id, "value": "archived", "_": None,
    }
    return [{p: known.get(p, "x") for p in parameters}]


def cases(world: World) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(event name, route, payloads) for every handler of every state of ours."""
    route = f"/sessions/{world.session_id}"  # where the session handlers act; the others ignore it
    return [(f"{cls.get_full_name()}.{name}", route, payloads(cls, name, world))
            for cls in app_states() for name in cls.event_handlers]


# Watching a tab and the database ---------------------------------------------------------------------

class Tab:
    """A browserless tab that keeps every frame it got and can wait for its events to be done."""

    def __init__(self, base_url: str, headers: dict[str, str], token: str | None = None) -> None:
        self.updates: list[Update] = []
        self._settled = asyncio.Event()
        self.client = ReflexClient(base_url, headers=headers, token=token, on_update=self._on_update)

    def _on_update(self, _: ReflexClient, update: Update) -> None:
        self.updates.append(update)
        if update.delta.get(ROOT_STATE_NAME, {}).get(IS_HYDRATED_VAR):
            self._settled.set()

    async def open(self, route: str, params: dict[str, str]) -> None:
        """Load the page: hydration, then its on_load handlers, the last of which says hydrated."""
        await self.client.connect(route, params)
        await self.client.wait_hydrated(SETTLE_SECONDS)

    async def settle(self) -> None:
        """Wait until everything sent so far was processed: a tab's events run in order, so the
        answer to a final event of Reflex's own comes after theirs."""
        self._settled.clear()
        await self.client.send_event(SENTINEL, {"value": True})
        async with asyncio.timeout(SETTLE_SECONDS):
            await self._settled.wait()

    def text(self) -> str:
        return json.dumps([[u.delta, u.events] for u in self.updates])

    def redirected_to_sign_in(self) -> bool:
        return any(e.get("name") == "_redirect" and e.get("payload", {}).get("path", "").startswith("/signin")
                   for u in self.updates for e in u.events)

    def var(self, state: str, name: str) -> Any:
        return self.client.state.get(state, {}).get(f"{name}_rx_state_")

    async def close(self) -> None:
        await self.client.close()


async def snapshot(world: World) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (not only the counts: an UPDATE changes none), less the columns the
    system refreshes on its own."""
    database = Database(world.database_url)
    rows = {}
    try:
        async with database.session() as db:
            for table in SQLModel.metadata.sorted_tables:
                columns = [c for c in table.columns if c.name not in NOISE_COLUMNS]
                result = await db.exec(sa.select(*columns))  # type: ignore[call-overload]
                rows[table.name] = sorted(map(tuple, result.all()), key=repr)
    finally:
        await database.dispose()
    return rows


def assert_nothing_of_any_session(tab: Tab, world: World, what: str) -> None:
    text = tab.text()
    leaked = [s for s in world.secrets if s in text]
    assert not leaked, f"{what}: the tab received {leaked}"
    shared = tab.client.state.get(SHARED, {})
    assert not shared.get("session_id_rx_state_") and not shared.get("title_rx_state_"), (what, shared)
    for name, value in shared.items():
        if name.startswith(("slot_", "tail", "queue", "participants", "artifacts")) and name != "slot_order_rx_state_":
            assert value == [], (what, name, value)


# The matrix ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("credential", CREDENTIALS, ids=lambda c: c.__name__)
async def test_every_page_and_event_is_refused_without_a_working_sign_in(world: World, credential: Any) -> None:
    headers = await credential(world)
    # The owner watches the session: its shared state is live and full, so a tab linked by mistake
    # would receive it.
    owner = Tab(world.base_url, {"Cookie": world.owner_cookie})
    await owner.open(f"/sessions/{world.session_id}", {"session_id": world.session_id})
    await wait_for(lambda: owner.var(SHARED, "title") == TITLE, "the owner sees the session")
    left_open: list[Tab] = []
    try:
        before = await snapshot(world)
        for route, params in page_routes(world):
            tab = Tab(world.base_url, headers)
            left_open.append(tab)
            await tab.open(route, params)
            assert_nothing_of_any_session(tab, world, f"page {route}")
            if route != "/signin":
                assert tab.redirected_to_sign_in(), f"page {route}: not sent to sign in"
        for event, route, sent in cases(world):
            tab = Tab(world.base_url, headers)
            left_open.append(tab)
            await tab.open(route, {"session_id": world.session_id})
            for payload in sent:
                await tab.client.send_event(event, payload)
            await tab.settle()
            what = f"{'.'.join(event.rsplit('.', 2)[-2:])} {sent[0]}"
            assert_nothing_of_any_session(tab, world, what)
            if not is_public(event):
                assert tab.var(AUTH, "auth_notice") == NOT_SIGNED_IN, f"{what}: no notice"
            assert await snapshot(world) == before, f"{what}: the database changed"
            if not event.endswith(".join"):  # the tabs that asked to join stay, to be sure they were not linked
                left_open.remove(tab)
                await tab.close()
        # A change to the session now reaches its viewers — none of the refused tabs, so none is linked.
        marker = f"after-the-matrix-{uuid.uuid4().hex[:8]}"
        await post_prompt(world, marker)
        await wait_for(lambda: marker in owner.text(), "the owner sees the new prompt")
        for tab in left_open:
            await tab.settle()
            assert marker not in tab.text()
    finally:
        for tab in [owner, *left_open]:
            await tab.close()


async def test_the_same_events_with_a_working_sign_in_do_change_things(world: World) -> None:
    """The matrix's payloads are ones that work: with the owner's sign-in they act (so a refusal above
    is the credential's doing, not a bad payload)."""
    tab = Tab(world.base_url, {"Cookie": world.owner_cookie})
    await tab.open(f"/sessions/{world.session_id}", {"session_id": world.session_id})
    try:
        for cls, name, table in ((SessionPage, "send", "message"), (SessionsPage, "create", "session"),
                                 (SettingsState, "create_token", "api_token"), (SessionEdits, "rename", "event")):
            before = await snapshot(world)
            [payload] = payloads(cls, name, world)
            await tab.client.send_event(f"{cls.get_full_name()}.{name}", payload)
            await tab.settle()
            after = await snapshot(world)
            assert len(after[table]) == len(before[table]) + 1, (name, tab.text()[-2000:])
            assert tab.var(AUTH, "auth_notice") in ("", None)
        async with world.rest() as rest:  # the rename above: the other tests expect the world's own title
            assert (await rest.patch(f"/api/sessions/{world.session_id}", json={"title": TITLE})).status_code == 200
        # The new token reached its owner for one render: the tab's next event (the settling one) cleared it.
        settings = SettingsState.get_full_name()
        shown = [u.delta[settings]["new_token_rx_state_"] for u in tab.updates
                 if "new_token_rx_state_" in u.delta.get(settings, {})]
        assert shown[-2].startswith(identity.API_TOKEN_PREFIX) and shown[-1] == "", shown
    finally:
        await tab.close()


async def test_a_tab_whose_sign_in_ends_stops_receiving_and_gets_nothing_back(world: World) -> None:
    ada = await signed_in(world, {"name": "Ada Lovelace", "email": "ada.matrix@example.com"})
    viewer = Tab(world.base_url, {"Cookie": ada})
    owner = Tab(world.base_url, {"Cookie": world.owner_cookie})
    try:
        for tab in (viewer, owner):
            await tab.open(f"/sessions/{world.session_id}", {"session_id": world.session_id})
        await wait_for(lambda: viewer.var(SHARED, "title") == TITLE, "the signed-in viewer sees the session")
        log_before = world.log.read_text().count("live.viewers_unlinked")
        # Ada signs out in another tab; this one stays open and sends nothing.
        await sign_out(world, ada)
        await wait_for(lambda: world.log.read_text().count("live.viewers_unlinked") > log_before,
                       "the live view unlinks the signed-out tab", seconds=60)
        seen = len(viewer.updates)
        marker = f"after-sign-out-{uuid.uuid4().hex[:8]}"
        await post_prompt(world, marker)
        await wait_for(lambda: marker in owner.text(), "the owner sees the new prompt")
        assert marker not in json.dumps([u.delta for u in viewer.updates[seen:]])
        # The same tab (its token) coming back without the cookie, as the browser would after signing
        # out: its page load carries nothing of the session.
        token = viewer.client.token
        await viewer.close()
        again = Tab(world.base_url, {}, token=token)
        await again.open(f"/sessions/{world.session_id}", {"session_id": world.session_id})
        assert_nothing_of_any_session(again, world, "the signed-out tab, back")
        assert again.redirected_to_sign_in()
        await again.close()
    finally:
        await viewer.close()
        await owner.close()


async def post_prompt(world: World, content: str) -> None:
    async with world.rest() as rest:
        response = await rest.post(f"/api/sessions/{world.session_id}/prompts",
                                   json={"content": content, "client_request_id": content})
    assert response.status_code == 201, response.text


async def wait_for(condition: Any, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds} s")
        await asyncio.sleep(0.05)
