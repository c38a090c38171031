"""Sign-in with GitHub, the OAuth side: the authorize URL, the state check, the code exchange and refresh
(against the fake GitHub's real OAuth endpoints)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from openinspect_core.github import oauth
from tests.fakes.github import FakeGitHub, serve_fake_github
from tests.fakes.github.tokens import pkce_s256
from tests.fakes.github.world import App

CALLBACK = "http://127.0.0.1:3000/api/auth/github/callback"


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[tuple[FakeGitHub, App, oauth.OAuthConfig]]:
    with serve_fake_github(tmp_path) as gh:
        app = gh.add_app()
        gh.add_user("ada", name="Ada Lovelace", email="ada@example.com")
        yield gh, app, oauth.OAuthConfig(client_id=app.client_id, client_secret=app.client_secret,
                                         web_url=gh.base_url, redirect_uri=CALLBACK)


def authorize_as(url: str, login: str) -> dict[str, list[str]]:
    """What a person does on GitHub's page: open it, type their login, press Authorize; the query GitHub
    sends the browser back with."""
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    with httpx.Client(trust_env=False, follow_redirects=False) as http:
        assert http.get(url).status_code == 200
        answer = http.post(url.split("?", 1)[0], data={**params, "login": login, "authorize": "1"})
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(CALLBACK)
    return parse_qs(urlsplit(location).query)


def test_the_authorize_url_carries_a_fresh_state_and_an_s256_challenge(
        fake: tuple[FakeGitHub, App, oauth.OAuthConfig]) -> None:
    gh, app, config = fake
    url, pending = oauth.start(config, "/sessions/abc")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert url.startswith(f"{gh.base_url}/login/oauth/authorize?")
    assert query["client_id"] == app.client_id and query["redirect_uri"] == CALLBACK
    assert query["response_type"] == "code" and query["state"] == pending.state
    assert query["code_challenge_method"] == "S256"
    assert query["code_challenge"] == pkce_s256(pending.code_verifier)
    assert pending.code_verifier not in url and 43 <= len(pending.code_verifier) <= 128
    assert len(pending.state) >= 40 and pending.next_path == "/sessions/abc"
    _, again = oauth.start(config, "/")
    assert (again.state, again.code_verifier) != (pending.state, pending.code_verifier)


def test_a_wrong_or_missing_state_does_not_match(fake: tuple[FakeGitHub, App, oauth.OAuthConfig]) -> None:
    _, _, config = fake
    _, pending = oauth.start(config, "/")
    assert oauth.state_matches(pending, pending.state)
    assert not oauth.state_matches(pending, pending.state[:-1] + ("A" if pending.state[-1] != "A" else "B"))
    assert not oauth.state_matches(pending, None) and not oauth.state_matches(pending, "")
    assert not oauth.state_matches(None, pending.state)  # no cookie: a sign-in this browser never started


async def test_the_code_is_exchanged_for_expiring_user_tokens(fake: tuple[FakeGitHub, App, oauth.OAuthConfig]) -> None:
    gh, _, config = fake
    url, pending = oauth.start(config, "/")
    back = authorize_as(url, "ada")
    assert back["state"] == [pending.state]
    tokens = await oauth.exchange(config, pending, back["code"][0])
    assert tokens.access_token.startswith("ghu_") and tokens.refresh_token and tokens.refresh_token.startswith("ghr_")
    assert tokens.access_expires_at is not None and tokens.refresh_expires_at is not None
    assert tokens.access_expires_at < tokens.refresh_expires_at
    assert tokens.access_token in gh.issued_tokens()
    assert tokens.access_token not in repr(tokens)  # never in a log line by accident
    with pytest.raises(oauth.OAuthFailed) as reused:  # a code is single use
        await oauth.exchange(config, pending, back["code"][0])
    assert reused.value.code == "bad_verification_code"


async def test_a_code_without_its_verifier_is_refused(fake: tuple[FakeGitHub, App, oauth.OAuthConfig]) -> None:
    _, _, config = fake
    url, pending = oauth.start(config, "/")
    code = authorize_as(url, "ada")["code"][0]
    _, other = oauth.start(config, "/")
    stolen = oauth.PendingSignIn(state=pending.state, code_verifier=other.code_verifier, next_path="/")
    with pytest.raises(oauth.OAuthFailed) as refused:
        await oauth.exchange(config, stolen, code)
    assert refused.value.code == "bad_verification_code"


async def test_refresh_gives_a_new_pair_and_spends_the_old_refresh_token(
        fake: tuple[FakeGitHub, App, oauth.OAuthConfig]) -> None:
    gh, app, config = fake
    first = oauth.UserTokens.from_answer(gh.issue_user_token(app, "ada"))
    assert first.refresh_token is not None
    second = await oauth.refresh(config, first.refresh_token)
    assert second.access_token != first.access_token and second.refresh_token != first.refresh_token
    with pytest.raises(oauth.OAuthFailed) as spent:
        await oauth.refresh(config, first.refresh_token)
    assert spent.value.code == "bad_refresh_token"


async def test_wrong_client_credentials_are_refused(fake: tuple[FakeGitHub, App, oauth.OAuthConfig]) -> None:
    gh, app, config = fake
    wrong = oauth.OAuthConfig(client_id=config.client_id, client_secret="not-it", web_url=config.web_url,
                              redirect_uri=config.redirect_uri)
    refresh = oauth.UserTokens.from_answer(gh.issue_user_token(app, "ada")).refresh_token
    assert refresh is not None
    with pytest.raises(oauth.OAuthFailed) as refused:
        await oauth.refresh(wrong, refresh)
    assert refused.value.code == "incorrect_client_credentials"
