"""Fixtures shared by the whole suite.

Every test that uses ``database_url`` runs twice: on a SQLite file and on a
fresh PostgreSQL database (real server; OPENINSPECT_TEST_POSTGRES_URL points at
a maintenance database of it, default the local server's ``postgres``). Both come
already at the newest schema: the migrations run once per test run (into a
template each test's database is copied from), not once per test; what they
build is checked in tests/openinspect_core/test_migrations.py.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from openinspect_core.db import Database
from tests.fakes.scripted_model import ScriptedModel

# One real Kubernetes test cluster for the whole run, whichever directory asks for it; the fake Slack.
pytest_plugins = ["tests.support.kube.fixtures", "tests.fakes.slack.fixtures"]

POSTGRES_ADMIN_URL = os.environ.get("OPENINSPECT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REPO_ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def fresh_postgres_database(template: str | None = None) -> Iterator[str]:
    """A new database on the test server (empty, or a copy of ``template``), dropped afterwards."""
    name = f"oi_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the newest schema, made once per run (a migration is about a second of DDL)."""
    path = tmp_path_factory.mktemp("schema") / "openinspect.db"
    Database(f"sqlite+aiosqlite:///{path}").migrate()
    return path


@pytest.fixture(scope="session")
def migrated_postgres() -> Iterator[str]:
    """The name of a PostgreSQL database at the newest schema, made once per run, that no one connects
    to again: each test's database is created from it (``CREATE DATABASE … TEMPLATE``)."""
    with fresh_postgres_database() as url:
        Database(url).migrate()  # Alembic's own engine, without a pool: no connection stays open
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        yield name


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own, already migrated (a copy of the run's migrated one)."""
    if request.param == "sqlite":
        path = tmp_path / "openinspect.db"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    with fresh_postgres_database(template=request.getfixturevalue("migrated_postgres")) as url:
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
    main thread for the rest of the session, which asyncio tests cannot share. Among them,
    the modules that start a system of their own (``RUNS_ITS_OWN_SYSTEM``) first: every
    ``scripts/run`` builds the web front end into the checkout's one ``.web``, so a second
    system started while the shared one runs would leave that one's pages pointing at the
    second's (soon stopped) backend."""
    def order(item: pytest.Item) -> tuple[bool, bool]:
        e2e = "/tests/e2e/" in str(item.path)
        own = bool(getattr(getattr(item, "module", None), "RUNS_ITS_OWN_SYSTEM", False))
        return e2e, e2e and not own
    items.sort(key=order)
