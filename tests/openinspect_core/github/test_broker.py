"""The broker's decision on its own (the route, the sandbox token and git itself are tested in
tests/backend_jobs/test_git_credentials.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path

import pytest

from openinspect_core.db import Database
from openinspect_core.github import broker
from tests.openinspect_core.github.github_world import GitHubWorld, github_session, github_world
from tests.openinspect_core.services.seed import seed


@pytest.fixture
def world(tmp_path: Path, database: Database) -> Iterator[GitHubWorld]:
    with github_world(tmp_path, database) as world:
        yield world


async def test_the_token_is_narrowed_and_cached_and_kept_out_of_repr(world: GitHubWorld) -> None:
    _, session_id = await github_session(world)
    async with world.context.db.session() as db:
        first = await broker.git_credentials(db, world.context.github, session_id)
        second = await broker.git_credentials(db, world.context.github, session_id)
    assert first.password == second.password  # cached until shortly before it expires
    assert first.password not in repr(first)
    assert json.loads(first.to_json()) == {"username": "x-access-token", "password": first.password,
                                           "expires_at": first.expires_at.isoformat()}
    asked = [r for r in world.gh.requests if r.path.endswith("/access_tokens")]
    assert len(asked) == 1


async def test_no_app_or_a_local_repository_is_404(world: GitHubWorld, database: Database) -> None:
    _, session_id = await github_session(world)
    local = await seed(database)
    async with database.session() as db:
        for github, target in ((None, session_id), (world.context.github, local.session_id)):
            with pytest.raises(broker.BrokerRefused) as refused:
                await broker.git_credentials(db, github, target)
            assert refused.value.status == HTTPStatus.NOT_FOUND
