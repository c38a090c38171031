"""The OAuth web flow of the fake: the authorize page, codes, PKCE, token exchange and refresh."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.fakes.github.conftest import Seeded
from tests.fakes.github.tokens import pkce_s256

REDIRECT = "http://127.0.0.1:3999/auth/github/callback"


@pytest.fixture
def web(seeded: Seeded) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=seeded.gh.base_url, trust_env=False) as client:
        yield client


def authorize(web: httpx.Client, seeded: Seeded, login: str, *, verifier: str | None = None,
              state: str = "st4te") -> dict[str, list[str]]:
    """Submit the authorize form as the user would; the query of the redirect."""
    form = {"client_id": seeded.app.client_id, "redirect_uri": REDIRECT, "state": state, "login": login,
            "authorize": "1"}
    if verifier:
        form.update(code_challenge=pkce_s256(verifier), code_challenge_method="S256")
    answer = web.post("/login/oauth/authorize", data=form)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return parse_qs(urlsplit(location).query)


def exchange(web: httpx.Client, seeded: Seeded, **params: str) -> dict[str, Any]:
    body = {"client_id": seeded.app.client_id, "client_secret": seeded.app.client_secret, **params}
    answer = web.post("/login/oauth/access_token", data=body, headers={"Accept": "application/json"})
    assert answer.status_code == 200  # GitHub answers errors with 200 too
    tokens: dict[str, Any] = answer.json()
    return tokens


def test_authorize_page_shows_a_form_prefilled_with_login(seeded: Seeded, web: httpx.Client) -> None:
    page = web.get("/login/oauth/authorize", params={"client_id": seeded.app.client_id, "redirect_uri": REDIRECT,
                                                     "state": "x", "login": "ada"})
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "Authorize openinspect-test" in page.text
    assert "name='login' value='ada'" in page.text and ">Authorize</button>" in page.text
    unknown = web.get("/login/oauth/authorize", params={"client_id": "Iv23linope", "redirect_uri": REDIRECT})
    assert unknown.status_code == 404
    again = web.post("/login/oauth/authorize", data={"client_id": seeded.app.client_id, "redirect_uri": REDIRECT,
                                                     "login": "nobody"})
    assert again.status_code == 200 and "There is no user named" in again.text and "name='login'" in again.text
    far = web.get("/login/oauth/authorize", params={"client_id": seeded.app.client_id,
                                                    "redirect_uri": "https://evil.example.com/cb"})
    assert far.status_code == 400
    cancelled = web.post("/login/oauth/authorize", data={"client_id": seeded.app.client_id, "redirect_uri": REDIRECT,
                                                         "state": "s", "cancel": "1"})
    assert parse_qs(urlsplit(cancelled.headers["location"]).query)["error"] == ["access_denied"]


def test_code_exchange_with_pkce_gives_expiring_user_tokens(seeded: Seeded, web: httpx.Client) -> None:
    verifier = secrets.token_urlsafe(48)
    query = authorize(web, seeded, "ada", verifier=verifier)
    assert query["state"] == ["st4te"]
    code = query["code"][0]
    assert exchange(web, seeded, code=code, redirect_uri=REDIRECT, code_verifier="wrong" + verifier)["error"] == (
        "bad_verification_code")
    tokens = exchange(web, seeded, code=code, redirect_uri=REDIRECT, code_verifier=verifier)
    assert tokens["access_token"].startswith("ghu_") and tokens["refresh_token"].startswith("ghr_")
    assert (tokens["expires_in"], tokens["refresh_token_expires_in"], tokens["token_type"], tokens["scope"]) == (
        28800, 15811200, "bearer", "")
    reused = exchange(web, seeded, code=code, redirect_uri=REDIRECT, code_verifier=verifier)
    assert reused == {"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired.",
                      "error_uri": reused["error_uri"]}
    with httpx.Client(base_url=seeded.gh.api_url, trust_env=False) as api:
        me = api.get("/user", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert me.json()["login"] == "ada"


def test_code_without_pkce_expires_after_ten_minutes_and_checks_client(seeded: Seeded, web: httpx.Client) -> None:
    code = authorize(web, seeded, "ada")["code"][0]
    wrong_secret = web.post("/login/oauth/access_token", data={"client_id": seeded.app.client_id,
                                                                "client_secret": "nope", "code": code},
                            headers={"Accept": "application/json"}).json()
    assert wrong_secret["error"] == "incorrect_client_credentials"
    assert exchange(web, seeded, code=code, redirect_uri="http://127.0.0.1:1/other")["error"] == (
        "redirect_uri_mismatch")
    seeded.gh.advance_clock(601)
    assert exchange(web, seeded, code=code)["error"] == "bad_verification_code"


def test_form_encoded_answer_without_json_accept(seeded: Seeded, web: httpx.Client) -> None:
    code = authorize(web, seeded, "mallory")["code"][0]
    answer = web.post("/login/oauth/access_token", data={"client_id": seeded.app.client_id,
                                                         "client_secret": seeded.app.client_secret, "code": code})
    assert answer.headers["content-type"].startswith("application/x-www-form-urlencoded")
    fields = parse_qs(answer.text)
    assert fields["access_token"][0].startswith("ghu_") and fields["token_type"] == ["bearer"]
    json_body = web.post("/login/oauth/access_token", json={"client_id": seeded.app.client_id,
                                                           "client_secret": seeded.app.client_secret,
                                                           "grant_type": "refresh_token",
                                                           "refresh_token": fields["refresh_token"][0]},
                         headers={"Accept": "application/json"})
    assert json_body.json()["access_token"].startswith("ghu_")


def test_refresh_rotates_and_expired_or_revoked_tokens_are_refused(seeded: Seeded, web: httpx.Client) -> None:
    gh = seeded.gh
    first = exchange(web, seeded, code=authorize(web, seeded, "ada")["code"][0])
    with httpx.Client(base_url=gh.api_url, trust_env=False) as api:
        def status(token: str) -> int:
            return api.get("/user", headers={"Authorization": f"token {token}"}).status_code

        gh.expire_user_tokens("ada")
        expired = api.get("/user", headers={"Authorization": f"token {first['access_token']}"})
        assert expired.status_code == 401 and expired.json()["message"] == "Bad credentials"
        second = exchange(web, seeded, grant_type="refresh_token", refresh_token=first["refresh_token"])
        assert second["refresh_token"] != first["refresh_token"] and status(second["access_token"]) == 200
        assert exchange(web, seeded, grant_type="refresh_token", refresh_token=first["refresh_token"])["error"] == (
            "bad_refresh_token")
        assert status(first["refresh_token"]) == 401  # a refresh token is no access token
        gh.revoke_user_tokens("ada")
        assert status(second["access_token"]) == 401
        assert exchange(web, seeded, grant_type="refresh_token", refresh_token=second["refresh_token"])["error"] == (
            "bad_refresh_token")
    issued = set(gh.issued_tokens())
    assert {first["access_token"], first["refresh_token"], second["access_token"]} <= issued
    assert not any(value in repr(gh.requests) for value in issued)  # the log keeps token ids only
