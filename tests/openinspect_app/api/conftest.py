"""The REST API on a real HTTP server with people and credentials to try it with."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from openinspect_core.db import Database
from tests.support.system import ServedApi, served_api


@pytest.fixture
async def served(database: Database, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[ServedApi]:
    """The API; a test may change settings with ``@pytest.mark.settings(name=value)``."""
    marker = request.node.get_closest_marker("settings")
    async with served_api(database, tmp_path / "data", **(dict(marker.kwargs) if marker else {})) as api:
        yield api
