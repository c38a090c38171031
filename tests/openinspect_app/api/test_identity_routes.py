"""Signing in and out, who am I, API tokens — and that the caller is always the author."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from openinspect_app.http import cookies
from openinspect_app.http.policy import session_secret
from openinspect_core.models import Message, SignIn, User, utcnow
from openinspect_core.services import identity
from tests.support.system import ADA, ServedApi, api_token, sign_in_cookie

BOB = {"name": "Bob Builder", "email": "bob@example.com"}


def cookie_of(set_cookie: str) -> str:
    return set_cookie.split(";", 1)[0].split("=", 1)[1]


async def test_a_form_sign_in_sets_a_safe_cookie_and_redirects(served: ServedApi) -> None:
    async with served.client(origin=served.settings.origin) as http:
        response = await http.post("/api/auth/local", data={**ADA, "next": "/sessions/abc"})
        assert (response.status_code, response.headers["location"]) == (303, "/sessions/abc")
        set_cookie = response.headers["set-cookie"]
        attributes = {a.strip().split("=")[0].lower() for a in set_cookie.split(";")[1:]}
        assert {"httponly", "path", "samesite", "max-age"} <= attributes and "secure" not in attributes
        assert "SameSite=Lax" in set_cookie and "Path=/" in set_cookie
        assert f"Max-Age={served.settings.session_ttl_seconds}" in set_cookie
        me = await http.get("/api/me", headers={"Cookie": f"{cookies.COOKIE_NAME}={cookie_of(set_cookie)}"})
    assert me.status_code == 200
    assert {k: me.json()[k] for k in ("name", "email")} == ADA


@pytest.mark.settings(public_url="https://127.0.0.1:3000")
async def test_the_cookie_is_secure_when_the_app_is_reached_over_https(served: ServedApi) -> None:
    async with served.client() as http:
        response = await http.post("/api/auth/local", json=ADA, headers={"Host": "127.0.0.1"})
    assert response.status_code == 200 and "; Secure" in response.headers["set-cookie"]


async def test_a_json_sign_in_answers_the_person(served: ServedApi) -> None:
    async with served.client() as http:
        response = await http.post("/api/auth/local", json=ADA)
    assert response.status_code == 200
    assert {k: response.json()["user"][k] for k in ("name", "email")} == ADA


async def test_a_bad_sign_in_form_goes_back_with_an_error_and_json_gets_422(served: ServedApi) -> None:
    async with served.client() as http:
        form = await http.post("/api/auth/local", data={"name": "Ada", "email": "no-at-sign", "next": "/x"})
        json = await http.post("/api/auth/local", json={"name": "", "email": "ada@example.com"})
    assert form.status_code == 303 and form.headers["location"].startswith("/signin?error=")
    assert "set-cookie" not in form.headers
    assert (json.status_code, json.json()["error"]["code"]) == (422, "invalid_request")


@pytest.mark.settings(web_host="0.0.0.0")
async def test_local_sign_in_is_refused_beyond_loopback(served: ServedApi) -> None:
    async with served.client() as http:
        response = await http.post("/api/auth/local", json=ADA, headers={"Host": "0.0.0.0"})
    assert (response.status_code, response.json()["error"]["code"]) == (403, "local_sign_in_unavailable")


async def test_signing_in_never_renames_someone(served: ServedApi) -> None:
    async with served.client() as http:
        await http.post("/api/auth/local", json=BOB)
        response = await http.post("/api/auth/local", json={"name": "Not Bob", "email": "BOB@example.com"})
    assert response.json()["user"]["name"] == BOB["name"]
    async with served.context.db.session() as db:
        assert [u.name for u in (await db.exec(select(User))).all()] == [BOB["name"]]


async def test_sign_out_ends_the_sign_in_and_clears_the_cookie(served: ServedApi) -> None:
    cookie = await sign_in_cookie(served.context)
    async with served.client(cookie=cookie, origin=served.settings.origin) as http:
        assert (await http.get("/api/me")).status_code == 200
        out = await http.post("/api/auth/sign-out")
        assert out.status_code == 204 and "Max-Age=0" in out.headers["set-cookie"]
        assert (await http.get("/api/me")).status_code == 401
        form = await http.post("/api/auth/sign-out", data={})
    assert form.status_code == 401  # nobody is signed in any more


async def test_a_new_sign_in_ends_the_one_the_browser_had(served: ServedApi) -> None:
    old = await sign_in_cookie(served.context)
    async with served.client(cookie=old, origin=served.settings.origin) as http:
        assert (await http.post("/api/auth/local", json=BOB)).status_code == 200
        assert (await http.get("/api/me")).status_code == 401


async def test_forged_expired_and_revoked_cookies_count_as_none(served: ServedApi) -> None:
    valid = await sign_in_cookie(served.context)
    token = valid.rsplit(".", 1)[0]
    forged = cookies.sign(token, b"another key, another server")
    expired = await sign_in_cookie(served.context, BOB)
    async with served.context.work() as work:
        row = (await work.db.exec(select(SignIn).where(SignIn.token_hash == identity.token_hash(
            cookies.unsign(expired, session_secret(served.settings)) or "")))).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
        work.db.add(row)
    revoked = await sign_in_cookie(served.context)
    async with served.context.work() as work:
        await identity.sign_out(work.db, revoked.rsplit(".", 1)[0])
    for value in (forged, token, expired, revoked, valid + "x", ""):
        async with served.client(cookie=value) as http:
            response = await http.get("/api/me")
        assert (response.status_code, response.json()["error"]["code"]) == (401, "unauthenticated"), value
    async with served.client(cookie=valid) as http:
        assert (await http.get("/api/me")).status_code == 200


async def test_api_tokens_are_shown_once_listed_by_prefix_and_revocable(served: ServedApi) -> None:
    cookie = await sign_in_cookie(served.context)
    async with served.client(cookie=cookie, origin=served.settings.origin) as http:
        created = await http.post("/api/tokens", json={"name": "laptop CLI"})
        assert created.status_code == 201
        token = created.json()["token"]
        assert token.startswith("oi_") and len(token) >= 40
        listed = (await http.get("/api/tokens")).json()
        assert [(t["id"], t["name"], t["prefix"]) for t in listed] == [
            (created.json()["id"], "laptop CLI", token[:10])]
        assert "token" not in listed[0] and token not in (await http.get("/api/tokens")).text
        async with served.client(token=token) as script:
            me = await script.get("/api/me")
            assert {k: me.json()[k] for k in ("name", "email")} == ADA
            revoked = await http.delete(f"/api/tokens/{created.json()['id']}")
            assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
            assert (await script.get("/api/me")).status_code == 401
        assert (await http.get("/api/tokens")).json() == []
        assert (await http.delete("/api/tokens/nope")).json()["error"]["code"] == "token_not_found"


async def test_nobody_revokes_another_persons_token(served: ServedApi) -> None:
    bobs = await api_token(served.context, BOB)
    async with served.client(token=bobs) as bob:
        bob_token_id = (await bob.get("/api/tokens")).json()[0]["id"]
    async with served.client(token=await api_token(served.context)) as ada:
        response = await ada.delete(f"/api/tokens/{bob_token_id}")
        assert (response.status_code, response.json()["error"]["code"]) == (404, "token_not_found")
    async with served.client(token=bobs) as bob:
        assert (await bob.get("/api/me")).status_code == 200


async def test_an_author_in_the_body_cannot_attribute_a_prompt_to_someone_else(served: ServedApi) -> None:
    async with served.client(token=await api_token(served.context, BOB)) as bob:
        session = (await bob.post("/api/sessions", json={"repo_url": "/tmp/anything"})).json()
    mallory = {"name": "Mallory", "email": "mallory@example.com"}
    async with served.client(token=await api_token(served.context, mallory)) as http:
        as_bob = await http.post(f"/api/sessions/{session['id']}/prompts", json={
            "content": "rm -rf", "client_request_id": "r1", "author": {"name": "Evil Bob", "email": BOB["email"]}})
        assert (as_bob.status_code, as_bob.json()["error"]["code"]) == (422, "invalid_request")
        assert "author" in as_bob.json()["error"]["message"]
        created = await http.post("/api/sessions", json={"repo_url": "/tmp/x", "author": BOB})
        assert created.status_code == 422
        mine = await http.post(f"/api/sessions/{session['id']}/prompts",
                               json={"content": "hello", "client_request_id": "r2"})
        assert mine.status_code == 201 and mine.json()["author"] == mallory
    async with served.context.db.session() as db:
        bob_row = (await db.exec(select(User).where(User.email == BOB["email"]))).one()
        messages = (await db.exec(select(Message))).all()
    assert bob_row.name == BOB["name"]  # not renamed
    assert messages and all(m.author_id != bob_row.id for m in messages)
