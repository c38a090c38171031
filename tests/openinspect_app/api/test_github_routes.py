"""Signing in with GitHub through the fake GitHub's real authorize page, refusals by code, the repository
picker's routes, sessions from owner/name, and the re-check that signs out someone no longer allowed."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlmodel import select

from openinspect_app.api import github_routes
from openinspect_app.http import cookies
from openinspect_app.http.policy import check_listening
from openinspect_core.db import Database
from openinspect_core.github import accounts, oauth, repos
from openinspect_core.models import GitHubAccount, SignIn, utcnow
from openinspect_core.settings import ConfigError, Settings
from tests.openinspect_core.github.identity_world import ORG, GitHubWorld, github_settings, github_world
from tests.support.system import ADA

HIDDEN = re.compile(r"<input type='hidden' name='([^']*)' value='([^']*)'>")


def on_our_server(world: GitHubWorld, location: str) -> str:
    """The callback GitHub redirects to names the app's public origin (127.0.0.1:3000 here); the test's
    server listens on another port, so the browser's next request goes there instead."""
    parts = urlsplit(location)
    assert parts.path == "/api/auth/github/callback", location
    return f"{parts.path}?{parts.query}"


async def sign_in_through_github(world: GitHubWorld, login: str, *, next_path: str = "/sessions/abc",
                                 cancel: bool = False) -> httpx.Response:
    """A browser: our login route → GitHub's authorize page (followed) → the form posted with ``login`` →
    back to our callback; its answer."""
    assert world.served is not None
    async with httpx.AsyncClient(base_url=world.served.base_url, trust_env=False, timeout=30,
                                 follow_redirects=True) as browser:
        page = await browser.get("/api/auth/github/login", params={"next": next_path})
        assert page.status_code == 200 and str(page.url).startswith(world.gh.base_url), page.text
        assert "Authorize" in page.text and "name='login'" in page.text
        form = dict(HIDDEN.findall(page.text))
        form.update({"login": login, "cancel" if cancel else "authorize": "1"})
        back = await browser.post(f"{world.gh.base_url}/login/oauth/authorize", data=form, follow_redirects=False)
        assert back.status_code == 302, back.text
        return await browser.get(on_our_server(world, back.headers["location"]), follow_redirects=False)


def set_cookies(response: httpx.Response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


def refusal(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 303, response.text
    location = urlsplit(response.headers["location"])
    assert location.path == "/signin"
    assert cookies.COOKIE_NAME not in set_cookies(response)
    return {k: v[0] for k, v in parse_qs(location.query).items()}


async def test_a_member_signs_in_through_github_and_gets_the_cookie(database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path, serve=True) as world:
        answer = await sign_in_through_github(world, "ada")
        assert (answer.status_code, answer.headers["location"]) == (303, "/sessions/abc")
        set = set_cookies(answer)
        session_cookie = set[cookies.COOKIE_NAME]
        assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
        assert set[github_routes.STATE_COOKIE].startswith(f"{github_routes.STATE_COOKIE}=;")  # the state is spent
        value = session_cookie.split(";", 1)[0].split("=", 1)[1]
        assert world.served is not None
        async with world.served.client(cookie=value) as http:
            me = await http.get("/api/me")
        assert (me.status_code, me.json()["name"], me.json()["email"]) == (200, "Ada Lovelace", ADA["email"])
        async with world.context.db.session() as db:
            assert [s.provider for s in (await db.exec(select(SignIn))).all()] == ["github"]
            account = (await db.exec(select(GitHubAccount))).one()
        assert account.login == "ada" and account.access_token and not account.access_token.startswith("ghu_")


async def test_the_state_cookie_is_short_lived_signed_and_scoped(database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path, serve=True) as world:
        assert world.served is not None
        async with world.served.client() as http:
            start = await http.get("/api/auth/github/login", params={"next": "https://evil.example/"})
        assert start.status_code == 303 and start.headers["location"].startswith(world.gh.base_url)
        header = set_cookies(start)[github_routes.STATE_COOKIE]
        for attribute in ("Max-Age=600", "Path=/api/auth/github", "HttpOnly", "SameSite=Lax"):
            assert attribute in header
        value = header.split(";", 1)[0].split("=", 1)[1]
        secret = world.served.api.state.attached.policy.session_secret
        pending = github_routes.unpack_state(value, secret)
        assert pending is not None and pending.next_path == "/"  # an unsafe next is dropped
        assert github_routes.unpack_state(value[:-2] + "xx", secret) is None
        assert github_routes.unpack_state(value, b"another key" * 4) is None
        assert cookies.unsign(value, secret) is None  # never a sign-in cookie
        later = github_routes.pack_state(oauth.PendingSignIn("s", "v" * 50, "/"), secret, now=0)
        assert github_routes.unpack_state(later, secret, now=599) is not None
        assert github_routes.unpack_state(later, secret, now=601) is None  # ten minutes, then worthless


async def test_an_outsider_is_refused_with_github_not_allowed(database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path, serve=True) as world:
        assert refusal(await sign_in_through_github(world, "eve")) == {"error": "github_not_allowed", "login": "eve"}
        async with world.context.db.session() as db:
            assert (await db.exec(select(SignIn))).all() == [] and (await db.exec(select(GitHubAccount))).all() == []


async def test_cancelling_on_github_is_github_denied(database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path, serve=True) as world:
        assert refusal(await sign_in_through_github(world, "ada", cancel=True))["error"] == "github_denied"


async def test_a_callback_with_another_state_or_no_cookie_is_refused(database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path, serve=True) as world:
        assert world.served is not None
        async with world.served.client() as http:
            start = await http.get("/api/auth/github/login")
            state_cookie = set_cookies(start)[github_routes.STATE_COOKIE].split(";", 1)[0]
            wrong = await http.get("/api/auth/github/callback", params={"code": "abc", "state": "not-it"},
                                   headers={"Cookie": state_cookie})
            none = await http.get("/api/auth/github/callback", params={"code": "abc", "state": "x"})
        assert refusal(wrong)["error"] == "github_state_mismatch"
        assert refusal(none)["error"] == "github_state_mismatch"


async def test_local_sign_in_is_off_with_github(database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path, serve=True) as world:
        assert world.served is not None
        async with world.served.client() as http:
            local = await http.post("/api/auth/local", json=ADA)
        assert (local.status_code, local.json()["error"]["code"]) == (403, "local_sign_in_unavailable")


async def test_a_signed_in_person_removed_from_the_organisation_is_signed_out(
        database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path, serve=True) as world:
        answer = await sign_in_through_github(world, "ada")
        value = set_cookies(answer)[cookies.COOKIE_NAME].split(";", 1)[0].split("=", 1)[1]
        assert world.served is not None
        with world.gh.world.lock:
            world.gh.world.account(ORG).members.pop("ada")  # type: ignore[union-attr]
        async with world.served.client(cookie=value) as http:
            assert (await http.get("/api/me")).status_code == 200  # verified minutes ago
            async with world.context.db.writer() as db:
                row = (await db.exec(select(GitHubAccount))).one()
                row.updated_at = utcnow() - accounts.RECHECK_INTERVAL - timedelta(seconds=1)
                db.add(row)
                await db.commit()
            refused = await http.get("/api/me")
            assert (refused.status_code, refused.json()["error"]["code"]) == (401, "unauthenticated")
            assert (await http.get("/api/me")).status_code == 401  # the sign-in is gone, not just refused once


async def test_the_repository_picker_routes_and_a_session_from_owner_and_name(
        database: Database, tmp_path: Path) -> None:
    async with github_world(database, tmp_path, serve=True) as world:
        await repos.sync(world.context)
        value = set_cookies(await sign_in_through_github(world, "ada"))[cookies.COOKIE_NAME]
        assert world.served is not None
        async with world.served.client(cookie=value.split(";", 1)[0].split("=", 1)[1],
                                       origin=world.served.settings.origin) as http:
            found = (await http.get("/api/repos", params={"q": "widg"})).json()
            assert found == [{"full_name": f"{ORG}/widgets", "default_branch": "main", "private": True,
                              "description": "Widgets for everyone"}]
            assert len((await http.get("/api/repos")).json()) == 2
            branches = (await http.get(f"/api/repos/{ORG}/widgets/branches")).json()
            assert branches == [{"name": "main", "default": True}, {"name": "dev", "default": False}]
            assert (await http.get(f"/api/repos/{ORG}/secret/branches")).status_code == 404
            created = await http.post("/api/sessions", json={"repo": f"{ORG}/widgets", "title": "Tidy up"})
            assert created.status_code == 201, created.text
            assert created.json()["repo"]["url"] == f"{world.gh.base_url}/{ORG}/widgets.git"
            by_url = await http.post("/api/sessions", json={"repo_url": "https://github.com/acme/widgets"})
            assert (by_url.status_code, by_url.json()["error"]["code"]) == (422, "github_repo_required")
            both = await http.post("/api/sessions", json={"repo": f"{ORG}/widgets", "repo_url": "/tmp/x"})
            assert both.status_code == 422


def test_github_sign_in_may_listen_beyond_loopback_and_needs_the_app(tmp_path: Path) -> None:
    from tests.fakes.github import serve_fake_github
    with serve_fake_github(tmp_path / "gh") as gh:
        app = gh.add_app()
        check_listening(github_settings(gh, app, tmp_path / "data", web_host="0.0.0.0"))
    without_app = Settings.from_env({"OPENINSPECT_DATA_DIR": str(tmp_path / "d")}, identity_provider="github",
                                    github_client_id="x", github_client_secret="y", web_host="0.0.0.0")
    with pytest.raises(ConfigError, match="OPENINSPECT_GITHUB_APP_ID"):
        check_listening(without_app)
