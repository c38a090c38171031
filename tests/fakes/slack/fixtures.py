"""The ``fake_slack`` fixture (registered for the whole suite by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .fake import FakeSlack
from .server import serve_fake_slack


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A fresh fake Slack workspace on loopback (see tests/fakes/slack/__init__.py for its API)."""
    with serve_fake_slack() as fake:
        yield fake
