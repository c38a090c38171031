"""Every HTTP route, with every credential that must not work: refused (401), and nothing changed.

The routes come from the API's own route table (``route_table.http_routes``), so a new route
is in the matrix the moment it exists; the public ones are exactly ``PUBLIC_PATHS``, among them the
``SIGNED_PATHS`` whose sender's signature is their credential. (The Reflex event handlers have their own
matrix, beside this one.)
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from backend_jobs import tokens as sandbox_tokens
from openinspect_app.api.app import PUBLIC_PATHS, SIGNED_PATHS
from openinspect_app.api.route_table import HttpRoute, http_routes
from openinspect_app.http import cookies
from openinspect_app.http.policy import session_secret
from openinspect_core.models import Sandbox, SignIn
from openinspect_core.services import identity
from tests.support.rows import every_row
from tests.support.system import ADA, ServedApi, api_token, sign_in_cookie


async def snapshot(served: ServedApi) -> dict[str, list[tuple[Any, ...]]]:
    return await every_row(served.context.db)


async def world(served: ServedApi) -> dict[str, str]:
    """A session with a queued prompt and Ada's API token: real rows for every path parameter."""
    token = await api_token(served.context)
    async with served.client(token=token) as http:
        session = (await http.post("/api/sessions", json={"repo_url": "/tmp/anything"})).json()
        message = (await http.post(f"/api/sessions/{session['id']}/prompts",
                                   json={"content": "hello", "client_request_id": "r1"})).json()
        token_id = (await http.get("/api/tokens")).json()[0]["id"]
    return {"session_id": session["id"], "message_id": message["id"], "token_id": token_id,
            "owner": "acme", "repo": "app", "repo_id": session["repo"]["id"], "name": "API_KEY"}


async def forged_cookie(served: ServedApi) -> dict[str, str]:
    return {"Cookie": f"{cookies.COOKIE_NAME}={cookies.sign(secrets.token_urlsafe(32), b'not our key')}"}


async def unsigned_cookie(served: ServedApi) -> dict[str, str]:
    real = await sign_in_cookie(served.context)
    return {"Cookie": f"{cookies.COOKIE_NAME}={real.rsplit('.', 1)[0]}"}  # a real sign-in token, no signature


async def expired_cookie(served: ServedApi) -> dict[str, str]:
    value = await sign_in_cookie(served.context)
    token = cookies.unsign(value, session_secret(served.settings))
    assert token is not None
    async with served.context.work() as work:
        row = (await work.db.exec(select(SignIn).where(SignIn.token_hash == identity.token_hash(token)))).one()
        row.expires_at = row.created_at - timedelta(seconds=1)
        work.db.add(row)
    return {"Cookie": f"{cookies.COOKIE_NAME}={value}"}


async def revoked_cookie(served: ServedApi) -> dict[str, str]:
    value = await sign_in_cookie(served.context)
    async with served.context.work() as work:
        await identity.sign_out(work.db, value.rsplit(".", 1)[0])
    return {"Cookie": f"{cookies.COOKIE_NAME}={value}"}


async def revoked_api_token(served: ServedApi) -> dict[str, str]:
    token = await api_token(served.context, name="revoked")
    async with served.context.work() as work:
        found = await identity.find_api_token(work.db, token)
        assert found is not None
        await identity.revoke_api_token(work.db, found[1], found[0].id)
    return {"Authorization": f"Bearer {token}"}


async def sandbox_token_of_another_session(served: ServedApi) -> dict[str, str]:
    async with served.client(token=await api_token(served.context)) as http:
        other = (await http.post("/api/sessions", json={"repo_url": "/tmp/other"})).json()
    token = sandbox_tokens.new_token()
    async with served.context.work() as work:
        work.db.add(Sandbox(session_id=other["id"], backend="test", auth_token_hash=sandbox_tokens.token_hash(token)))
    return {"Authorization": f"Bearer {token}"}


async def nothing(served: ServedApi) -> dict[str, str]:
    return {}


CREDENTIALS: dict[str, Callable[[ServedApi], Awaitable[dict[str, str]]]] = {
    "no credentials": nothing,
    "forged cookie": forged_cookie,
    "unsigned cookie": unsigned_cookie,
    "expired cookie": expired_cookie,
    "revoked cookie": revoked_cookie,
    "revoked API token": revoked_api_token,
    "another session's sandbox token": sandbox_token_of_another_session,
}


async def refused_everywhere(served: ServedApi, routes: list[HttpRoute], ids: dict[str, str],
                             headers: dict[str, str], credential: str) -> None:
    """Every route answers 401 ``unauthenticated`` to ``headers``."""
    async with served.client() as http:
        for route in routes:
            response = await http.request(route.method, route.url(**path_values(route, ids)), headers=headers,
                                          json={})
            assert response.status_code == 401, (credential, route, response.text)
            assert response.json()["error"]["code"] == "unauthenticated"


def path_values(route: HttpRoute, ids: dict[str, str]) -> dict[str, str]:
    """A real row's id for each of the route's path parameters; a made-up one for a parameter no row
    here has yet (credentials are checked before routing, so a new route is still tested)."""
    return {p: ids.get(p, "0" * 32) for p in route.params}


def protected(served: ServedApi) -> list[HttpRoute]:
    return [r for r in http_routes(served.api) if not r.public]


@pytest.mark.parametrize("credential", list(CREDENTIALS))
async def test_every_protected_route_refuses_and_changes_nothing(served: ServedApi, credential: str) -> None:
    ids = await world(served)
    headers = await CREDENTIALS[credential](served)
    headers["Origin"] = served.settings.origin  # so a cookie is refused for what it is, not by the CSRF check
    routes = protected(served)
    assert len(routes) >= 15  # the table is really read
    before = await snapshot(served)
    await refused_everywhere(served, routes, ids, headers, credential)
    assert await snapshot(served) == before, credential


async def test_the_public_routes_are_exactly_the_listed_ones(served: ServedApi) -> None:
    ids = {"session_id": "0" * 32, "message_id": "0" * 32, "token_id": "0" * 32, "owner": "acme", "repo": "app",
           "repo_id": "0" * 32, "name": "API_KEY"}
    answered = set()
    async with served.client() as http:
        for route in http_routes(served.api):
            response = await http.request(route.method, route.url(**path_values(route, ids)), json={})
            # A public route may refuse too (the webhook, unsigned: bad_signature), never as unauthenticated.
            if response.status_code != 401 or response.json()["error"]["code"] != "unauthenticated":
                answered.add(route.path)
    assert answered == PUBLIC_PATHS
    assert PUBLIC_PATHS <= {r.path for r in http_routes(served.api)}  # no stale entry in the list


async def test_a_sign_in_is_no_credential_where_the_sender_signs(served: ServedApi) -> None:
    """The signed routes (GitHub's webhook, Slack's events) take no sign-in: a working cookie from our own
    origin or a working API token, without the sender's signature, changes nothing. (Here neither GitHub nor
    Slack is configured; their own matrices, ``test_github_matrix`` and ``test_slack_matrix``, send every bad
    signature to the configured routes.)"""
    signed = [r for r in http_routes(served.api) if r.signed]
    assert {r.path for r in signed} == SIGNED_PATHS and all(r.public for r in signed)
    cookie = await sign_in_cookie(served.context, ADA)
    token = await api_token(served.context)
    before = await snapshot(served)
    for client in (served.client(cookie=cookie, origin=served.settings.origin), served.client(token=token)):
        async with client as http:
            for route in signed:
                response = await http.request(route.method, route.path, json={"type": "event_callback"})
                assert response.status_code in (401, 404), (route, response.text)
    assert await snapshot(served) == before


async def test_a_valid_credential_passes_every_route_it_is_sent_to(served: ServedApi) -> None:
    """The other side of the matrix: the refusals above are about the credential, not the route."""
    ids = await world(served)
    cookie = await sign_in_cookie(served.context, ADA)
    async with served.client(cookie=cookie, origin=served.settings.origin) as http:
        for route in protected(served):
            if route.path.endswith("/stream") or route.path.endswith("/sign-out"):
                continue  # a stream never ends; signing out would end the credential itself
            response = await http.request(route.method, route.url(**path_values(route, ids)), json={})
            assert response.status_code != 401, (route, response.text)


@pytest.mark.parametrize("spelling", ["//api/sessions", "/api//sessions", "/API/sessions", "/api/sessions/",
                                      "/_ui//presence/x", "/api/%73essions"])
async def test_no_other_spelling_of_a_path_gets_past(served: ServedApi, spelling: str) -> None:
    async with served.client() as http:
        before = await snapshot(served)
        for method in ("GET", "POST"):
            response = await http.request(method, spelling, json={"repo_url": "/tmp/x"})
            assert response.status_code in (401, 404, 405), (spelling, response.status_code, response.text)
        assert await snapshot(served) == before
