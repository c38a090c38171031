"""A whole session — real sandbox runtime, real OpenCode, the scripted model — reaching the model
through the proxy: the model sees the control plane's key, the sandbox only its own token, and every
call it made is a ModelUsage row of that session and sandbox."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from backend_jobs import tokens
from openinspect_core.models import Sandbox
from tests.backend_jobs.model_proxy.running import system_with_model, usage_of
from tests.fakes.scripted_model import ScriptedModel
from tests.support.system import WAIT_SECONDS, make_repo

REAL_KEY = "sk-the-control-planes-own-key"


@pytest.fixture
def keyed_model() -> Iterator[ScriptedModel]:
    """The scripted model, answering only calls that carry the real key (else 401)."""
    with ScriptedModel(api_key=REAL_KEY) as model:
        yield model


async def test_a_session_reaches_the_model_through_the_proxy_and_every_call_is_metered(
        tmp_path: Path, database_url: str, keyed_model: ScriptedModel) -> None:
    repo = make_repo(tmp_path / "project", {"README.md": "# Project\n"})
    async with system_with_model(tmp_path, database_url, keyed_model, REAL_KEY) as running:
        session = await running.create_session(repo)
        message = await running.prompt(session["id"], '#script write-file path=hello.txt content="hi there"')
        finished = await running.wait_for_prompt_end(session["id"], message["id"])
        assert finished["data"]["status"] == "completed", finished
        # The session's title request may still be on its way: wait until every call the model got is
        # on the books (each row is written before its answer ends).
        async with asyncio.timeout(WAIT_SECONDS):
            while len(rows := await usage_of(running, session["id"])) < len(keyed_model.requests):
                await asyncio.sleep(0.1)
        async with running.system.db.session() as db:
            [sandbox] = (await db.exec(select(Sandbox).where(Sandbox.session_id == session["id"]))).all()
        proxy_url = running.system.jobs.model_proxy.url if running.system.jobs else ""

    assert (running.workspace(session["id"]) / "repo" / "hello.txt").read_text() == "hi there"
    calls = keyed_model.requests
    assert {call.kind for call in calls} >= {"chat", "title"}
    assert all({k.lower(): v for k, v in call.headers.items()}.get("authorization") == f"Bearer {REAL_KEY}"
               for call in calls)
    assert len(rows) == len(calls)
    assert all((row.sandbox_id, row.model) == (sandbox.id, "scripted") for row in rows)
    assert all(row.input_tokens > 0 and row.output_tokens > 0 for row in rows)
    # The sandbox was started with the proxy and a token of its own, stored only as a hash.
    assert sandbox.proxy_token_hash is not None and len(sandbox.proxy_token_hash) == 64
    assert sandbox.proxy_token_hash != tokens.token_hash(REAL_KEY)
    assert proxy_url.startswith("http://127.0.0.1:")
