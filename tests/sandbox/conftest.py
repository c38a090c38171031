"""Fixtures for the sandbox runtime's tests (names start with ``sandbox_`` to stay out of others' way)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sandbox.gitrepos import isolated_git_env


@pytest.fixture
def sandbox_git_env(tmp_path: Path) -> dict[str, str]:
    """An environment whose git reads only a throwaway global config (with its own user.name)."""
    return isolated_git_env(tmp_path / "home")
