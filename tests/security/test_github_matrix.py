"""The authorization matrix with GitHub on: every route, with every credential GitHub adds that must not
work, and the credential broker with every sandbox token that must not get a token.

- A person signed in while a member, then removed from the organisation ("signed-in non-member"), and
  a person whose GitHub token expired and cannot be refreshed: every protected route refuses (401) and
  nothing changes but the ending of their own sign-ins and tokens.
- The webhook (public: its signature is its credential): unsigned, wrongly signed, signed with another
  secret — 401, nothing stored.
- The credential broker on the bridge server: no token, a forged one, an API token, another session's
  sandbox token, an ended sandbox's — refused, nothing changed, no GitHub token minted.

Routes come from the API's own route table, so a new route is in the matrix the moment it exists.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from backend_jobs import tokens as sandbox_tokens
from openinspect_app.api.route_table import HttpRoute, http_routes
from openinspect_app.http import cookies
from openinspect_app.http.policy import session_secret
from openinspect_core.db import Database
from openinspect_core.github import accounts, repos
from openinspect_core.models import GitHubAccount, Sandbox, SandboxStatus, utcnow
from tests.openinspect_core.github.identity_world import WEBHOOK_SECRET, GitHubWorld, github_world
from tests.security.test_authorization_matrix import refused_everywhere, snapshot
from tests.support.system import ServedApi

# Rows a refused GitHub credential may change: its own sign-ins revoked, its GitHub tokens cleared.
CREDENTIAL_TABLES = {"sign_in", "github_account", "api_token"}


@pytest.fixture
async def world(database: Database, tmp_path: Path) -> AsyncIterator[GitHubWorld]:
    async with github_world(database, tmp_path, serve=True) as world:
        await repos.sync(world.context)
        yield world


def served(world: GitHubWorld) -> ServedApi:
    assert world.served is not None
    return world.served


async def signed_in(world: GitHubWorld, login: str) -> str:
    """A sign-in cookie for ``login`` as the GitHub sign-in would have made it (when they were allowed)."""
    profile = await accounts.fetch_profile(world.context.github, world.tokens_for(login).access_token)  # type: ignore[arg-type]
    async with world.context.work() as work:
        _, token = await accounts.sign_in_github(work.db, world.context.cipher, profile, world.tokens_for(login),
                                                 ttl_seconds=3600)
    return cookies.sign(token, session_secret(world.context.settings))


async def verified_long_ago(world: GitHubWorld, login: str) -> None:
    """Their access was last checked more than the re-check interval ago: the next request asks GitHub."""
    async with world.context.work() as work:
        account = (await work.db.exec(select(GitHubAccount).where(GitHubAccount.login == login))).one()
        account.updated_at = utcnow() - accounts.RECHECK_INTERVAL - timedelta(minutes=1)
        work.db.add(account)


async def ids(world: GitHubWorld) -> dict[str, str]:
    """Real rows for every path parameter: Ada's session on acme/widgets with a queued prompt."""
    cookie = await signed_in(world, "ada")
    api = served(world)
    async with api.client(cookie=cookie, origin=api.settings.origin) as http:
        session = (await http.post("/api/sessions", json={"repo": "acme/widgets"})).json()
        message = (await http.post(f"/api/sessions/{session['id']}/prompts",
                                   json={"content": "hello", "client_request_id": "r1"})).json()
        token = (await http.post("/api/tokens", json={"name": "laptop"})).json()
    return {"session_id": session["id"], "message_id": message["id"], "token_id": token["id"],
            "owner": "acme", "repo": "widgets", "repo_id": session["repo"]["id"], "name": "API_KEY"}


async def non_member(world: GitHubWorld) -> dict[str, str]:
    world.gh.add_user("frank", name="Frank Formerly", email="frank@example.com", orgs=["acme"])
    cookie = await signed_in(world, "frank")
    world.gh.world.account("acme").members.pop("frank")  # removed from the organisation on GitHub
    await verified_long_ago(world, "frank")
    return {"Cookie": f"{cookies.COOKIE_NAME}={cookie}"}


async def dead_github_token(world: GitHubWorld) -> dict[str, str]:
    world.gh.add_user("grace", name="Grace Hopper", email="grace@example.com", orgs=["acme"])
    cookie = await signed_in(world, "grace")
    world.gh.expire_user_tokens("grace")
    world.gh.revoke_user_tokens("grace")  # the refresh token is dead too
    await verified_long_ago(world, "grace")
    return {"Cookie": f"{cookies.COOKIE_NAME}={cookie}"}


GITHUB_CREDENTIALS: dict[str, Callable[[GitHubWorld], Awaitable[dict[str, str]]]] = {
    "signed-in non-member": non_member,
    "expired GitHub token": dead_github_token,
}


def protected(world: GitHubWorld) -> list[HttpRoute]:
    return [r for r in http_routes(served(world).api) if not r.public]


@pytest.mark.parametrize("credential", list(GITHUB_CREDENTIALS))
async def test_every_protected_route_refuses_a_person_github_no_longer_allows(world: GitHubWorld,
                                                                               credential: str) -> None:
    values = await ids(world)
    headers = await GITHUB_CREDENTIALS[credential](world)
    api = served(world)
    headers["Origin"] = api.settings.origin
    routes = protected(world)
    assert {"/api/sessions/{session_id}/pull-request", "/api/repos"} <= {r.path for r in routes}
    before = await snapshot(api)
    await refused_everywhere(api, routes, values, headers, credential)
    after = await snapshot(api)
    assert {t: rows for t, rows in after.items() if t not in CREDENTIAL_TABLES} == \
        {t: rows for t, rows in before.items() if t not in CREDENTIAL_TABLES}, credential


def signed(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("signature", ["missing", "empty", "garbage", "another secret", "sha1", "another body"])
async def test_a_webhook_without_the_right_signature_is_refused_and_stores_nothing(world: GitHubWorld,
                                                                                   signature: str) -> None:
    await ids(world)
    api = served(world)
    body = json.dumps(world.gh.installation_repositories_webhook(world.installation_id,
                                                                 removed=["acme/widgets"])).encode()
    header = {"missing": None, "empty": "", "garbage": "sha256=zz", "another secret": signed(body, "not-it"),
              "sha1": "sha1=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha1).hexdigest(),
              "another body": signed(b"{}", WEBHOOK_SECRET)}[signature]
    headers = {"X-GitHub-Event": "installation_repositories", "X-GitHub-Delivery": "d-1",
               "Content-Type": "application/json"} | ({"X-Hub-Signature-256": header} if header is not None else {})
    before = await snapshot(api)
    async with api.client() as http:
        response = await http.post("/api/github/webhooks", content=body, headers=headers)
    assert response.status_code == 401, response.text
    assert await snapshot(api) == before


# -- the credential broker ------------------------------------------------------------------------------


async def _sandbox(world: GitHubWorld, session_id: str, status: SandboxStatus) -> str:
    token = sandbox_tokens.new_token()
    async with world.context.work() as work:
        work.db.add(Sandbox(session_id=session_id, backend="test", status=status,
                            auth_token_hash=sandbox_tokens.token_hash(token)))
    return token


async def broker_cases(world: GitHubWorld, session_id: str) -> dict[str, dict[str, str]]:
    api = served(world)
    async with api.client(cookie=await signed_in(world, "ada"), origin=api.settings.origin) as http:
        other = (await http.post("/api/sessions", json={"repo": "acme/gadgets"})).json()
        api_token = (await http.post("/api/tokens", json={"name": "script"})).json()["token"]
    return {
        "no credentials": {},
        "forged sandbox token": {"Authorization": f"Bearer {sandbox_tokens.new_token()}"},
        "an API token": {"Authorization": f"Bearer {api_token}"},
        "another session's sandbox token": {
            "Authorization": f"Bearer {await _sandbox(world, other['id'], SandboxStatus.READY)}"},
        "an ended sandbox's token": {
            "Authorization": f"Bearer {await _sandbox(world, session_id, SandboxStatus.STOPPED)}"},
    }


async def test_the_credential_broker_refuses_every_token_but_its_sandbox_own(world: GitHubWorld) -> None:
    from tests.backend_jobs.test_git_credentials import bridge_server  # the bridge server with its real handler

    values = await ids(world)
    cases = await broker_cases(world, values["session_id"])
    minted = len(world.gh.issued_tokens())
    before = await snapshot(served(world))
    async with bridge_server(world) as base_url, httpx.AsyncClient(trust_env=False) as http:  # type: ignore[arg-type]
        for name, headers in cases.items():
            response = await http.get(f"{base_url}/bridge/{values['session_id']}/git-credentials", headers=headers)
            assert response.status_code in (401, 403), (name, response.status_code, response.text)
            assert "password" not in response.text
        own = await _sandbox(world, values["session_id"], SandboxStatus.READY)
        answer = await http.get(f"{base_url}/bridge/{values['session_id']}/git-credentials",
                                headers={"Authorization": f"Bearer {own}"})
    assert answer.status_code == 200 and answer.json()["password"].startswith("ghs_")  # the matrix is live
    after = await snapshot(served(world))
    assert after["sandbox"] != before["sandbox"]  # only the sandbox added for the positive case
    assert {t: r for t, r in after.items() if t != "sandbox"} == {t: r for t, r in before.items() if t != "sandbox"}
    assert len(world.gh.issued_tokens()) == minted + 1  # nothing minted for a refused caller

