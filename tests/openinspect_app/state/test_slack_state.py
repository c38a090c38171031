"""The settings page's Slack section and the Slack link page, driven like browser tabs (the real system,
``scripts/run``): a channel gets a repository, aliases and keywords come and go, a wrong one is told
what is wrong; a link code shows whose Slack account and which request it is for, links it to the
person signed in only when they confirm, and is refused afterwards."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from bench.reflex_client import IS_HYDRATED_VAR, ROOT_STATE_NAME, ReflexClient, Update
from openinspect_app.routes import SLACK_LINK
from openinspect_app.state.slack import SlackLinkPage, SlackSettings
from openinspect_core.db import Database
from openinspect_core.settings import normalise_database_url
from openinspect_core.slack import people, threads
from tests.support.system import make_repo, run_command, token_over_http

pytestmark = pytest.mark.timeout(600)

PERSON = {"name": "Sam Slack", "email": "sam.slack@example.com"}
SETTINGS = SlackSettings.get_full_name()
LINK = SlackLinkPage.get_full_name()
SENTINEL = f"{ROOT_STATE_NAME}.set_is_hydrated"
SETTLE_SECONDS = 30.0
REQUEST = f"<@U0BOT> please fix the flaky checkout test {uuid.uuid4().hex[:6]}"


class Tab:
    """A browserless tab keeping every frame it got; ``send`` waits until the handler ran."""

    def __init__(self, base_url: str, cookie: str) -> None:
        self.updates: list[Update] = []
        self._settled = asyncio.Event()
        self.client = ReflexClient(base_url, headers={"Cookie": cookie} if cookie else {}, on_update=self._on_update)

    def _on_update(self, _: ReflexClient, update: Update) -> None:
        self.updates.append(update)
        if update.delta.get(ROOT_STATE_NAME, {}).get(IS_HYDRATED_VAR):
            self._settled.set()

    async def open(self, route: str, params: dict[str, str] | None = None) -> None:
        await self.client.connect(route, params)
        await self.client.wait_hydrated(SETTLE_SECONDS)

    async def send(self, state: str, handler: str, payload: dict[str, Any]) -> None:
        self._settled.clear()
        await self.client.send_event(f"{state}.{handler}", payload)
        await self.client.send_event(SENTINEL, {"value": True})  # answered after the handler (in order)
        async with asyncio.timeout(SETTLE_SECONDS):
            await self._settled.wait()

    def var(self, state: str, name: str) -> Any:
        return self.client.state.get(state, {}).get(f"{name}_rx_state_")


def cookie_of(base_url: str) -> str:
    response = httpx.post(f"{base_url}/api/auth/local", json=PERSON, timeout=30, trust_env=False)
    assert response.status_code == 200, response.text
    return response.headers["set-cookie"].split(";", 1)[0]


async def link_code(database_url: str) -> str:
    """A link request as the bot leaves it for a Slack user it cannot tell who is; its code."""
    database = Database(database_url)
    try:
        async with database.writer() as db:
            pending = await threads.create_pending(db, reason=threads.LINK_ACCOUNT, team_id="T0TEAM",
                                                   channel_id="C0GENERAL", thread_ts="1700000000.000100",
                                                   message_ts="1700000000.000100", slack_user_id="U0SAMSLACK",
                                                   text=REQUEST)
            code = await people.start_link(db, pending)
            await db.commit()
    finally:
        await database.dispose()
    return code


async def test_the_slack_section_and_the_link_page(tmp_path: Path) -> None:
    repos = [make_repo(tmp_path / name, {"README.md": f"# {name}\n"}) for name in ("billing", "website")]
    env = {"OPENINSPECT_SANDBOX_BACKEND": "manual", "OPENINSPECT_PROVIDER_BASE_URL": "http://127.0.0.1:9/v1",
           "OPENINSPECT_SANDBOX_IDLE_TIMEOUT_SECONDS": "0"}
    with run_command(tmp_path, env) as system:
        token = token_over_http(system.base_url, PERSON)
        async with httpx.AsyncClient(base_url=system.base_url, timeout=30, trust_env=False,
                                     headers={"Authorization": f"Bearer {token}"}) as rest:
            billing, website = [(await rest.post("/api/sessions", json={"repo_url": str(r)})).json()["repo"]["id"]
                                for r in repos]
        cookie = cookie_of(system.base_url)
        settings = Tab(system.base_url, cookie)
        try:
            await settings.open("/settings")
            assert {r["value"] for r in settings.var(SETTINGS, "repos")} == {billing, website}
            assert "not set up" in settings.var(SETTINGS, "bot")  # no bot token here

            await settings.send(SETTINGS, "set_channel", {"form": {"channel_id": "C0BACKEND",
                                                                   "channel_name": "#backend", "repo_id": billing}})
            assert [(c["channel_id"], c["channel_name"], c["repo"]) for c in settings.var(SETTINGS, "channels")] == [
                ("C0BACKEND", "backend", "billing")]
            await settings.send(SETTINGS, "set_channel", {"form": {"channel_id": "general", "repo_id": billing}})
            assert "C0123ABCD" in settings.var(SETTINGS, "slack_error")  # what a channel id looks like

            for kind, value, repo in (("alias", "Billing", billing), ("keyword", "invoice", billing),
                                      ("keyword", "invoice", website)):
                await settings.send(SETTINGS, "add_hint", {"form": {"repo_id": repo, "kind": kind, "value": value}})
                assert settings.var(SETTINGS, "slack_error") == ""
            await settings.send(SETTINGS, "add_hint", {"form": {"repo_id": website, "kind": "alias",
                                                                "value": "billing"}})
            assert "already names another repository" in settings.var(SETTINGS, "slack_error")
            rows = settings.var(SETTINGS, "hint_rows")
            assert sorted((h["repo"], h["kind"], h["value"]) for h in rows) == [
                ("billing", "alias", "billing"), ("billing", "keyword", "invoice"), ("website", "keyword", "invoice")]
            alias = next(h["id"] for h in rows if h["kind"] == "alias")
            await settings.send(SETTINGS, "remove_hint", {"hint_id": alias})
            assert {h["kind"] for h in settings.var(SETTINGS, "hint_rows")} == {"keyword"}
            await settings.send(SETTINGS, "clear_channel", {"channel_id": "C0BACKEND"})
            assert settings.var(SETTINGS, "channels") == []

            # The link page: whose Slack account, which request; linked only on "Link to me".
            code = await link_code(normalise_database_url(f"sqlite:///{(tmp_path / 'data' / 'openinspect.db')}"))
            # Not signed in: sent to sign in, and back to this very link (its code kept) afterwards.
            stranger = Tab(system.base_url, "")
            try:
                await stranger.open(f"{SLACK_LINK}?code={code}", {"code": code})
                redirects = [e["payload"]["path"] for u in stranger.updates for e in u.events
                             if e.get("name") == "_redirect"]
                assert redirects == [f"/signin?next={quote(f'{SLACK_LINK}?code={code}', safe='/')}"], redirects
            finally:
                await stranger.client.close()
            link = Tab(system.base_url, cookie)
            try:
                await link.open(f"{SLACK_LINK}?code={code}", {"code": code})
                assert link.var(LINK, "link_state") == "ask"
                assert link.var(LINK, "slack_user_id") == "U0SAMSLACK"
                assert link.var(LINK, "slack_request") == REQUEST
                async with httpx.AsyncClient(base_url=system.base_url, timeout=30, trust_env=False,
                                             headers={"Authorization": f"Bearer {token}"}) as rest:
                    assert (await rest.get("/api/slack/links")).json() == []  # opening the page links nobody
                    await link.send(LINK, "confirm", {})
                    assert link.var(LINK, "link_state") == "done", link.var(LINK, "link_message")
                    linked = (await rest.get("/api/slack/links")).json()
                assert [(entry["slack_user_id"], entry["person"]["email"]) for entry in linked] == [
                    ("U0SAMSLACK", PERSON["email"])]
                await link.send(LINK, "confirm", {})  # the code is used up
                assert link.var(LINK, "link_state") == "refused"
                assert "not valid" in link.var(LINK, "link_message")
            finally:
                await link.client.close()

            await settings.send(SETTINGS, "open", {})
            assert [entry["slack_user_id"] for entry in settings.var(SETTINGS, "links")] == ["U0SAMSLACK"]
            await settings.send(SETTINGS, "unlink", {"slack_user_id": "U0SAMSLACK"})
            assert settings.var(SETTINGS, "links") == []
        finally:
            await settings.client.close()
        logged = system.log.read_text(errors="replace")
    assert "slack.link_completed" in logged and "slack.unlinked" in logged
    assert code not in logged
