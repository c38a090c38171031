"""The authorization matrix for Slack's way in: ``POST /slack/events`` in the web process, the real bot
(slack-bolt) behind it, the fake Slack as its Web API.

The route's one credential is Slack's signature (``X-Slack-Signature`` over ``v0:<timestamp>:<body>``
with the signing secret, the timestamp within five minutes). A delivery that would start a session —
a mention from a Slack user linked by email, in a channel with a repository — is sent with every
signature that must not work (none, empty, garbage, another secret, stale, from the future, for
another body, another scheme) and, with each, every sign-in credential there is (none, forged, expired,
revoked, a working cookie from our own origin, a working API token): refused (401), no row changed,
no call to Slack. Signed by Slack, the same delivery does start the session (the refusals are the
signature's doing), whatever cookie comes with it, since it is no sign-in route. And the other way
round: Slack's signature opens no other path — every protected route still wants a sign-in, and the
CSRF check still holds for cookie changes that carry it.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import select

from backend_jobs.slack.bot import SlackBot
from openinspect_app.api.app import attach
from openinspect_app.api.route_table import http_routes
from openinspect_app.api.slack_routes import EVENTS_PATH
from openinspect_app.http.csrf import STATE_CHANGING
from openinspect_core.db import Database
from openinspect_core.models import Session
from tests.fakes.slack import FakeSlack, slack_signature
from tests.fakes.slack.events import event_callback, new_event_id
from tests.security.test_authorization_matrix import CREDENTIALS, path_values, snapshot
from tests.support.slack_web import served_with_bot
from tests.support.system import ServedApi, api_token, served_api, sign_in_cookie

STALE_SECONDS = 6 * 60  # Slack's window is five minutes


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the signature is checked before any database work (the services' own tests run on both)."""
    return f"sqlite+aiosqlite:///{tmp_path / 'openinspect.db'}"


@dataclass
class SlackApi:
    served: ServedApi
    bot: SlackBot
    fake: FakeSlack
    body: bytes  # a mention that would start a session, in Slack's envelope

    def signed(self, *, secret: str | None = None, timestamp: int | None = None, body: bytes | None = None,
               scheme: str = "v0") -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        signature = slack_signature(secret or self.fake.signing_secret, ts, self.body if body is None else body)
        return {"Content-Type": "application/json", "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": signature.replace("v0=", f"{scheme}=", 1)}


@pytest.fixture
async def slack_api(database: Database, tmp_path: Path, fake_slack: FakeSlack) -> AsyncIterator[SlackApi]:
    async with served_with_bot(database, tmp_path / "data", fake_slack) as web:
        event = fake_slack.mention(fake_slack.world.ada, fake_slack.world.general, "fix the flaky login test")
        body = json.dumps(event_callback(fake_slack.world, event, event_id=new_event_id())).encode()
        yield SlackApi(web.served, web.bot, fake_slack, body)


SIGNATURES: dict[str, Callable[[SlackApi], dict[str, str]]] = {
    "no signature": lambda s: {"Content-Type": "application/json"},
    "no timestamp": lambda s: {k: v for k, v in s.signed().items() if k != "X-Slack-Request-Timestamp"},
    "empty": lambda s: {**s.signed(), "X-Slack-Signature": ""},
    "garbage": lambda s: {**s.signed(), "X-Slack-Signature": "v0=zz"},
    "another secret": lambda s: s.signed(secret="not-the-signing-secret"),
    "stale": lambda s: s.signed(timestamp=int(time.time()) - STALE_SECONDS),
    "from the future": lambda s: s.signed(timestamp=int(time.time()) + STALE_SECONDS),
    "another body": lambda s: s.signed(body=b'{"type":"event_callback"}'),
    "another scheme": lambda s: s.signed(scheme="v1"),
}


async def working_cookie(served: ServedApi) -> dict[str, str]:
    return {"Cookie": f"openinspect_session={await sign_in_cookie(served.context)}", "Origin": served.settings.origin}


async def working_token(served: ServedApi) -> dict[str, str]:
    return {"Authorization": f"Bearer {await api_token(served.context, name='slack-matrix')}"}


SIGN_INS: dict[str, Callable[[ServedApi], Awaitable[dict[str, str]]]] = {
    **CREDENTIALS, "a working sign-in cookie": working_cookie, "a working API token": working_token}


async def test_a_delivery_slack_did_not_sign_does_nothing_whatever_sign_in_comes_with_it(slack_api: SlackApi) -> None:
    served, fake = slack_api.served, slack_api.fake
    sign_ins = {name: await make(served) for name, make in SIGN_INS.items()}
    mark = fake.mark()
    before = await snapshot(served)
    async with served.client() as http:
        for sign_in, credential in sign_ins.items():
            for signature, headers in SIGNATURES.items():
                response = await http.post(EVENTS_PATH, content=slack_api.body,
                                           headers={**credential, **headers(slack_api)})
                assert response.status_code == 401, (sign_in, signature, response.status_code, response.text)
    await slack_api.bot.idle()
    assert await snapshot(served) == before
    assert fake.calls()[mark:] == []  # not even the 👀 reaction


async def test_signed_by_slack_the_same_delivery_starts_the_session_cookie_or_not(slack_api: SlackApi) -> None:
    """The other side: the refusals above are the signature's doing. A sign-in cookie without our Origin
    does not stop it either (no CSRF check: it is no sign-in route; the signature is what counts)."""
    served, fake = slack_api.served, slack_api.fake
    cookie = await sign_in_cookie(served.context)
    async with served.client(cookie=cookie) as http:
        response = await http.post(EVENTS_PATH, content=slack_api.body, headers=slack_api.signed())
    assert response.status_code == 200, response.text
    await slack_api.bot.idle()
    await fake.wait_for_call("reactions.add", lambda c: c.args.get("name") == "eyes")
    async with served.context.db.session() as db:
        started = (await db.exec(select(Session))).all()
    assert [row.source for row in started].count("slack") == 1


async def test_slack_s_signature_opens_no_other_path(slack_api: SlackApi) -> None:
    """Every other route still wants a sign-in (401), and a cookie change carrying Slack's headers still
    needs our Origin (403): the exemption is that one path's, because the bot checks the signature."""
    served = slack_api.served
    cookie = await sign_in_cookie(served.context)
    ids = {"session_id": "0" * 32, "message_id": "0" * 32, "token_id": "0" * 32, "owner": "acme", "repo": "app",
           "repo_id": "0" * 32, "name": "API_KEY"}
    before = await snapshot(served)
    checked = 0
    async with served.client() as http:
        for route in http_routes(served.api):
            if route.public:
                continue
            url = route.url(**path_values(route, ids))
            alone = await http.request(route.method, url, content=slack_api.body, headers=slack_api.signed())
            assert alone.status_code == 401, (route, alone.text)
            # A preview's grant path takes no cookie as its credential (its own checks: tests/integration/
            # test_previews.py): nothing there for a forged cross-site cookie request to ride on.
            if route.method in STATE_CHANGING and not route.granted:
                headers = {**slack_api.signed(), "Cookie": f"openinspect_session={cookie}"}
                with_cookie = await http.request(route.method, url, content=slack_api.body, headers=headers)
                assert (with_cookie.status_code, with_cookie.json()["error"]["code"]) == (403, "csrf_refused"), route
                checked += 1
    assert checked >= 10
    assert await snapshot(served) == before


async def test_without_a_bot_here_the_route_says_where_slack_should_post(database: Database, tmp_path: Path,
                                                                         fake_slack: FakeSlack) -> None:
    async with served_api(database, tmp_path / "data") as served, served.client() as http:
        nobody = await http.post(EVENTS_PATH, content=b"{}", headers={"Content-Type": "application/json"})
    assert (nobody.status_code, nobody.json()["error"]["code"]) == (404, "not_found")
    assert "backend_jobs.slack" in nobody.json()["error"]["message"]
    # A bot that takes Slack's deliveries over Socket Mode only (no signing secret) takes none over HTTP.
    async with served_api(database, tmp_path / "data2", slack_bot_token=fake_slack.bot_token,
                          slack_app_token=fake_slack.app_token, slack_api_url=fake_slack.api_url) as served:
        attach(served.api, served.context, SlackBot(served.context))  # not started: nothing may reach it
        async with served.client() as http:
            socket_only = await http.post(EVENTS_PATH, content=b"{}", headers={"Content-Type": "application/json"})
    assert (socket_only.status_code, socket_only.json()["error"]["code"]) == (404, "not_found")
    assert "Socket Mode" in socket_only.json()["error"]["message"]
    assert fake_slack.calls() == []
