"""Pushes and the agent's pull requests through ingestion and the bridge, against the fake GitHub, on
SQLite and PostgreSQL: a turn with commits asks for a push, ``push_complete`` records the branch,
``push_error`` stays on the timeline, and the agent's request is answered with the PR it opened."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import openinspect_protocol as p
import pytest
from openinspect_protocol.timeline import PullRequestChanged
from sqlmodel import select
from websockets.asyncio.client import connect

from backend_jobs.bridge_server import BridgeConnections
from backend_jobs.ingestion import Ingestor
from backend_jobs.pull_requests import AgentPullRequests
from openinspect_core.db import Database
from openinspect_core.models import Artifact, Message, Session, User
from openinspect_core.notify.local import Notifier
from tests.backend_jobs.test_git_credentials import bridge_server, sandbox_for
from tests.openinspect_core.github.github_world import FULL_NAME, ORG, REPO, GitHubWorld, github_session, github_world
from tests.openinspect_core.services.seed import seed, timeline_of

WAIT_SECONDS = 15.0


@pytest.fixture
def world(tmp_path: Path, database: Database) -> Iterator[GitHubWorld]:
    with github_world(tmp_path, database) as world:
        yield world


async def prompt_of(database: Database, session_id: str, author: User, sandbox_id: str) -> str:
    async with database.session() as db:
        message = Message(session_id=session_id, author_id=author.id, content="Make the widgets blue",
                          client_request_id=f"r-{session_id}", status="running", sandbox_id=sandbox_id)
        db.add(message)
        await db.commit()
        return message.id


def commit(seq: int, sha: str, message_id: str) -> p.Artifact:
    return p.Artifact(seq=seq, kind="commit", ref=sha, message_id=message_id, data={"subject": f"commit {sha[:4]}"})


async def test_a_turn_with_commits_asks_for_a_push_and_push_complete_records_the_branch(world: GitHubWorld) -> None:
    ada, session_id = await github_session(world)
    sandbox_id = await sandbox_for(world.context.db, session_id, "t")
    message_id = await prompt_of(world.context.db, session_id, ada, sandbox_id)
    ingestor = Ingestor(world.context.db, world.context.notifier)
    await ingestor.ingest(session_id, sandbox_id, commit(1, "a" * 40, message_id))
    await ingestor.ingest(session_id, sandbox_id, commit(2, "b" * 40, message_id))
    ended = await ingestor.ingest(session_id, sandbox_id, p.ExecutionComplete(seq=3, success=True,
                                                                               message_id=message_id))
    async with world.context.db.session() as db:
        session = await db.get(Session, session_id)
        assert session is not None and session.work_branch is not None
    branch = session.work_branch
    assert ended.send == (p.Push(branch=branch, message_id=message_id),)

    await ingestor.ingest(session_id, sandbox_id, p.PushComplete(seq=4, branch=branch, head_sha="b" * 40))
    await ingestor.ingest(session_id, sandbox_id, p.PushComplete(seq=5, branch=branch, head_sha="c" * 40))
    async with world.context.db.session() as db:
        session = await db.get(Session, session_id)
        branches = (await db.exec(select(Artifact).where(Artifact.session_id == session_id,
                                                         Artifact.kind == "branch"))).all()
    assert session is not None and session.pushed_sha == "c" * 40
    [row] = branches  # upserted, not one row per push
    assert (row.ref, row.data["head_sha"]) == (branch, "c" * 40)
    assert row.data["url"] == f"{world.gh.base_url}/{FULL_NAME}/tree/{branch}"
    assert "push_complete" in [e.type for e in await timeline_of(world.context.db, session_id)]

    # Nothing new since that push: the next turn asks for none.
    again = await ingestor.ingest(session_id, sandbox_id, p.ExecutionComplete(seq=6, success=True,
                                                                               message_id=message_id))
    assert again.send == ()


async def test_a_failed_push_stays_on_the_timeline_and_is_retried_after_the_next_turn(world: GitHubWorld) -> None:
    ada, session_id = await github_session(world)
    sandbox_id = await sandbox_for(world.context.db, session_id, "t")
    message_id = await prompt_of(world.context.db, session_id, ada, sandbox_id)
    ingestor = Ingestor(world.context.db, world.context.notifier)
    await ingestor.ingest(session_id, sandbox_id, commit(1, "a" * 40, message_id))
    first = await ingestor.ingest(session_id, sandbox_id, p.ExecutionComplete(seq=2, success=True,
                                                                               message_id=message_id))
    branch = first.send[0].branch
    leaked = "ghs_" + "x" * 36
    await ingestor.ingest(session_id, sandbox_id, p.PushError(
        seq=3, branch=branch, code="push_rejected",
        message=f"the remote refused the push: https://x-access-token:{leaked}@github.example (non-fast-forward)"))
    [error] = [e for e in await timeline_of(world.context.db, session_id) if isinstance(e, p.PushError)]
    assert error.code == "push_rejected" and "the remote refused the push" in error.message
    assert leaked not in error.message
    retried = await ingestor.ingest(session_id, sandbox_id, p.ExecutionComplete(seq=4, success=True,
                                                                                 message_id=message_id))
    assert retried.send == (p.Push(branch=branch, message_id=message_id),)


async def test_a_local_repository_is_never_pushed(database: Database) -> None:
    seeded = await seed(database)
    sandbox_id = await sandbox_for(database, seeded.session_id, "t")
    message_id = await prompt_of(database, seeded.session_id, seeded.user, sandbox_id)
    ingestor = Ingestor(database, Notifier())
    await ingestor.ingest(seeded.session_id, sandbox_id, commit(1, "a" * 40, message_id))
    ended = await ingestor.ingest(seeded.session_id, sandbox_id, p.ExecutionComplete(seq=2, success=True,
                                                                                      message_id=message_id))
    assert ended.send == ()


async def test_the_agents_request_is_handed_back_for_the_bridge(world: GitHubWorld) -> None:
    ada, session_id = await github_session(world)
    sandbox_id = await sandbox_for(world.context.db, session_id, "t")
    message_id = await prompt_of(world.context.db, session_id, ada, sandbox_id)
    request = p.PullRequestRequested(seq=1, request_id="req-1", title="Blue", message_id=message_id)
    result = await Ingestor(world.context.db, world.context.notifier).ingest(session_id, sandbox_id, request)
    assert result.pull_request == request and result.send == ()


async def agent_asks(world: GitHubWorld, session_id: str, token: str, request: p.PullRequestRequested,
                     user_tokens: dict[str, str]) -> p.PullRequestResult:
    """A sandbox's bridge connects, sends the request, and waits for the answer."""

    async def user_token(_ctx: object, user_id: str) -> str | None:
        return user_tokens.get(user_id)

    connections = BridgeConnections()
    answering = AgentPullRequests(world.context, connections, user_token=user_token)
    async with bridge_server(world, answering, connections) as base_url:
        url = base_url.replace("http://", "ws://") + f"/bridge/{session_id}"
        headers = {"Authorization": f"Bearer {token}", p.PROTOCOL_HEADER: str(p.PROTOCOL_VERSION)}
        async with connect(url, additional_headers=headers) as websocket:
            await websocket.send(request.to_json())
            async with asyncio.timeout(WAIT_SECONDS):
                while True:
                    command = p.parse_command(await websocket.recv())
                    if isinstance(command, p.PullRequestResult):
                        await answering.close()
                        return command


async def test_the_agents_pull_request_is_opened_as_the_prompts_author(world: GitHubWorld) -> None:
    ada, session_id = await github_session(world, pushed=True)
    sandbox_id = await sandbox_for(world.context.db, session_id, "t")
    message_id = await prompt_of(world.context.db, session_id, ada, sandbox_id)
    request = p.PullRequestRequested(seq=1, request_id="req-1", title="Blue widgets", body="Made them blue.",
                                     message_id=message_id)
    answer = await agent_asks(world, session_id, "t", request, {ada.id: world.user_token("ada")})
    [pr] = world.gh.pulls(ORG, REPO)
    assert (answer.request_id, answer.url, answer.number, answer.error) == ("req-1", pr["html_url"], pr["number"],
                                                                            None)
    assert pr["user"]["login"] == "ada" and pr["title"] == "Blue widgets"
    [changed] = [e for e in await timeline_of(world.context.db, session_id) if isinstance(e, PullRequestChanged)]
    assert changed.requested_by is not None and changed.requested_by.id == ada.id
    async with world.context.db.session() as db:
        [artifact] = (await db.exec(select(Artifact).where(Artifact.kind == "pr"))).all()
    assert artifact.message_id == message_id


async def test_the_agent_hears_why_there_is_no_pull_request(world: GitHubWorld) -> None:
    ada, session_id = await github_session(world, pushed=False)
    sandbox_id = await sandbox_for(world.context.db, session_id, "t")
    message_id = await prompt_of(world.context.db, session_id, ada, sandbox_id)
    request = p.PullRequestRequested(seq=1, request_id="req-2", message_id=message_id)
    answer = await agent_asks(world, session_id, "t", request, {})
    assert answer.url is None and answer.error is not None and "nothing has been pushed yet" in answer.error
    assert world.gh.pulls(ORG, REPO) == []
