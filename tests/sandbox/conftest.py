"""Fixtures for the sandbox runtime's tests (names start with ``sandbox_`` to stay out of others' way)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.sandbox.gitrepos import isolated_git_env


@pytest.fixture
def sandbox_git_env(tmp_path: Path) -> dict[str, str]:
    """An environment whose git reads only a throwaway global config (with its own user.name)."""
    return isolated_git_env(tmp_path / "home")


@pytest.fixture(scope="session")
def opencode_binary() -> str:
    """The real OpenCode binary (``OPENINSPECT_OPENCODE_BIN``, else the one ``scripts/setup`` installs)."""
    path = os.environ.get("OPENINSPECT_OPENCODE_BIN", str(REPO_ROOT / "node_modules" / ".bin" / "opencode"))
    # Never skipped: the README's test command installs it (scripts/setup).
    assert os.access(path, os.X_OK), f"no OpenCode binary at {path} (run scripts/setup or set OPENINSPECT_OPENCODE_BIN)"
    return path
