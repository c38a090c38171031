"""A GitHub session end to end in the real runtime process: brokered clone, its branch, ``push``.

``python -m sandbox.entrypoint`` with ``git_credentials`` and ``work_branch`` against the
in-test control plane (bridge and credential broker) and a git server that demands
the token. The agent is the scripted double; the token is looked for everywhere it
must not be: every process's environment and command line (polled throughout),
the runtime's log, the events, the workspace.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import openinspect_protocol as protocol

from tests.sandbox.control_plane import FakeControlPlane, wait_until
from tests.sandbox.gitrepos import git, make_bare, make_repo
from tests.sandbox.leaks import ProcScanner, files_containing
from tests.sandbox.test_entrypoint import sandbox_env, spawn
from tests.sandbox.test_git_credentials import GIT_TOKEN, bulky_files
from tests.support.git_http import serve_git_http

BRANCH = "openinspect/sess1abc-make-it-better"
ADA = protocol.Author(name="Ada", email="ada@example.com")


async def test_a_github_session_clones_with_brokered_credentials_works_on_its_branch_and_pushes(
    tmp_path: Path, sandbox_git_env: dict[str, str]
) -> None:
    source = make_repo(tmp_path / "src", sandbox_git_env, bulky_files(80))
    served = tmp_path / "served"
    served.mkdir()
    bare = make_bare(source, served / "widgets.git", sandbox_git_env)
    workspace, log_path = tmp_path / "ws", tmp_path / "sandbox.log"
    credentials = {"username": "x-access-token", "password": GIT_TOKEN, "expires_at": "2030-01-01T00:00:00Z"}
    with serve_git_http(served, token=GIT_TOKEN) as remote, ProcScanner(GIT_TOKEN) as scanner:
        async with FakeControlPlane(git_credentials=credentials) as cp:
            url = remote.repo_url("widgets.git", authenticated=False)
            env = sandbox_env(cp, source, workspace, sandbox_git_env) | {
                "OPENINSPECT_REPO_URL": url,
                "OPENINSPECT_GIT_CREDENTIALS": "true",
                "OPENINSPECT_WORK_BRANCH": BRANCH,
            }
            process = await spawn(env, log_path)
            try:
                await cp.wait_for(protocol.Ready, timeout_seconds=60)
                await cp.send(protocol.Prompt(message_id="m1", content="commit feat: better", author=ADA))
                await wait_until(lambda: bool(cp.of_type(protocol.ExecutionComplete)), what="the prompt's end")
                await cp.send(protocol.Push(branch=BRANCH, message_id="m1"))
                (push,) = await cp.wait_for(protocol.PushComplete, timeout_seconds=60)
                await cp.send(protocol.Shutdown(reason="test over"))
                assert await asyncio.wait_for(process.wait(), 30) == 0
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()

    (sync,) = cp.of_type(protocol.GitSync)
    assert (sync.status, sync.branch, sync.repo_url) == ("completed", BRANCH, url)
    (commit,) = cp.of_type(protocol.Artifact)
    assert (push.branch, push.head_sha, push.base_branch, push.commits_ahead, push.message_id) == (
        BRANCH, commit.ref, "main", 1, "m1")
    assert git(bare, "rev-parse", f"refs/heads/{BRANCH}", env=sandbox_git_env) == commit.ref
    assert len(cp.broker_requests) >= 2  # the clone and the push each asked

    # Where the token must never be.
    assert scanner.hits == []
    assert scanner.saw("git")
    assert GIT_TOKEN not in log_path.read_text()
    assert all(GIT_TOKEN not in event.to_json() for event in cp.frames)
    assert files_containing(workspace, GIT_TOKEN) == []
    config = (workspace / "repo" / ".git" / "config").read_text()
    assert "credential" not in config and "x-access-token" not in config


async def test_a_broker_refusing_credentials_fails_the_sync_clearly(
    tmp_path: Path, sandbox_git_env: dict[str, str]
) -> None:
    source = make_repo(tmp_path / "src", sandbox_git_env)
    served = tmp_path / "served"
    served.mkdir()
    make_bare(source, served / "widgets.git", sandbox_git_env)
    with serve_git_http(served, token=GIT_TOKEN) as remote:
        async with FakeControlPlane(git_credentials=None) as cp:  # 404: not a GitHub repository
            env = sandbox_env(cp, source, tmp_path / "ws", sandbox_git_env) | {
                "OPENINSPECT_REPO_URL": remote.repo_url("widgets.git", authenticated=False),
                "OPENINSPECT_GIT_CREDENTIALS": "true",
                "OPENINSPECT_WORK_BRANCH": BRANCH,
            }
            process = await spawn(env, tmp_path / "sandbox.log")
            assert await asyncio.wait_for(process.wait(), 60) == 1
    (sync,) = cp.of_type(protocol.GitSync)
    assert sync.status == "failed"
    assert "the control plane refused git credentials (HTTP 404: refused by the test)" in (sync.detail or "")
