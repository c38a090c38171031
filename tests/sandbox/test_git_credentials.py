"""The broker's git credentials: real git over HTTP with Basic auth, the helper, and where the token never is.

The git server (``tests/support/git_http.py``) demands the token; the broker is the
in-test control plane's ``/bridge/{session}/git-credentials`` route. While git runs, a
thread reads every ``/proc/<pid>/environ`` and ``cmdline`` it can, looking for the token.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import git_credential_helper
from sandbox.git_credentials import (
    CredentialBroker,
    GitCredentials,
    broker_url,
    parse_request,
)
from sandbox.git_sync import GitError, GitRepo
from tests.sandbox.control_plane import TOKEN as BRIDGE_TOKEN
from tests.sandbox.control_plane import FakeControlPlane
from tests.sandbox.gitrepos import git, make_bare, make_repo
from tests.sandbox.leaks import ProcScanner, files_containing
from tests.support.git_http import GitHttpServer, serve_git_http

GIT_TOKEN = "ghs_brokeredTokenThatMustNotLeak0123456789"


def bulky_files(count: int = 150, size: int = 16 * 1024) -> dict[str, str]:
    """Enough incompressible content that a clone takes long enough to watch."""
    return {f"data/{n:03}.txt": os.urandom(size).hex() for n in range(count)} | {"README.md": "hello\n"}


@pytest.fixture
def remote(tmp_path: Path, sandbox_git_env: dict[str, str]) -> Iterator[GitHttpServer]:
    source = make_repo(tmp_path / "src", sandbox_git_env, bulky_files())
    root = tmp_path / "served"
    root.mkdir()
    make_bare(source, root / "project.git", sandbox_git_env)
    with serve_git_http(root, token=GIT_TOKEN) as server:
        yield server


def credentials_for(cp: FakeControlPlane, repo_url: str) -> GitCredentials:
    return GitCredentials(CredentialBroker(broker_url(cp.url, cp.session_id), BRIDGE_TOKEN), repo_url)


def broker(**overrides: object) -> FakeControlPlane:
    values: dict[str, object] = {"git_credentials": {"username": "x-access-token", "password": GIT_TOKEN,
                                                     "expires_at": "2030-01-01T00:00:00Z"}}
    values.update(overrides)
    return FakeControlPlane(**values)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- pure parts


def test_broker_url_follows_the_bridge_url() -> None:
    assert broker_url("ws://cp:8765", "s1") == "http://cp:8765/bridge/s1/git-credentials"
    assert broker_url("wss://cp.example/", "a%2Fb") == "https://cp.example/bridge/a%2Fb/git-credentials"


def test_parse_request_reads_gits_lines() -> None:
    assert parse_request(b"protocol=https\nhost=github.com\npath=o/r.git\n\n") == {
        "protocol": "https", "host": "github.com", "path": "o/r.git"}


def test_the_helper_answers_nothing_without_the_runtimes_channel(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != git_credential_helper.FD_ENV}
    for operation in ("get", "store", "erase"):
        result = subprocess.run(
            ["python3", "-I", git_credential_helper.__file__, operation], input=b"protocol=https\nhost=x\n\n",
            env=env, capture_output=True, check=False, timeout=30)
        assert (result.returncode, result.stdout) == (0, b"")


def test_the_broker_and_the_credential_keep_the_token_out_of_repr() -> None:
    assert BRIDGE_TOKEN not in repr(CredentialBroker("http://cp/bridge/s/git-credentials", BRIDGE_TOKEN))


# ----------------------------------------------------------------------------- real git


async def test_clone_and_push_get_the_token_from_the_broker_and_it_is_nowhere_else(
    tmp_path: Path, sandbox_git_env: dict[str, str], remote: GitHttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = remote.repo_url("project.git", authenticated=False)
    workspace = tmp_path / "ws"
    async with broker() as cp:
        repo = GitRepo(workspace / "repo", env=sandbox_git_env, credentials=credentials_for(cp, url))
        with ProcScanner(GIT_TOKEN) as scanner:
            head = await repo.clone(url)
            await repo.checkout_work_branch("openinspect/abc-test")
            git(repo.path, "commit", "--quiet", "--allow-empty", "-m", "work", env=sandbox_git_env)
            pushed = await repo.push("openinspect/abc-test")
        assert head and pushed
        assert len(cp.broker_requests) >= 2  # one per git command that reached the remote (at least)
        assert all(h["Authorization"] == f"Bearer {BRIDGE_TOKEN}" for h in cp.broker_requests)

    assert scanner.hits == []
    assert scanner.saw("git") and scanner.scans > 10, (scanner.scans, sorted(scanner.seen)[:20])
    config = (repo.path / ".git" / "config").read_text()
    assert GIT_TOKEN not in config and "credential" not in config
    assert git(repo.path, "remote", "get-url", "origin", env=sandbox_git_env) == url
    assert files_containing(workspace, GIT_TOKEN) == []
    assert GIT_TOKEN not in caplog.text
    assert all(GIT_TOKEN not in repr(vars(record)) for record in caplog.records)
    assert ("POST", "/project.git/git-receive-pack", 200) in remote.requests
    served = remote.root / "project.git"
    assert git(served, "rev-parse", "refs/heads/openinspect/abc-test", env=sandbox_git_env) == pushed


async def test_the_agents_own_push_gets_no_credentials_and_fails_fast(
    tmp_path: Path, sandbox_git_env: dict[str, str], remote: GitHttpServer
) -> None:
    url = remote.repo_url("project.git", authenticated=False)
    async with broker() as cp:
        repo = GitRepo(tmp_path / "repo", env=sandbox_git_env, credentials=credentials_for(cp, url))
        await repo.clone(url)
        requests_after_clone = len(cp.broker_requests)
        # The agent's shell: the sandbox's child environment (GIT_TERMINAL_PROMPT=0 as in the runtime).
        started = time.monotonic()
        result = await asyncio.to_thread(
            subprocess.run, ["git", "push", "origin", "HEAD:refs/heads/agent"], cwd=repo.path,
            env={**sandbox_git_env, "GIT_TERMINAL_PROMPT": "0"}, capture_output=True, text=True, timeout=60)
        assert result.returncode != 0
        assert "could not read Username" in result.stderr
        assert time.monotonic() - started < 15
        assert len(cp.broker_requests) == requests_after_clone


async def test_a_broker_refusal_fails_the_clone_saying_why(
    tmp_path: Path, sandbox_git_env: dict[str, str], remote: GitHttpServer
) -> None:
    url = remote.repo_url("project.git", authenticated=False)
    async with broker(broker_status=403) as cp:
        repo = GitRepo(tmp_path / "repo", env=sandbox_git_env, credentials=credentials_for(cp, url))
        with pytest.raises(GitError) as caught:
            await repo.clone(url)
    first_line = str(caught.value).splitlines()[0]
    assert "access to" in first_line and "refused git credentials (HTTP 403: refused by the test)" in first_line
    assert caught.value.credential_problem is not None


async def test_credentials_are_given_for_the_repositorys_host_only(
    tmp_path: Path, sandbox_git_env: dict[str, str], remote: GitHttpServer
) -> None:
    url = remote.repo_url("project.git", authenticated=False)
    elsewhere = url.replace("127.0.0.1", "localhost")  # the same server under another host name
    async with broker() as cp:
        repo = GitRepo(tmp_path / "repo", env=sandbox_git_env, credentials=credentials_for(cp, url))
        with pytest.raises(GitError) as caught:
            await repo.clone(elsewhere)
        assert cp.broker_requests == []
    assert "not the repository's host" in (caught.value.credential_problem or "")


def test_the_scanner_would_see_a_token_in_an_environment_or_a_command_line() -> None:
    with ProcScanner(GIT_TOKEN) as scanner:
        subprocess.run(["sleep", "0.3"], env={"LEAK": GIT_TOKEN}, check=True)
        subprocess.run(["sh", "-c", "sleep 0.3", GIT_TOKEN], check=True)
    assert any("environ" in hit for hit in scanner.hits) and any("cmdline" in hit for hit in scanner.hits)
