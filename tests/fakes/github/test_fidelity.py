"""Every REST route of the fake, called over HTTP, its answers checked against GitHub's OpenAPI description.

Each JSON body (successes and errors alike) is validated against the response schema
of that operation and status in ``@octokit/openapi``'s ``api.github.com.json``; the
last test checks that every route of the fake was validated here at least once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.github import routes_apps, routes_repos, routes_users, schemas
from tests.fakes.github.conftest import Seeded

VALIDATED: set[tuple[str, str]] = set()
ALL_ROUTES = {(m, p.replace(":path", "")) for mod in (routes_users, routes_apps, routes_repos)
              for m, p, _ in mod.ROUTES}


def check(response: httpx.Response, method: str, template: str, status: int) -> Any:
    """Assert the status, GitHub's headers and the documented schema; return the JSON body (or None)."""
    assert response.status_code == status, response.text
    assert response.headers["x-github-request-id"]
    assert int(response.headers["x-ratelimit-remaining"]) < int(response.headers["x-ratelimit-limit"])
    body = None
    if response.content:
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        body = response.json()
    errors = schemas.openapi_errors(template, method, status, body)
    assert not errors, f"{method} {template} {status}: {errors[:5]}"
    VALIDATED.add((method, template))
    return body


@pytest.fixture
def api(seeded: Seeded) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=seeded.gh.api_url, trust_env=False) as client:
        yield client


def auth(token: str, scheme: str = "token") -> dict[str, str]:
    return {"Authorization": f"{scheme} {token}"}


def test_user_routes(seeded: Seeded, api: httpx.Client) -> None:
    gh = seeded.gh
    ada = auth(gh.issue_user_token(seeded.app, "ada")["access_token"], "Bearer")
    mallory = auth(gh.issue_user_token(seeded.app, "mallory")["access_token"])

    me = check(api.get("/user", headers=ada), "GET", "/user", 200)
    assert (me["login"], me["id"], me["email"], me["user_view_type"]) == ("ada", seeded.ada.id, "ada@example.com",
                                                                          "private")
    assert check(api.get("/user", headers=mallory), "GET", "/user", 200)["email"] is None
    assert check(api.get("/user"), "GET", "/user", 401)["message"] == "Requires authentication"
    assert check(api.get("/user", headers=auth("ghu_nope")), "GET", "/user", 401)["message"] == "Bad credentials"

    emails = check(api.get("/user/emails", headers=mallory), "GET", "/user/emails", 200)
    assert emails == [
        {"email": "mallory@private.example.com", "primary": True, "verified": True, "visibility": "private"},
        {"email": f"{seeded.mallory.id}+mallory@users.noreply.github.com", "primary": False, "verified": True,
         "visibility": None}]
    assert check(api.get("/user/emails", headers=ada), "GET", "/user/emails", 200)[0]["visibility"] == "public"

    membership = check(api.get("/user/memberships/orgs/acme", headers=ada), "GET", "/user/memberships/orgs/{org}",
                       200)
    assert (membership["state"], membership["role"], membership["organization"]["login"]) == ("active", "member",
                                                                                                "acme")
    check(api.get("/user/memberships/orgs/acme", headers=mallory), "GET", "/user/memberships/orgs/{org}", 404)

    template = "/orgs/{org}/members/{username}"
    check(api.get("/orgs/acme/members/ada", headers=ada), "GET", template, 204)
    check(api.get("/orgs/acme/members/mallory", headers=ada), "GET", template, 404)
    redirect = check(api.get("/orgs/acme/members/ada", headers=mallory), "GET", template, 302)
    assert redirect is None
    installation = auth(gh.issue_installation_token(seeded.inst))
    check(api.get("/orgs/acme/members/ada", headers=installation), "GET", template, 204)
    check(api.get("/orgs/acme/public_members/ada", headers=ada), "GET", "/orgs/{org}/public_members/{username}", 404)


def test_app_routes(seeded: Seeded, api: httpx.Client) -> None:
    gh, inst = seeded.gh, seeded.inst
    jwt = auth(gh.app_jwt(seeded.app), "Bearer")
    app = check(api.get("/app", headers=jwt), "GET", "/app", 200)
    assert (app["id"], app["slug"], app["client_id"], app["installations_count"]) == (
        seeded.app.id, "openinspect-test", "Iv23liTESTCLIENT0001", 1)
    listed = check(api.get("/app/installations", headers=jwt), "GET", "/app/installations", 200)
    assert [i["id"] for i in listed] == [inst.id]
    one = check(api.get(f"/app/installations/{inst.id}", headers=jwt), "GET", "/app/installations/{installation_id}",
                200)
    assert (one["account"]["login"], one["repository_selection"], one["app_slug"]) == ("acme", "selected",
                                                                                       "openinspect-test")
    check(api.get("/app/installations/1", headers=jwt), "GET", "/app/installations/{installation_id}", 404)

    tokens = "/app/installations/{installation_id}/access_tokens"
    full = check(api.post(f"/app/installations/{inst.id}/access_tokens", headers=jwt), "POST", tokens, 201)
    assert full["token"].startswith("ghs_") and full["permissions"]["contents"] == "write"
    assert "repositories" not in full
    narrow = check(api.post(f"/app/installations/{inst.id}/access_tokens", headers=jwt,
                            json={"repositories": ["widgets"], "permissions": {"contents": "read"}}),
                   "POST", tokens, 201)
    assert [r["full_name"] for r in narrow["repositories"]] == ["acme/widgets"]
    assert narrow["permissions"] == {"contents": "read", "metadata": "read"}
    refused = check(api.post(f"/app/installations/{inst.id}/access_tokens", headers=jwt,
                             json={"repositories": ["elsewhere"]}), "POST", tokens, 422)
    assert "not accessible to the parent installation" in refused["message"]
    check(api.post(f"/app/installations/{inst.id}/access_tokens", headers=jwt,
                   json={"permissions": {"administration": "write"}}), "POST", tokens, 422)
    check(api.post(f"/app/installations/{inst.id}/access_tokens", headers=auth(full["token"])), "POST", tokens, 401)

    repos = "/installation/repositories"
    page1 = api.get(repos, headers=auth(full["token"]), params={"per_page": 1})
    body = check(page1, "GET", repos, 200)
    assert body["total_count"] == 2 and len(body["repositories"]) == 1
    assert 'rel="next"' in page1.headers["link"] and 'rel="last"' in page1.headers["link"]
    page2 = api.get(repos, headers=auth(full["token"]), params={"per_page": 1, "page": 2})
    assert check(page2, "GET", repos, 200)["repositories"][0]["full_name"] == "acme/gadgets"
    assert 'rel="prev"' in page2.headers["link"] and 'rel="next"' not in page2.headers["link"]
    assert check(api.get(repos, headers=auth(narrow["token"])), "GET", repos, 200)["total_count"] == 1

    check(api.delete("/installation/token", headers=auth(full["token"])), "DELETE", "/installation/token", 204)
    check(api.get(repos, headers=auth(full["token"])), "GET", repos, 401)

    ada = auth(gh.issue_user_token(seeded.app, "ada")["access_token"])
    mallory = auth(gh.issue_user_token(seeded.app, "mallory")["access_token"])
    mine = check(api.get("/user/installations", headers=ada), "GET", "/user/installations", 200)
    assert [i["id"] for i in mine["installations"]] == [inst.id]
    assert check(api.get("/user/installations", headers=mallory), "GET", "/user/installations", 200) == {
        "total_count": 0, "installations": []}
    user_repos = "/user/installations/{installation_id}/repositories"
    visible = check(api.get(f"/user/installations/{inst.id}/repositories", headers=ada), "GET", user_repos, 200)
    assert {(r["full_name"], r["permissions"]["push"]) for r in visible["repositories"]} == {
        ("acme/widgets", True), ("acme/gadgets", True)}
    check(api.get(f"/user/installations/{inst.id}/repositories", headers=mallory), "GET", user_repos, 404)


def test_repository_routes(seeded: Seeded, api: httpx.Client) -> None:
    gh = seeded.gh
    token = auth(gh.issue_installation_token(seeded.inst))
    repo = check(api.get("/repos/acme/widgets", headers=token), "GET", "/repos/{owner}/{repo}", 200)
    assert (repo["full_name"], repo["private"], repo["default_branch"], repo["clone_url"]) == (
        "acme/widgets", True, "main", f"{gh.base_url}/acme/widgets.git")
    assert repo["permissions"]["push"] is True and repo["organization"]["login"] == "acme"

    branches = check(api.get("/repos/acme/widgets/branches", headers=token), "GET", "/repos/{owner}/{repo}/branches",
                     200)
    assert [b["name"] for b in branches] == ["dev", "feature", "main"]
    assert next(b for b in branches if b["name"] == "feature")["commit"]["sha"] == seeded.feature_sha
    template = "/repos/{owner}/{repo}/branches/{branch}"
    feature = check(api.get("/repos/acme/widgets/branches/feature", headers=token), "GET", template, 200)
    assert feature["commit"]["sha"] == seeded.feature_sha
    assert feature["commit"]["author"]["login"] == "ada"  # linked by the commit's email, as GitHub does
    assert feature["commit"]["commit"]["message"] == "Add feature"
    main = check(api.get("/repos/acme/widgets/branches/main", headers=token), "GET", template, 200)
    assert main["commit"]["author"] == {} and main["commit"]["sha"] == feature["commit"]["parents"][0]["sha"]
    assert check(api.get("/repos/acme/widgets/branches/nope", headers=token), "GET", template, 404)[
        "message"] == "Branch not found"

    mallory = auth(gh.issue_user_token(seeded.app, "mallory")["access_token"])
    check(api.get("/repos/acme/widgets", headers=mallory), "GET", "/repos/{owner}/{repo}", 404)
    check(api.get("/repos/acme/widgets"), "GET", "/repos/{owner}/{repo}", 404)
    assert check(api.get("/repos/acme/gadgets"), "GET", "/repos/{owner}/{repo}", 200)["private"] is False


def test_pull_request_routes(seeded: Seeded, api: httpx.Client) -> None:
    gh = seeded.gh
    ada = auth(gh.issue_user_token(seeded.app, "ada")["access_token"])
    pulls, one = "/repos/{owner}/{repo}/pulls", "/repos/{owner}/{repo}/pulls/{pull_number}"
    created = api.post("/repos/acme/widgets/pulls", headers=ada,
                       json={"title": "Add feature", "head": "feature", "base": "main", "body": "Why"})
    pr = check(created, "POST", pulls, 201)
    assert created.headers["location"] == f"{gh.api_url}/repos/acme/widgets/pulls/1"
    assert (pr["number"], pr["user"]["login"], pr["author_association"], pr["state"]) == (1, "ada", "MEMBER", "open")
    assert (pr["head"]["sha"], pr["head"]["label"], pr["base"]["ref"]) == (seeded.feature_sha, "acme:feature", "main")
    assert (pr["mergeable"], pr["mergeable_state"]) == (None, "unknown")  # computed later, as on GitHub
    assert (pr["commits"], pr["additions"], pr["deletions"], pr["changed_files"]) == (1, 1, 0, 1)

    def refused(payload: dict[str, Any]) -> list[dict[str, Any]]:
        return check(api.post("/repos/acme/widgets/pulls", headers=ada, json=payload), "POST", pulls, 422)["errors"]

    assert refused({"title": "x", "head": "nope", "base": "main"}) == [
        {"resource": "PullRequest", "field": "head", "code": "invalid"}]
    assert refused({"title": "x", "head": "feature", "base": "nope"}) == [
        {"resource": "PullRequest", "field": "base", "code": "invalid"}]
    assert refused({"title": "x", "head": "dev", "base": "main"})[0]["message"] == "No commits between main and dev"
    assert refused({"title": "x", "head": "acme:feature", "base": "main"})[0]["message"] == (
        "A pull request already exists for acme:feature.")

    listed = check(api.get("/repos/acme/widgets/pulls", headers=ada, params={"head": "acme:feature"}), "GET", pulls,
                   200)
    assert [p["number"] for p in listed] == [1]
    assert check(api.get("/repos/acme/widgets/pulls", headers=ada, params={"head": "acme:dev"}), "GET", pulls,
                 200) == []
    assert check(api.get("/repos/acme/widgets/pulls", headers=ada, params={"state": "closed"}), "GET", pulls,
                 200) == []
    got = check(api.get("/repos/acme/widgets/pulls/1", headers=ada), "GET", one, 200)
    assert (got["mergeable"], got["mergeable_state"], got["merged"]) == (True, "clean", False)
    check(api.get("/repos/acme/widgets/pulls/9", headers=ada), "GET", one, 404)

    closed = check(api.patch("/repos/acme/widgets/pulls/1", headers=ada, json={"title": "Better", "state": "closed"}),
                   "PATCH", one, 200)
    assert (closed["title"], closed["state"], closed["merged"]) == ("Better", "closed", False)
    assert closed["closed_at"] is not None
    check(api.patch("/repos/acme/widgets/pulls/1", headers=ada, json={"state": "merged"}), "PATCH", one, 422)
    assert [p["number"] for p in check(api.get("/repos/acme/widgets/pulls", headers=ada, params={"state": "all"}),
                                       "GET", pulls, 200)] == [1]

    gh.commit("acme/widgets", "bot-change", {"BOT.md": "bot\n"}, message="Bot change")
    bot = auth(gh.issue_installation_token(seeded.inst))
    by_bot = check(api.post("/repos/acme/widgets/pulls", headers=bot,
                            json={"title": "Bot", "head": "bot-change", "base": "main"}), "POST", pulls, 201)
    assert (by_bot["user"]["login"], by_bot["user"]["type"]) == ("openinspect-test[bot]", "Bot")
    read_only = auth(gh.issue_installation_token(seeded.inst, permissions={"pull_requests": "read"}))
    check(api.post("/repos/acme/widgets/pulls", headers=read_only,
                   json={"title": "No", "head": "bot-change", "base": "dev"}), "POST", pulls, 403)
    mallory = auth(gh.issue_user_token(seeded.app, "mallory")["access_token"])
    check(api.patch("/repos/acme/widgets/pulls/1", headers=mallory, json={"title": "x"}), "PATCH", one, 404)


def test_every_route_was_validated(request: pytest.FixtureRequest) -> None:
    here = [item for item in request.session.items
            if getattr(item, "module", None) is request.module and item is not request.node]
    if len(here) < 4:
        pytest.skip("only meaningful when the whole module runs")
    assert ALL_ROUTES <= VALIDATED, f"never validated: {sorted(ALL_ROUTES - VALIDATED)}"
