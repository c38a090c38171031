"""Real git repositories for sandbox tests, made with the git command line."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

# The user-level identity a sandbox might find in its image; attribution must beat it.
GLOBAL_USER_NAME = "Global Default"
GLOBAL_USER_EMAIL = "global@example.invalid"


def isolated_git_env(home: Path) -> dict[str, str]:
    """The test process's environment with git's config isolated in ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / ".gitconfig"
    config.write_text(
        f"[user]\n\tname = {GLOBAL_USER_NAME}\n\temail = {GLOBAL_USER_EMAIL}\n"
        "[init]\n\tdefaultBranch = main\n"
        "[protocol \"file\"]\n\tallow = always\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(HOME=str(home), GIT_CONFIG_GLOBAL=str(config), GIT_CONFIG_NOSYSTEM="1")
    return env


def git(cwd: Path, *args: str, env: Mapping[str, str]) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, env=dict(env), capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


def make_repo(path: Path, env: Mapping[str, str], files: Mapping[str, str] | None = None,
              branches: Mapping[str, Mapping[str, str]] | None = None) -> Path:
    """A repository at ``path`` with one commit of ``files`` on main, plus one commit per branch."""
    path.mkdir(parents=True)
    git(path, "init", "--quiet", "--initial-branch=main", env=env)
    for name, text in (files or {"README.md": "hello\n"}).items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(path, "add", "-A", env=env)
    git(path, "commit", "--quiet", "-m", "initial", env=env)
    for branch, branch_files in (branches or {}).items():
        git(path, "checkout", "--quiet", "-b", branch, env=env)
        for name, text in branch_files.items():
            (path / name).write_text(text)
        git(path, "add", "-A", env=env)
        git(path, "commit", "--quiet", "-m", f"on {branch}", env=env)
        git(path, "checkout", "--quiet", "main", env=env)
    return path


def make_bare(source: Path, bare: Path, env: Mapping[str, str]) -> Path:
    git(source.parent, "clone", "--quiet", "--bare", str(source), str(bare), env=env)
    return bare
