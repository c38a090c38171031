"""Fixtures of the Slack bot's tests (the fake Slack, ``fake_slack``, comes from tests/conftest.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from openinspect_core.db import Database


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One migrated SQLite file for the session: each test gets a copy (migrating takes most of a second)."""
    path = tmp_path_factory.mktemp("slack-template") / "openinspect.db"
    Database(f"sqlite+aiosqlite:///{path}").migrate()
    yield path


@pytest.fixture
def sqlite_url(migrated_sqlite: Path, tmp_path: Path) -> str:
    """A fresh, migrated SQLite database of the test's own."""
    copy = tmp_path / "openinspect.db"
    shutil.copyfile(migrated_sqlite, copy)
    return f"sqlite+aiosqlite:///{copy}"
