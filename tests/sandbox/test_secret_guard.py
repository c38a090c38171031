"""Secrets kept out of git, with real git: the pre-commit hook refuses, the push is refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

import openinspect_protocol as protocol
import pytest
from openinspect_protocol.redaction import Redactor

from sandbox.git_sync import GitRepo
from sandbox.pushes import BranchPusher
from sandbox.secret_guard import CommitGuard
from tests.sandbox.gitrepos import git, make_bare, make_repo

NAME = "STRIPE_KEY"
VALUE = "sk_test_51Hx9aQ2eZvKYlo2C"
BRANCH = "openinspect/abcd1234-fix-it"


@pytest.fixture
async def clone(tmp_path: Path, sandbox_git_env: dict[str, str]) -> tuple[Path, GitRepo]:
    source = make_repo(tmp_path / "src", sandbox_git_env)
    bare = make_bare(source, tmp_path / "remote.git", sandbox_git_env)
    repo = GitRepo(tmp_path / "workspace" / "repo", env=sandbox_git_env)
    await repo.clone(str(bare))
    return bare, repo


def commit(repo: Path, env: dict[str, str], path: str, content: str) -> subprocess.CompletedProcess[str]:
    (repo / path).write_text(content)
    git(repo, "add", path, env=env)
    return subprocess.run(["git", "commit", "-m", f"add {path}"], cwd=repo, env=env, capture_output=True,
                          text=True, check=False)


async def test_the_hook_refuses_a_commit_adding_a_value_and_the_runtime_warns(
        clone: tuple[Path, GitRepo], sandbox_git_env: dict[str, str], tmp_path: Path) -> None:
    _, repo = clone
    guard = CommitGuard(repo, tmp_path / "workspace" / "git-hooks", [NAME])
    await guard.install()
    agent_env = {**sandbox_git_env, NAME: VALUE}  # what the agent's shell has

    refused = commit(repo.path, agent_env, "config.py", f"KEY = '{VALUE}'\n")

    assert refused.returncode != 0
    assert f"the secret {NAME}" in refused.stderr and "config.py" in refused.stderr
    assert VALUE not in refused.stderr + refused.stdout
    assert git(repo.path, "log", "--format=%s", env=sandbox_git_env) == "initial"
    [warning] = guard.refusals("m1")
    assert (warning.code, warning.message_id) == ("secret_in_commit", "m1")
    assert NAME in warning.message and "config.py" in warning.message and VALUE not in warning.message
    assert guard.refusals("m1") == []  # each refusal is told once

    git(repo.path, "reset", "--quiet", "HEAD", "--", "config.py", env=sandbox_git_env)
    allowed = commit(repo.path, agent_env, "config.py", "KEY = os.environ['STRIPE_KEY']\n")
    assert allowed.returncode == 0, allowed.stderr


async def test_the_repositorys_own_hooks_still_run(
        clone: tuple[Path, GitRepo], sandbox_git_env: dict[str, str], tmp_path: Path) -> None:
    _, repo = clone
    own = repo.path / ".husky"
    own.mkdir()
    for hook in ("pre-commit", "commit-msg"):
        (own / hook).write_text(f"#!/bin/sh\necho {hook} >> \"$(git rev-parse --show-toplevel)/../ran\"\n")
        (own / hook).chmod(0o755)
    git(repo.path, "config", "core.hooksPath", str(own), env=sandbox_git_env)  # as `husky install` does
    guard = CommitGuard(repo, tmp_path / "workspace" / "git-hooks", [NAME])
    await guard.install()

    assert commit(repo.path, {**sandbox_git_env, NAME: VALUE}, "a.txt", "fine\n").returncode == 0
    assert (tmp_path / "workspace" / "ran").read_text().split() == ["pre-commit", "commit-msg"]
    assert git(repo.path, "config", "core.hooksPath", env=sandbox_git_env) == str(guard.hooks_dir)


async def test_without_secrets_nothing_is_installed(clone: tuple[Path, GitRepo], tmp_path: Path,
                                                    sandbox_git_env: dict[str, str]) -> None:
    _, repo = clone
    await CommitGuard(repo, tmp_path / "hooks", []).install()
    assert not (tmp_path / "hooks").exists()
    assert "core.hookspath" not in git(repo.path, "config", "--local", "--list", env=sandbox_git_env).lower()


@pytest.mark.parametrize("where", ["file", "message"])
async def test_a_push_of_commits_holding_a_value_is_refused(
        clone: tuple[Path, GitRepo], sandbox_git_env: dict[str, str], where: str) -> None:
    bare, repo = clone
    await repo.checkout_work_branch(BRANCH)
    # Committed past the hook (--no-verify, or a hook that was never there): the push is the net.
    if where == "file":
        (repo.path / "settings.json").write_text(f'{{"token": "{VALUE}"}}\n')
        git(repo.path, "add", "settings.json", env=sandbox_git_env)
        git(repo.path, "commit", "--quiet", "-m", "settings", env=sandbox_git_env)
        # A later commit removing it does not help: the first one would still be pushed.
        (repo.path / "settings.json").write_text("{}\n")
        git(repo.path, "commit", "--quiet", "-am", "remove it again", env=sandbox_git_env)
    else:
        git(repo.path, "commit", "--quiet", "--allow-empty", "-m", f"use {VALUE}", env=sandbox_git_env)
    events: list[protocol.SandboxEvent] = []
    pusher = BranchPusher(repo, events.append, base_branch="main", redactor=Redactor({NAME: VALUE}))

    result = await pusher.push(BRANCH, "m1")

    assert isinstance(result, protocol.PushError) and events == [result]
    assert (result.code, result.message_id) == ("secret_in_diff", "m1")
    assert NAME in result.message and VALUE not in result.message
    assert ("settings.json" if where == "file" else "the commit message") in result.message
    branches = git(bare, "branch", "--list", BRANCH, env=sandbox_git_env)
    assert branches == ""  # nothing reached the remote


async def test_commits_already_on_the_remote_are_not_held_against_a_push(
        clone: tuple[Path, GitRepo], sandbox_git_env: dict[str, str], tmp_path: Path) -> None:
    bare, repo = clone
    # The value is in the remote's own history (someone else pushed it): this sandbox did not send it.
    other = tmp_path / "other"
    git(tmp_path, "clone", "--quiet", str(bare), str(other), env=sandbox_git_env)
    (other / "old.txt").write_text(VALUE + "\n")
    git(other, "add", "old.txt", env=sandbox_git_env)
    git(other, "commit", "--quiet", "-m", "old", env=sandbox_git_env)
    git(other, "push", "--quiet", "origin", "HEAD:main", env=sandbox_git_env)
    git(repo.path, "pull", "--quiet", "origin", "main", env=sandbox_git_env)
    await repo.checkout_work_branch(BRANCH)
    git(repo.path, "commit", "--quiet", "--allow-empty", "-m", "clean", env=sandbox_git_env)

    result = await BranchPusher(repo, lambda e: None, redactor=Redactor({NAME: VALUE})).push(BRANCH)

    assert isinstance(result, protocol.PushComplete), result
