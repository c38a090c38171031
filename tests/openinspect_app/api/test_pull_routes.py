"""The pull request routes on a real HTTP server, against the fake GitHub, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from openinspect_core.db import Database
from openinspect_core.models import Session
from tests.openinspect_core.github.github_world import ORG, REPO, GitHubWorld, github_session, github_world
from tests.support.system import ServedApi, api_token, served_api


@pytest.fixture
async def served(database: Database, tmp_path: Path) -> AsyncIterator[tuple[ServedApi, GitHubWorld]]:
    with github_world(tmp_path, database) as world:
        gh, app = world.gh, world.app
        async with served_api(database, tmp_path / "api", github_app_id=str(app.id),
                              github_app_private_key=app.private_key_pem, github_url=gh.base_url,
                              github_api_url=gh.api_url) as api:
            yield api, world


async def test_the_draft_and_then_the_pull_request(served: tuple[ServedApi, GitHubWorld]) -> None:
    api, world = served
    _, session_id = await github_session(world, title="Blue widgets", pushed=True)
    async with api.client(token=await api_token(api.context)) as http:
        drafted = await http.get(f"/api/sessions/{session_id}/pull-request/draft")
        opened = await http.post(f"/api/sessions/{session_id}/pull-request", json={"body": "Made them blue."})
        again = await http.post(f"/api/sessions/{session_id}/pull-request", json={})
    assert drafted.status_code == 200
    assert drafted.json()["title"] == "Blue widgets"
    assert f"{api.settings.origin}/sessions/{session_id}" in drafted.json()["body"]
    assert opened.status_code == 201, opened.text
    [pr] = world.gh.pulls(ORG, REPO)
    card = opened.json()
    assert (card["number"], card["url"], card["title"], card["state"]) == (pr["number"], pr["html_url"],
                                                                          "Blue widgets", "open")
    # Ada signed in locally (no GitHub account): the App opened it, saying who asked.
    assert card["opened_as"] == "app" and "Ada Lovelace" in pr["body"] and pr["body"].startswith("Made them blue.")
    assert card["requested_by"]["email"] == "ada@example.com"
    assert again.status_code == 201 and again.json()["number"] == pr["number"]
    assert len(world.gh.pulls(ORG, REPO)) == 1


async def test_nothing_pushed_is_409_and_github_refusing_is_502(served: tuple[ServedApi, GitHubWorld]) -> None:
    api, world = served
    _, unpushed = await github_session(world)
    _, empty = await github_session(world, pushed=True)
    async with world.context.work() as work:  # its base is its own branch: nothing to merge, GitHub says 422
        session = await work.db.get(Session, empty)
        assert session is not None
        session.branch = session.work_branch
        work.db.add(session)
    async with api.client(token=await api_token(api.context)) as http:
        nothing = await http.post(f"/api/sessions/{unpushed}/pull-request", json={})
        refused = await http.post(f"/api/sessions/{empty}/pull-request", json={"title": "T"})
        unknown = await http.post("/api/sessions/nope/pull-request", json={})
    assert (nothing.status_code, nothing.json()["error"]["code"]) == (409, "nothing_pushed")
    assert "nothing has been pushed yet" in nothing.json()["error"]["message"]
    assert (refused.status_code, refused.json()["error"]["code"]) == (502, "github_refused")
    assert "422" in refused.json()["error"]["message"]
    assert unknown.status_code == 404
    assert world.gh.pulls(ORG, REPO) == []


async def test_the_routes_need_a_caller(served: tuple[ServedApi, GitHubWorld]) -> None:
    api, world = served
    _, session_id = await github_session(world, pushed=True)
    async with api.client() as http:
        drafted = await http.get(f"/api/sessions/{session_id}/pull-request/draft")
        opened = await http.post(f"/api/sessions/{session_id}/pull-request", json={})
    assert (drafted.status_code, opened.status_code) == (401, 401)
    assert world.gh.pulls(ORG, REPO) == []
