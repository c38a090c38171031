"""Fixtures of the model-proxy tests: a database with one live and one ended sandbox, the fake
provider on a free port, and proxies started in front of it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from sqlmodel import col, select

from backend_jobs import tokens
from backend_jobs.model_proxy import ModelProxy
from openinspect_core.db import Database
from openinspect_core.models import ModelUsage, Repo, Sandbox, SandboxStatus, Session, User
from openinspect_core.settings import Settings
from tests.backend_jobs.model_proxy.fake_provider import FakeProvider
from tests.support.http import serve_http

REAL_KEY = "sk-real-provider-key-0123456789"


@dataclass
class World:
    db: Database
    session_id: str
    sandbox_id: str
    token: str  # the live sandbox's proxy token
    ended_token: str  # the proxy token of another session's sandbox that has ended


@pytest.fixture
async def world(database: Database) -> World:
    token, ended_token = tokens.new_token(), tokens.new_token()
    async with database.writer() as db:
        user = User(name="Ada Lovelace", email="ada@example.com")
        repo = Repo(url="/tmp/project", name="project")
        db.add_all([user, repo])
        await db.flush()
        session, other = Session(repo_id=repo.id, created_by=user.id), Session(repo_id=repo.id, created_by=user.id)
        db.add_all([session, other])
        await db.flush()
        live = Sandbox(session_id=session.id, backend="test", auth_token_hash="bridge-1",
                       proxy_token_hash=tokens.token_hash(token), status=SandboxStatus.READY)
        ended = Sandbox(session_id=other.id, backend="test", auth_token_hash="bridge-2",
                        proxy_token_hash=tokens.token_hash(ended_token), status=SandboxStatus.STOPPED)
        db.add_all([live, ended])
        await db.commit()
    return World(database, session.id, live.id, token, ended_token)


@pytest.fixture
async def provider() -> AsyncIterator[tuple[FakeProvider, str]]:
    fake = FakeProvider()
    async with serve_http(fake) as base_url:
        yield fake, f"{base_url}/v1"


ProxyFactory = Callable[..., Awaitable[ModelProxy]]


@pytest.fixture
async def start_proxy(world: World) -> AsyncIterator[ProxyFactory]:
    started: list[ModelProxy] = []

    async def start(*, base_url: str, kind: str = "openai_compatible", api_key: str | None = REAL_KEY) -> ModelProxy:
        settings = Settings.from_env({}, database_url=world.db.url, model_proxy_port=0, provider_kind=kind,
                                     provider_base_url=base_url, provider_api_key=api_key)
        proxy = ModelProxy(settings, world.db)
        await proxy.start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        await proxy.close()


async def usage_rows(world: World) -> list[ModelUsage]:
    async with world.db.session() as db:
        return list((await db.exec(select(ModelUsage).order_by(col(ModelUsage.id)))).all())
