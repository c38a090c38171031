"""The supervisor's end of a turn with real parts (bridge, git, bash; the agent a double): verify.sh after a
turn with commits only, the changes after every turn, both before the turn's execution_complete."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import openinspect_protocol as protocol

from sandbox.bridge import Bridge
from sandbox.changes import ChangeReader
from sandbox.config import SupervisorSettings, child_environment
from sandbox.git_sync import GitRepo
from sandbox.harness.base import AgentConfig, ProviderConfig
from sandbox.scripts import ScriptRunner
from sandbox.supervisor import Supervisor
from sandbox.verify import TurnChecks
from tests.sandbox.control_plane import FakeControlPlane, bridge_settings
from tests.sandbox.doubles import ScriptedHarness
from tests.sandbox.gitrepos import git, make_repo
from tests.sandbox.test_supervisor import ADA, BOT, Rig

# Passes unless the newest commit's subject says "break" (the scripted agent makes empty commits).
VERIFY = 'echo "verifying $(git log -1 --format=%s)"\nif git log -1 --format=%s | grep -q break; then exit 1; fi\n'


@contextlib.asynccontextmanager
async def checked_rig(tmp_path: Path, env: Mapping[str, str], files: Mapping[str, str]) -> AsyncIterator[Rig]:
    source = make_repo(tmp_path / "src", env, files)
    repo_dir = tmp_path / "ws" / "repo"
    async with FakeControlPlane() as cp:
        bridge = Bridge(bridge_settings(cp.url))
        harness = ScriptedHarness(AgentConfig(workdir=repo_dir, state_dir=tmp_path / "ws" / "agent",
                                              model="test/scripted", provider=ProviderConfig(), binary="scripted",
                                              env=child_environment(env)))
        scripts = ScriptRunner(repo_dir, env=env, emit=bridge.emit)
        checks = TurnChecks(scripts, ChangeReader(repo_dir, env=env, max_file_bytes=65536, max_total_bytes=196608),
                            bridge.emit, verify_timeout_seconds=30)
        supervisor = Supervisor(
            SupervisorSettings(repo_url=str(source), branch=None, setup_timeout_seconds=30, start_timeout_seconds=30,
                               bot=BOT),
            bridge=bridge, repo=GitRepo(repo_dir, env=env), scripts=scripts, harness=harness, checks=checks,
            agent_poll_interval_seconds=0.05, flush_timeout_seconds=5)
        task = asyncio.create_task(supervisor.run())
        try:
            yield Rig(cp, bridge, harness, supervisor, task, source, repo_dir)
        finally:
            if not task.done():
                supervisor.request_shutdown("test over")
            await asyncio.wait_for(task, 30)


def turn_types(rig: Rig, message_id: str) -> list[str]:
    return [e.type for e in rig.cp.stored if getattr(e, "message_id", None) == message_id]


async def test_verify_runs_after_turns_with_commits_and_changes_after_every_turn(tmp_path: Path, sandbox_git_env):
    files = {"README.md": "hi\n", ".openinspect/verify.sh": VERIFY}
    async with checked_rig(tmp_path, sandbox_git_env, files) as r:
        await r.cp.wait_for(protocol.Ready)

        await r.prompt("m1", "commit feat: one")
        assert (await r.completion("m1")).success
        assert turn_types(r, "m1") == ["artifact", "script_output", "verify_finished", "changes",
                                       "execution_complete"]
        (first,) = r.cp.of_type(protocol.VerifyFinished)
        assert (first.outcome, first.exit_code, first.message_id) == ("passed", 0, "m1")
        assert first.head_sha == git(r.repo_dir, "rev-parse", "HEAD", env=sandbox_git_env)
        assert "verifying feat: one" in first.tail

        await r.prompt("m2", "say nothing to commit")
        await r.completion("m2")
        assert "verify_finished" not in turn_types(r, "m2")  # no commits, no verify
        assert "changes" in turn_types(r, "m2")

        (r.repo_dir / "README.md").write_text("hi\nthere\n")  # uncommitted work shows in the changes too
        await r.prompt("m3", "commit break: it")
        await r.completion("m3")
        second = r.cp.of_type(protocol.VerifyFinished)[-1]
        assert (second.outcome, second.exit_code, second.message_id) == ("failed", 1, "m3")
        changes = r.cp.of_type(protocol.ChangesSnapshot)[-1]
        assert changes.message_id == "m3" and changes.uncommitted
        assert [(f.path, f.additions) for f in changes.files] == [("README.md", 1)]


async def test_without_verify_script_only_the_changes_are_reported(tmp_path: Path, sandbox_git_env):
    async with checked_rig(tmp_path, sandbox_git_env, {"README.md": "hi\n"}) as r:
        await r.cp.wait_for(protocol.Ready)
        await r.prompt("m1", "commit feat: one")
        await r.completion("m1")
        assert turn_types(r, "m1") == ["artifact", "changes", "execution_complete"]
        assert ADA.name == git(r.repo_dir, "log", "-1", "--format=%an", env=sandbox_git_env)
