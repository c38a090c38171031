"""App JWT checks, token lifetimes and who may call what, as GitHub answers them."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.github import app_jwt
from tests.fakes.github.app_jwt import generate_key_pair, make_app_jwt
from tests.fakes.github.conftest import Seeded


@pytest.fixture
def api(seeded: Seeded) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=seeded.gh.api_url, trust_env=False) as client:
        yield client


def get_app(api: httpx.Client, token: str) -> httpx.Response:
    return api.get("/app", headers={"Authorization": f"Bearer {token}"})


def test_app_jwt_claims_are_checked(seeded: Seeded, api: httpx.Client) -> None:
    gh, app = seeded.gh, seeded.app
    now = int(time.time())
    for iss in (app.id, str(app.id), app.client_id):
        assert get_app(api, gh.app_jwt(app, iss=iss)).status_code == 200

    def refusal(token: str) -> tuple[int, str]:
        answer = get_app(api, token)
        return answer.status_code, answer.json()["message"]

    assert refusal(gh.app_jwt(app, exp=now - 5)) == (401, app_jwt.EXP_PAST)
    assert refusal(gh.app_jwt(app, exp=now + 660)) == (401, app_jwt.EXP_TOO_FAR)
    assert refusal(gh.app_jwt(app, iat=now + 300)) == (401, app_jwt.IAT_BAD)
    other_key, _ = generate_key_pair()
    assert refusal(make_app_jwt(other_key, app.id, iat=now - 60, exp=now + 540)) == (401, app_jwt.NOT_DECODED)
    assert refusal(gh.app_jwt(app, iss=999_999)) == (404, app_jwt.NOT_FOUND)
    assert refusal(make_app_jwt("s" * 64, app.id, iat=now, exp=now + 60, algorithm="HS256")) == (
        401, app_jwt.NOT_DECODED)
    gh.advance_clock(600)  # the fake's clock moved on: a JWT made before is now expired
    assert refusal(gh.app_jwt(app, iat=now - 60, exp=now + 540)) == (401, app_jwt.EXP_PAST)


def test_each_credential_reaches_only_its_routes(seeded: Seeded, api: httpx.Client) -> None:
    gh = seeded.gh
    jwt = {"Authorization": f"Bearer {gh.app_jwt(seeded.app)}"}
    installation = {"Authorization": f"token {gh.issue_installation_token(seeded.inst)}"}
    user = {"Authorization": f"token {gh.issue_user_token(seeded.app, 'ada')['access_token']}"}
    assert api.get("/user", headers=jwt).status_code == 403
    assert api.get("/user", headers=installation).json()["message"] == "Resource not accessible by integration"
    assert api.get("/app", headers=installation).status_code == 401
    assert api.get("/installation/repositories", headers=user).status_code == 403
    assert api.get("/repos/acme/widgets", headers=jwt).status_code == 404
    assert api.get("/nothing/here", headers=user).json()["message"] == "Not Found"
    no_title = api.post("/repos/acme/widgets/pulls", headers=user, json={"head": "feature", "base": "main"})
    assert no_title.status_code == 422 and no_title.json()["message"] == 'Invalid request.\n\n"title" wasn\'t supplied.'
    bad_json = api.post("/repos/acme/widgets/pulls", headers=user, content=b"{nope")
    assert bad_json.status_code == 400 and bad_json.json()["message"] == "Problems parsing JSON"


def test_installation_tokens_expire_after_an_hour_and_suspension_stops_them(seeded: Seeded,
                                                                           api: httpx.Client) -> None:
    gh = seeded.gh
    token = gh.issue_installation_token(seeded.inst)
    headers = {"Authorization": f"token {token}"}
    assert api.get("/installation/repositories", headers=headers).status_code == 200
    gh.advance_clock(3601)
    assert api.get("/installation/repositories", headers=headers).status_code == 401

    gh.installation_webhook(seeded.inst, "suspend")
    jwt = {"Authorization": f"Bearer {gh.app_jwt(seeded.app)}"}
    refused = api.post(f"/app/installations/{seeded.inst.id}/access_tokens", headers=jwt)
    assert refused.status_code == 403
    gh.installation_webhook(seeded.inst, "unsuspend")
    assert api.post(f"/app/installations/{seeded.inst.id}/access_tokens", headers=jwt).status_code == 201
    assert [r.auth for r in gh.requests[-2:]] == ["jwt", "jwt"]
