"""Fixtures shared by the whole suite.

Every test that uses ``database_url`` runs twice: on a SQLite file and on a
fresh PostgreSQL database (real server; OPENINSPECT_TEST_POSTGRES_URL points at
a maintenance database of it, default the local server's ``postgres``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from openinspect_core.db import Database
from tests.fakes.scripted_model import ScriptedModel

# One real Kubernetes test cluster for the whole run, whichever directory asks for it.
pytest_plugins = ["tests.support.kube.fixtures"]

POSTGRES_ADMIN_URL = os.environ.get("OPENINSPECT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REPO_ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty database on the test server, dropped afterwards."""
    name = f"oi_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'openinspect.db'}"
        return
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """For what only PostgreSQL has (LISTEN/NOTIFY, a separate worker process)."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    db.migrate()
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def scripted_model() -> Iterator[ScriptedModel]:
    """The model provider for every test that runs the real agent (one server; it is stateless)."""
    with ScriptedModel() as model:
        yield model


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """End-to-end tests last: Playwright's sync API keeps an event loop running in the
    main thread for the rest of the session, which asyncio tests cannot share."""
    items.sort(key=lambda item: "/tests/e2e/" in str(item.path))
