"""The bot's transports and lifetime against the fake Slack: Slack's signature checked over HTTP (a bad
or stale one does nothing), Socket Mode through slack-sdk's own client, start with Slack refusing the
token or away, Slack down or rate-limiting while a request is handled, the process entry point and
the control plane's wiring."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from backend_jobs import control_plane as control_plane_module
from backend_jobs.slack import __main__ as slack_main
from backend_jobs.slack.bot import SlackAuthError
from backend_jobs.slack.choice_blocks import choose_button_action_id
from backend_jobs.slack.http_server import SlackHttpServer
from openinspect_core.models import SlackThread
from tests.backend_jobs.slack.bot_world import bot_settings, running_bot
from tests.fakes.slack import FakeSlack, signed_headers
from tests.support.rows import every_row


async def test_a_bad_or_stale_signature_is_refused_and_changes_nothing(tmp_path: Path, sqlite_url: str,
                                                                       fake_slack: FakeSlack) -> None:
    async with running_bot(tmp_path, sqlite_url, fake_slack) as w:
        world = fake_slack.world
        before = await every_row(w.context.db)
        mark = fake_slack.mark()
        event = fake_slack.mention(world.ada, world.general, "acme/infra: drop the production database")
        forged = await fake_slack.deliver_event(w.bot.handle_http, event, signing_secret="not-the-secret")
        unsigned = await fake_slack.deliver_event(w.bot.handle_http, event, sign=False)
        stale = await fake_slack.deliver_event(w.bot.handle_http, event, timestamp=int(time.time()) - 600)
        # A body changed after signing (the signature is of the original).
        body = json.dumps({"type": "event_callback", "event_id": "Ev0X", "event": event}).encode()
        headers = signed_headers(fake_slack.signing_secret, body)
        tampered = await w.bot.handle_http(body.replace(b"drop", b"keep"), headers)
        await w.bot.idle()

        assert [d.status for d in (forged, unsigned, stale)] + [tampered.status] == [401] * 4
        assert await every_row(w.context.db) == before
        assert fake_slack.calls()[mark:] == []


async def test_url_verification_is_answered_once_signed(tmp_path: Path, sqlite_url: str,
                                                        fake_slack: FakeSlack) -> None:
    async with running_bot(tmp_path, sqlite_url, fake_slack) as w:
        answered = await fake_slack.url_verification(w.bot.handle_http, "c-123")
        assert (answered.status, answered.json()) == (200, {"challenge": "c-123"})
        assert (await fake_slack.url_verification(w.bot.handle_http, "c-123", sign=False)).status == 401


async def test_bolt_never_calls_slack_by_itself(tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack) -> None:
    """One auth.test at start; every request after is authorized from it (no installation store, no
    per-request token check), and every call went to the configured URL with the bot token."""
    async with running_bot(tmp_path, sqlite_url, fake_slack) as w:
        world = fake_slack.world
        for text in ("acme/infra: one", "acme/infra: two", "acme/infra: three"):
            await w.deliver(fake_slack.mention(world.ada, world.general, text))
        assert len(fake_slack.calls("auth.test")) == 1
        assert {c.token for c in fake_slack.calls()} == {fake_slack.bot_token}
        assert len(await w.sessions()) == 3


async def test_socket_mode_delivers_events_and_clicks_through_slack_sdks_client(tmp_path: Path, sqlite_url: str,
                                                                                fake_slack: FakeSlack) -> None:
    async with running_bot(tmp_path, sqlite_url, fake_slack, socket_mode=True) as w:
        world = fake_slack.world
        assert [c.token for c in fake_slack.calls("apps.connections.open")] == [fake_slack.app_token]
        event = fake_slack.mention(world.ada, world.general, "the export times out for big accounts")
        delivery = await w.deliver(event, event_id="Ev0SOCKET01")
        assert delivery.acked
        # Slack redelivers an envelope it thinks was not acknowledged: nothing twice.
        again = await w.deliver(event, event_id="Ev0SOCKET01", retry_num=1, retry_reason="timeout")
        assert again.acked
        [pending] = await w.pendings()
        assert len(fake_slack.calls("reactions.add")) == 1

        # Slack asks the client to reconnect (it does, through apps.connections.open), then a click.
        await fake_slack.socket_disconnect()
        await fake_slack.wait_for_call("apps.connections.open", since=1)
        await fake_slack.wait_for_socket()
        labels = [e["text"]["text"] for b in world.message(world.general.id, pending.prompt_ts).blocks
                  if b["type"] == "actions" for e in b["elements"] if e["type"] == "button"]
        clicked = await w.click(user=world.ada, action_id=choose_button_action_id(labels.index("acme/billing-api")),
                                channel=world.general, message_ts=pending.prompt_ts)
        assert clicked.acked
        [session] = await w.sessions()
        assert session.repo_id == w.repos["billing-api"]
        # Over Socket Mode the HTTP route is refused unless a signing secret is set (here it is: it works).
        assert (await fake_slack.url_verification(w.bot.handle_http, "c")).status == 200


async def test_without_a_signing_secret_http_is_refused(tmp_path: Path, sqlite_url: str,
                                                        fake_slack: FakeSlack) -> None:
    async with running_bot(tmp_path, sqlite_url, fake_slack, socket_mode=True, slack_signing_secret=None) as w:
        event = fake_slack.mention(fake_slack.world.ada, fake_slack.world.general, "acme/infra: hi")
        # Signed with an empty secret, as a forger would if the bot checked against one.
        answer = await fake_slack.deliver_event(w.bot.handle_http, event, signing_secret="")
        assert answer.status == 404
        assert await w.sessions() == []
        delivered = await w.deliver(event)  # Socket Mode still works
        assert delivered.acked and len(await w.sessions()) == 1


async def test_a_refused_token_stops_the_start(tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("auth.test", "invalid_auth")
    with pytest.raises(SlackAuthError, match="invalid_auth"):
        async with running_bot(tmp_path, sqlite_url, fake_slack):
            pass


async def test_a_refused_app_token_stops_the_start(tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("apps.connections.open", "invalid_auth")
    with pytest.raises(SlackAuthError, match="APP_TOKEN"):
        async with running_bot(tmp_path, sqlite_url, fake_slack, socket_mode=True):
            pass


async def test_slack_away_at_start_delays_deliveries_but_not_the_start(tmp_path: Path, sqlite_url: str,
                                                                        fake_slack: FakeSlack) -> None:
    fake_slack.down("503")  # Slack's own "down"; a refused connection takes the same path (slower: retried)
    async with running_bot(tmp_path, sqlite_url, fake_slack) as w:
        event = fake_slack.mention(fake_slack.world.ada, fake_slack.world.general, "acme/infra: hi")
        early = await fake_slack.deliver_event(w.bot.handle_http, event)
        assert early.status == 503  # Slack delivers it again later
        fake_slack.up()
        await asyncio.wait_for(w.bot.identified(), timeout=15)
        await w.deliver(event)
        assert len(await w.sessions()) == 1


async def test_slack_down_or_rate_limiting_never_stops_a_prompt(tmp_path: Path, sqlite_url: str,
                                                                 fake_slack: FakeSlack) -> None:
    async with running_bot(tmp_path, sqlite_url, fake_slack) as w:
        world = fake_slack.world
        start = fake_slack.mention(world.ada, world.general, "acme/infra: add a staging namespace")
        fake_slack.rate_limit("reactions.add", retry_after=3600)  # far too long to wait: given up at once
        await w.deliver(start)
        assert len(await w.sessions()) == 1
        assert fake_slack.world.reactions(world.general.id, start["ts"]) == {}

        fake_slack.down("503")
        await w.deliver(fake_slack.thread_reply(world.ada, world.general, start["ts"], "and a prod one"))
        fake_slack.up()
        assert [p.content for p in await w.prompts()] == ["add a staging namespace", "and a prod one"]


async def test_the_process_serves_events_and_health_over_http(tmp_path: Path, sqlite_url: str,
                                                              fake_slack: FakeSlack) -> None:
    async with running_bot(tmp_path, sqlite_url, fake_slack) as w:
        server = SlackHttpServer(w.bot, "127.0.0.1", 0)
        await server.start()
        try:
            base = f"http://127.0.0.1:{server.port}"
            async with httpx.AsyncClient() as client:
                assert (await client.get(f"{base}/healthz")).status_code == 200
            event = fake_slack.mention(fake_slack.world.ada, fake_slack.world.general, "acme/infra: hi")
            assert (await fake_slack.deliver_event(f"{base}/slack/events", event)).status == 200
            assert (await fake_slack.deliver_event(f"{base}/slack/events", event, sign=False)).status == 401
            await w.bot.idle()
            assert len(await w.sessions()) == 1
        finally:
            await server.close()


def test_the_process_refuses_to_start_without_a_bot_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("OPENINSPECT_SLACK_BOT_TOKEN", "OPENINSPECT_SLACK_APP_TOKEN", "OPENINSPECT_SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENINSPECT_DATA_DIR", str(tmp_path))
    assert slack_main.main() == 2
    monkeypatch.setenv("OPENINSPECT_SLACK_BOT_TOKEN", "not-a-bot-token")
    assert slack_main.main() == 2


async def test_the_control_plane_runs_the_bot_where_the_settings_say(tmp_path: Path, sqlite_url: str,
                                                                      fake_slack: FakeSlack) -> None:
    settings = bot_settings(tmp_path, sqlite_url, fake_slack)
    plane = control_plane_module.ControlPlane(settings, run_background_jobs=False)
    assert plane.slack is not None  # OPENINSPECT_SLACK_IN_PROCESS defaults to true: the web runs it
    await plane.start()
    try:
        assert plane.slack.identity is not None and plane.slack.identity.bot_user_id == fake_slack.bot_user_id
    finally:
        await plane.stop()
    assert control_plane_module.ControlPlane(settings, run_background_jobs=False, run_slack=False).slack is None
    elsewhere = bot_settings(tmp_path, sqlite_url, fake_slack, slack_in_process=False)
    assert control_plane_module.ControlPlane(elsewhere, run_background_jobs=False).slack is None
    no_slack = bot_settings(tmp_path, sqlite_url, fake_slack, slack_bot_token=None)
    assert control_plane_module.ControlPlane(no_slack, run_background_jobs=False).slack is None


async def test_a_refused_token_leaves_the_web_running_without_its_bot(tmp_path: Path, sqlite_url: str,
                                                                       fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("auth.test", "token_revoked")
    plane = control_plane_module.ControlPlane(bot_settings(tmp_path, sqlite_url, fake_slack), run_background_jobs=False)
    await plane.start()  # a revoked Slack token is Slack's problem, not the web's: it starts, without the bot
    try:
        assert plane.slack is None
        async with plane.context.db.session() as db:  # the rest of the control plane works
            assert (await db.exec(select(SlackThread))).all() == []
    finally:
        await plane.stop()
