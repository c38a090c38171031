"""REST: a session's cost and spend limit, and its title as people change it (SQLite and PostgreSQL)."""

from __future__ import annotations

import httpx
import pytest

from backend_jobs import tokens as sandbox_tokens
from openinspect_core.models import ModelUsage, Sandbox
from tests.support.rows import every_row
from tests.support.system import ADA, ServedApi, api_token, sign_in_cookie

DEFAULT_LIMIT = 1.0


async def a_session(http: httpx.AsyncClient, **body: object) -> dict:
    response = await http.post("/api/sessions", json={"repo_url": "/tmp/some-repo", **body})
    assert response.status_code == 201, response.text
    return response.json()


async def events_of(http: httpx.AsyncClient, session_id: str) -> list[dict]:
    return (await http.get(f"/api/sessions/{session_id}/events")).json()["events"]


@pytest.mark.settings(session_spend_limit_usd=DEFAULT_LIMIT)
async def test_a_session_says_what_it_spent_and_its_limit(served: ServedApi) -> None:
    async with served.client(token=await api_token(served.context)) as http:
        session = await a_session(http)
        assert session["spend"] == {"total": {"input_tokens": 0, "output_tokens": 0, "tokens": 0, "cost_usd": 0.0,
                                              "calls": 0},
                                    "limit_usd": DEFAULT_LIMIT, "own_limit_usd": None, "limit_reached": False,
                                    "queue_held": False}
        message = (await http.post(f"/api/sessions/{session['id']}/prompts",
                                   json={"content": "hi", "client_request_id": "r1"})).json()
        # What the model proxy would have written: two calls of the prompt, one before it.
        async with served.context.work() as work:
            sandbox = Sandbox(session_id=session["id"], backend="test", auth_token_hash="h1")
            work.db.add(sandbox)
            await work.db.flush()
            for message_id, cost in ((None, 0.25), (message["id"], 0.5), (message["id"], 0.5)):
                work.db.add(ModelUsage(session_id=session["id"], sandbox_id=sandbox.id, message_id=message_id,
                                       model="m", input_tokens=100, output_tokens=10, cost=cost))
        fetched = (await http.get(f"/api/sessions/{session['id']}")).json()
        listed = (await http.get("/api/sessions")).json()
        cost = (await http.get(f"/api/sessions/{session['id']}/cost")).json()
    assert fetched["spend"]["total"] == {"input_tokens": 300, "output_tokens": 30, "tokens": 330, "cost_usd": 1.25,
                                         "calls": 3}
    assert fetched["spend"]["limit_reached"] and not fetched["spend"]["queue_held"]  # the dispatcher holds it
    assert [s["spend"]["total"]["calls"] for s in listed] == [3]
    assert cost["prompts"] == [{"message_id": message["id"], "usage": {
        "input_tokens": 200, "output_tokens": 20, "tokens": 220, "cost_usd": 1.0, "calls": 2}}]
    assert cost["total"] == fetched["spend"]["total"]


@pytest.mark.settings(session_spend_limit_usd=DEFAULT_LIMIT)
async def test_a_person_sets_the_limit_and_sets_it_back(served: ServedApi) -> None:
    async with served.client(token=await api_token(served.context)) as http:
        session = await a_session(http)
        url = f"/api/sessions/{session['id']}"
        raised = await http.patch(url, json={"spend_limit_usd": 2.5})
        untouched = await http.patch(url, json={"title": "Only the title"})  # the limit is left as it is
        back = await http.patch(url, json={"spend_limit_usd": None})
        events = [e for e in await events_of(http, session["id"]) if e["type"] == "spend_limit_changed"]
    assert raised.status_code == 200, raised.text
    assert (raised.json()["spend"]["own_limit_usd"], raised.json()["spend"]["limit_usd"]) == (2.5, 2.5)
    assert untouched.json()["spend"]["own_limit_usd"] == 2.5
    assert (back.json()["spend"]["own_limit_usd"], back.json()["spend"]["limit_usd"]) == (None, DEFAULT_LIMIT)
    assert [(e["data"]["limit_usd"], e["data"]["effective_limit_usd"], e["data"]["by"]["email"]) for e in events] == [
        (2.5, 2.5, ADA["email"]), (None, DEFAULT_LIMIT, ADA["email"])]


async def test_a_person_renames_the_session_and_the_title_is_kept(served: ServedApi) -> None:
    async with served.client(token=await api_token(served.context)) as http:
        session = await a_session(http)
        assert (session["title"], session["title_from_user"]) == (None, False)
        renamed = await http.patch(f"/api/sessions/{session['id']}", json={"title": "  Fix the login page "})
        again = await http.patch(f"/api/sessions/{session['id']}", json={"title": "Fix the login page"})
        events = [e for e in await events_of(http, session["id"]) if e["type"] == "session_renamed"]
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["title"], renamed.json()["title_from_user"]) == ("Fix the login page", True)
    assert again.status_code == 200
    assert [(e["data"]["title"], e["data"]["by"]["name"]) for e in events] == [("Fix the login page", ADA["name"])]


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"title": "   "}, 422, "empty_title"),
    ({"title": "x" * 201}, 422, "invalid_request"),
    ({"spend_limit_usd": -1}, 422, "invalid_spend_limit"),
    ({"spend_limit_usd": 10_000_000}, 422, "invalid_spend_limit"),
    ({"spend_limit_usd": "a lot"}, 422, "invalid_request"),
    ({"title": "x", "by": "someone else"}, 422, "invalid_request"),  # who renamed it is the caller, always
    ({"title": "a\x00b"}, 422, "invalid_request"),
])
async def test_bad_changes_are_refused_clearly_and_change_nothing(served: ServedApi, body: dict, status: int,
                                                                  code: str) -> None:
    async with served.client(token=await api_token(served.context)) as http:
        session = await a_session(http)
        before = await every_row(served.context.db)
        response = await http.patch(f"/api/sessions/{session['id']}", json=body)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), response.text
        assert response.json()["error"]["message"]
        assert await every_row(served.context.db) == before
        missing = await http.patch(f"/api/sessions/{'0' * 32}", json={"title": "x"})
        assert (missing.status_code, missing.json()["error"]["code"]) == (404, "session_not_found")


async def test_the_sessions_own_sandbox_may_not_rename_it_or_lift_its_limit(served: ServedApi) -> None:
    """The agent asks through its sandbox token: refused like any credential that is not a person's."""
    async with served.client(token=await api_token(served.context)) as http:
        session = await a_session(http)
    token = sandbox_tokens.new_token()
    async with served.context.work() as work:
        work.db.add(Sandbox(session_id=session["id"], backend="test", auth_token_hash=sandbox_tokens.token_hash(token)))
    before = await every_row(served.context.db)
    async with served.client(token=token) as http:
        for body in ({"title": "mine now"}, {"spend_limit_usd": 1000}):
            response = await http.patch(f"/api/sessions/{session['id']}", json=body)
            assert response.status_code == 401, response.text
    assert await every_row(served.context.db) == before


async def test_a_signed_in_browser_changes_it_only_from_our_own_origin(served: ServedApi) -> None:
    async with served.client(token=await api_token(served.context)) as http:
        session = await a_session(http)
    cookie = await sign_in_cookie(served.context, ADA)
    async with served.client(cookie=cookie, origin="https://evil.example") as http:
        refused = await http.patch(f"/api/sessions/{session['id']}", json={"title": "from elsewhere"})
    async with served.client(cookie=cookie, origin=served.settings.origin) as http:
        accepted = await http.patch(f"/api/sessions/{session['id']}", json={"title": "from here"})
    assert refused.status_code == 403 and accepted.status_code == 200
    assert accepted.json()["title"] == "from here"
