"""The Slack settings over REST, on SQLite and PostgreSQL: a channel's repository, aliases and keywords,
linked people, and completing a link with the code the bot gave a Slack user — every refusal a clear 4xx
naming what is wrong, every change by the caller."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from sqlmodel import select

from openinspect_core.db import Database
from openinspect_core.models import Session, SlackUserLink
from openinspect_core.slack import people, threads
from tests.fakes.slack import FakeSlack
from tests.support.slack_web import served_with_bot
from tests.support.system import ServedApi, api_token, sign_in_cookie

BOB = {"name": "Bob Builder", "email": "bob@example.com"}


async def repos(served: ServedApi, token: str, *paths: str) -> list[str]:
    """Repositories known here (a session on each), by id."""
    ids = []
    async with served.client(token=token) as http:
        for path in paths:
            session = (await http.post("/api/sessions", json={"repo_url": path})).json()
            ids.append(str(session["repo"]["id"]))
    return ids


async def link_code(served: ServedApi, slack_user_id: str = "U0LINKME", text: str = "<@UBOT> fix the login page") -> \
        tuple[str, str]:
    """A link request as the bot leaves it for a Slack user it cannot tell who is: (pending id, code)."""
    async with served.context.work() as work:
        pending = await threads.create_pending(work.db, reason=threads.LINK_ACCOUNT, team_id="T0TEAM",
                                               channel_id="C0GENERAL", thread_ts="1700000000.000100",
                                               message_ts="1700000000.000100", slack_user_id=slack_user_id,
                                               text=text)
        code = await people.start_link(work.db, pending)
    return pending.id, code


async def slack_session(served: ServedApi, timeout_seconds: float = 30) -> Session:
    """The session the bot started (waiting for it: the bot goes on in the background)."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        async with served.context.db.session() as db:
            found = (await db.exec(select(Session).where(Session.source == "slack"))).all()
        if found or time.monotonic() > deadline:
            assert len(found) == 1, found
            return found[0]
        await asyncio.sleep(0.05)


async def test_a_channel_gets_a_repository_which_can_be_replaced_and_cleared(served: ServedApi) -> None:
    token = await api_token(served.context)
    api_repo, web_repo = await repos(served, token, "/tmp/slack-api", "/tmp/slack-web")
    async with served.client(token=token) as http:
        set_ = await http.put("/api/slack/channels/C0123ABCD", json={"repo_id": api_repo, "channel_name": "#backend"})
        assert set_.status_code == 200, set_.text
        assert set_.json()["channel_name"] == "backend" and set_.json()["repo"] == {"id": api_repo,
                                                                                    "name": "slack-api"}
        replaced = await http.put("/api/slack/channels/C0123ABCD", json={"repo_id": web_repo})
        assert replaced.json()["repo"]["id"] == web_repo and replaced.json()["channel_name"] == "backend"
        listed = (await http.get("/api/slack/channels")).json()
        assert [(c["channel_id"], c["repo"]["name"]) for c in listed] == [("C0123ABCD", "slack-web")]
        bad_channel = await http.put("/api/slack/channels/general", json={"repo_id": api_repo})
        no_repo = await http.put("/api/slack/channels/C0999", json={"repo_id": "0" * 32})
        cleared = await http.delete("/api/slack/channels/C0123ABCD")
        again = await http.delete("/api/slack/channels/C0123ABCD")
        assert (await http.get("/api/slack/channels")).json() == []
    assert (bad_channel.status_code, bad_channel.json()["error"]["code"]) == (422, "slack_invalid_channel")
    assert "C0123ABCD" in bad_channel.json()["error"]["message"]  # says what an id looks like
    assert (no_repo.status_code, no_repo.json()["error"]["code"]) == (404, "no_such_repo")
    assert (cleared.status_code, cleared.content) == (204, b"")
    assert (again.status_code, again.json()["error"]["code"]) == (404, "not_found")


async def test_aliases_are_one_repository_s_and_keywords_are_shared(served: ServedApi) -> None:
    token = await api_token(served.context)
    billing, web = await repos(served, token, "/tmp/slack-billing", "/tmp/slack-website")
    async with served.client(token=token) as http:
        alias = await http.post("/api/slack/hints", json={"repo_id": billing, "kind": "alias", "value": " Billing "})
        assert alias.status_code == 200, alias.text
        assert (alias.json()["kind"], alias.json()["value"]) == ("alias", "billing")  # as stored: lower case
        same = await http.post("/api/slack/hints", json={"repo_id": billing, "kind": "alias", "value": "billing"})
        assert same.json()["id"] == alias.json()["id"]  # adding it again changes nothing
        taken = await http.post("/api/slack/hints", json={"repo_id": web, "kind": "alias", "value": "billing"})
        for repo_id in (billing, web):
            shared = await http.post("/api/slack/hints", json={"repo_id": repo_id, "kind": "keyword",
                                                               "value": "invoice"})
            assert shared.status_code == 200, shared.text
        two_words = await http.post("/api/slack/hints", json={"repo_id": web, "kind": "keyword",
                                                              "value": "two words"})
        other_kind = await http.post("/api/slack/hints", json={"repo_id": web, "kind": "label", "value": "x"})
        unknown_repo = await http.post("/api/slack/hints", json={"repo_id": "0" * 32, "kind": "alias",
                                                                 "value": "ghost"})
        of_web = (await http.get("/api/slack/hints", params={"repo_id": web})).json()
        every = (await http.get("/api/slack/hints")).json()
        removed = await http.delete(f"/api/slack/hints/{alias.json()['id']}")
        gone = await http.delete(f"/api/slack/hints/{alias.json()['id']}")
        left = (await http.get("/api/slack/hints")).json()
    assert (taken.status_code, taken.json()["error"]["code"]) == (409, "slack_alias_taken")
    assert (two_words.status_code, two_words.json()["error"]["code"]) == (422, "slack_invalid_hint")
    assert other_kind.status_code == 422 and other_kind.json()["error"]["code"] == "invalid_request"
    assert (unknown_repo.status_code, unknown_repo.json()["error"]["code"]) == (404, "no_such_repo")
    assert [(h["kind"], h["value"]) for h in of_web] == [("keyword", "invoice")]
    assert sorted((h["repo_id"] == billing, h["kind"], h["value"]) for h in every) == [
        (False, "keyword", "invoice"), (True, "alias", "billing"), (True, "keyword", "invoice")]
    assert (removed.status_code, gone.status_code) == (204, 404)
    assert {h["kind"] for h in left} == {"keyword"}


async def test_a_link_code_links_that_slack_user_to_the_caller_once(served: ServedApi) -> None:
    pending_id, code = await link_code(served)
    bob = await sign_in_cookie(served.context, BOB)
    async with served.client(cookie=bob, origin=served.settings.origin) as http:
        linked = await http.post("/api/slack/link", json={"code": code})
        assert linked.status_code == 200, linked.text
        used = await http.post("/api/slack/link", json={"code": code})
        wrong = await http.post("/api/slack/link", json={"code": "not-a-code"})
        listed = (await http.get("/api/slack/links")).json()
    assert linked.json()["slack_user_id"] == "U0LINKME" and linked.json()["method"] == "link"
    assert linked.json()["person"]["name"] == "Bob Builder"
    assert (used.status_code, used.json()["error"]["code"]) == (404, "slack_link_invalid")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (404, "slack_link_invalid")
    assert [(entry["slack_user_id"], entry["person"]["email"]) for entry in listed] == [("U0LINKME", "bob@example.com")]
    async with served.context.db.session() as db:
        pending = await threads.pending(db, pending_id)
    assert pending is not None and pending.link_code_hash is None  # the code is used up ...
    assert pending.resolved_at is None  # ... and the request is left for the bot to go on with


async def test_a_slack_user_linked_to_someone_else_stays_theirs_until_unlinked(served: ServedApi) -> None:
    _, first = await link_code(served, "U0SHARED")
    _, second = await link_code(served, "U0SHARED")
    ada, bob = await api_token(served.context), await api_token(served.context, BOB)
    async with served.client(token=ada) as http:
        assert (await http.post("/api/slack/link", json={"code": first})).status_code == 200
    async with served.client(token=bob) as http:
        refused = await http.post("/api/slack/link", json={"code": second})
        unlinked = await http.delete("/api/slack/links/U0SHARED")
        not_linked = await http.delete("/api/slack/links/U0SHARED")
        bad_id = await http.delete("/api/slack/links/U0%2F..")
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "slack_already_linked")
    assert unlinked.status_code == 204
    assert (not_linked.status_code, not_linked.json()["error"]["code"]) == (404, "not_found")
    assert bad_id.status_code in (404, 422)
    async with served.context.db.session() as db:
        assert await db.get(SlackUserLink, "U0SHARED") is None


async def test_an_expired_link_says_so(served: ServedApi) -> None:
    pending_id, code = await link_code(served)
    async with served.context.work() as work:
        pending = await threads.pending(work.db, pending_id)
        assert pending is not None
        pending.expires_at = pending.created_at
        work.db.add(pending)
    async with served.client(token=await api_token(served.context)) as http:
        expired = await http.post("/api/slack/link", json={"code": code})
    assert (expired.status_code, expired.json()["error"]["code"]) == (409, "slack_link_expired")
    assert "mention the bot again" in expired.json()["error"]["message"]


async def test_a_link_made_on_the_web_lets_the_slack_request_go_on(database: Database, tmp_path: Path,
                                                                   fake_slack: FakeSlack) -> None:
    """Slack's Bob has no confirmed email: the bot sends him (alone) a link; Bob, signed in on the web,
    completes it — and the request he made in Slack goes on, as his."""
    async with served_with_bot(database, tmp_path / "data", fake_slack) as web:
        event = fake_slack.mention(fake_slack.world.bob, fake_slack.world.general, "bump the test timeout")
        assert (await fake_slack.deliver_event(web.bot.handle_http, event)).status == 200
        await web.bot.idle()
        [prompt] = fake_slack.world.ephemerals(fake_slack.world.general.id)
        url = next(e["url"] for b in prompt.blocks or [] for e in b.get("elements", []) if "url" in e)
        assert url.startswith(f"{web.served.settings.origin}/settings/slack/link?code=")
        code = parse_qs(urlsplit(url).query)["code"][0]
        mark = fake_slack.mark()
        async with web.served.client(token=await api_token(web.served.context, BOB)) as http:
            linked = await http.post("/api/slack/link", json={"code": code})
        assert linked.status_code == 200, linked.text
        await fake_slack.wait_for_call("chat.postMessage", lambda c: "you're linked" in str(c.args.get("text")),
                                       since=mark, timeout=30)
        session = await slack_session(web.served)
        async with web.served.context.db.session() as db:
            bob = await people.linked_user(db, fake_slack.world.bob.id)
        async with web.served.client(token=await api_token(web.served.context, BOB)) as http:
            listed = {s["id"]: s["source"] for s in (await http.get("/api/sessions")).json()}
    assert bob is not None and bob.email == BOB["email"]
    assert (session.source, session.created_by, session.repo_id) == ("slack", bob.id, web.repo_id)
    assert listed[session.id] == "slack" and set(listed.values()) == {"api", "slack"}  # the REST list says so
