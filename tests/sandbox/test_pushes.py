"""Pushing the session's branch with real git: what reaches the remote and what the events say."""

from __future__ import annotations

from pathlib import Path

import openinspect_protocol as protocol
import pytest

from sandbox.git_sync import GitRepo
from sandbox.pushes import BranchPusher, classify_push_failure
from tests.sandbox.gitrepos import git, make_bare, make_repo

BRANCH = "openinspect/abcd1234-fix-it"


@pytest.mark.parametrize(("stderr", "code"), [
    (" ! [rejected]        b -> b (non-fast-forward)\nerror: failed to push some refs", "push_rejected"),
    (" ! [rejected]        b -> b (fetch first)", "push_rejected"),
    ("fatal: Authentication failed for 'https://github.com/o/r.git/'", "push_denied"),
    ("remote: Permission to o/r.git denied to app.\nfatal: unable to access: The requested URL returned error: 403",
     "push_denied"),
    ("fatal: could not read Username for 'https://github.com': terminal prompts disabled", "push_denied"),
    ("fatal: unable to access 'https://github.com/o/r.git/': Could not resolve host: github.com", "push_unreachable"),
    ("fatal: unable to access 'http://127.0.0.1:1/r.git/': Failed to connect to 127.0.0.1 port 1",
     "push_unreachable"),
    ("error: src refspec x does not match any", "push_failed"),
])
def test_classify_push_failure(stderr: str, code: str) -> None:
    got, message = classify_push_failure(stderr)
    assert got == code
    assert message.splitlines()[-1] == stderr.splitlines()[-1].strip()


def test_a_credential_problem_is_the_reason_and_urls_are_masked() -> None:
    code, message = classify_push_failure(
        "fatal: could not read Username for 'https://x:SECRET@github.com': terminal prompts disabled",
        "the control plane refused git credentials (HTTP 403)")
    assert code == "push_denied"
    assert message.startswith("the remote refused the push: the control plane refused git credentials (HTTP 403)")
    assert "SECRET" not in message


@pytest.fixture
def clone(tmp_path: Path, sandbox_git_env: dict[str, str]) -> tuple[Path, GitRepo]:
    source = make_repo(tmp_path / "src", sandbox_git_env)
    bare = make_bare(source, tmp_path / "remote.git", sandbox_git_env)
    return bare, GitRepo(tmp_path / "repo", env=sandbox_git_env)


async def test_push_creates_the_branch_and_reports_commits_ahead_of_the_base(
    clone: tuple[Path, GitRepo], sandbox_git_env: dict[str, str]
) -> None:
    bare, repo = clone
    await repo.clone(str(bare))
    assert await repo.checkout_work_branch(BRANCH) == "new"
    for subject in ("one", "two"):
        git(repo.path, "commit", "--quiet", "--allow-empty", "-m", subject, env=sandbox_git_env)
    events: list[protocol.SandboxEvent] = []
    pusher = BranchPusher(repo, events.append, base_branch="main")

    result = await pusher.push(BRANCH, "m1")

    head = git(repo.path, "rev-parse", "HEAD", env=sandbox_git_env)
    assert events == [result]
    assert isinstance(result, protocol.PushComplete)
    assert (result.branch, result.head_sha, result.base_branch, result.commits_ahead, result.message_id) == (
        BRANCH, head, "main", 2, "m1")
    assert git(bare, "rev-parse", f"refs/heads/{BRANCH}", env=sandbox_git_env) == head


async def test_a_restarted_sandbox_tracks_its_pushed_branch(
    clone: tuple[Path, GitRepo], sandbox_git_env: dict[str, str], tmp_path: Path
) -> None:
    bare, repo = clone
    await repo.clone(str(bare))
    await repo.checkout_work_branch(BRANCH)
    git(repo.path, "commit", "--quiet", "--allow-empty", "-m", "before the restart", env=sandbox_git_env)
    await BranchPusher(repo, lambda e: None).push(BRANCH)
    pushed = git(repo.path, "rev-parse", "HEAD", env=sandbox_git_env)

    fresh = GitRepo(tmp_path / "fresh", env=sandbox_git_env)
    await fresh.clone(str(bare))
    assert await fresh.checkout_work_branch(BRANCH) == "remote"
    assert await fresh.current_branch() == BRANCH
    assert await fresh.head_sha() == pushed
    assert git(fresh.path, "rev-parse", "--abbrev-ref", "@{upstream}", env=sandbox_git_env) == f"origin/{BRANCH}"
    assert await fresh.checkout_work_branch(BRANCH) == "current"


async def test_a_diverged_remote_branch_is_never_overwritten(
    clone: tuple[Path, GitRepo], sandbox_git_env: dict[str, str], tmp_path: Path
) -> None:
    bare, repo = clone
    await repo.clone(str(bare))
    await repo.checkout_work_branch(BRANCH)
    other = make_repo(tmp_path / "other", sandbox_git_env, {"OTHER.md": "x\n"})  # unrelated history
    git(other, "push", "--quiet", str(bare), f"main:refs/heads/{BRANCH}", env=sandbox_git_env)
    remote_tip = git(bare, "rev-parse", f"refs/heads/{BRANCH}", env=sandbox_git_env)
    events: list[protocol.SandboxEvent] = []

    result = await BranchPusher(repo, events.append).push(BRANCH, "m2")

    assert isinstance(result, protocol.PushError) and events == [result]
    assert (result.code, result.branch, result.message_id) == ("push_rejected", BRANCH, "m2")
    assert "never forced" in result.message
    assert git(bare, "rev-parse", f"refs/heads/{BRANCH}", env=sandbox_git_env) == remote_tip


async def test_an_unreachable_remote_and_a_bad_branch_name(tmp_path: Path, sandbox_git_env: dict[str, str]) -> None:
    source = make_repo(tmp_path / "src", sandbox_git_env)
    repo = GitRepo(tmp_path / "repo", env=sandbox_git_env)
    await repo.clone(str(source))
    git(repo.path, "remote", "set-url", "origin", "http://127.0.0.1:9/nothing.git", env=sandbox_git_env)
    pusher = BranchPusher(repo, lambda e: None)

    unreachable = await pusher.push(BRANCH)
    bad_name = await pusher.push("-delete-me")

    assert isinstance(unreachable, protocol.PushError) and unreachable.code == "push_unreachable"
    assert isinstance(bad_name, protocol.PushError) and bad_name.code == "push_failed"
    assert "not a valid branch name" in bad_name.message
