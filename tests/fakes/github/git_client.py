"""The real git client against the fake, for tests: isolated from the host's git configuration.

Owns running ``git`` with no system or global config, no terminal prompt and no
askpass (so a 401 fails fast instead of waiting for a password), and building
clone URLs with a token as the HTTP Basic password (``x-access-token:<token>``).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .world import Repo


def git_env(home: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false",
            "LC_ALL": "C"}


def run_git(cwd: Path, *args: str, env: dict[str, str] | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["git", *args], cwd=cwd, env={**git_env(cwd), **(env or {})}, capture_output=True,
                            text=True, timeout=60, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


def authed_url(repo: Repo, token: str, user: str = "x-access-token") -> str:
    scheme, rest = repo.clone_url.split("://", 1)
    return f"{scheme}://{user}:{token}@{rest}"
