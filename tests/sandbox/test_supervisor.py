"""The supervisor's sequence with real parts: bridge to an in-test control plane, git, bash.

Only the agent is a double (tests/sandbox/doubles.py); the OpenCode harness is
tested on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import openinspect_protocol as protocol

from sandbox.bridge import Bridge
from sandbox.config import Identity, SupervisorSettings, child_environment
from sandbox.git_sync import GitRepo
from sandbox.harness.base import AgentConfig, ProviderConfig
from sandbox.lifecycle import ExitCode
from sandbox.scripts import ScriptRunner
from sandbox.supervisor import Supervisor
from tests.sandbox.control_plane import FakeControlPlane, bridge_settings, wait_until
from tests.sandbox.doubles import VERSION, ScriptedHarness
from tests.sandbox.gitrepos import git, make_repo
from tests.sandbox.procs import gone

ADA = protocol.Author(name="Ada Lovelace", email="ada@example.com")
BOT = Identity("Open-Inspect", "bot@openinspect.local")


@dataclass
class Rig:
    cp: FakeControlPlane
    bridge: Bridge
    harness: ScriptedHarness
    supervisor: Supervisor
    task: asyncio.Task[ExitCode]
    source: Path
    repo_dir: Path

    def types(self) -> list[str]:
        return [event.type for event in self.cp.stored]

    async def exit_code(self) -> ExitCode:
        return await asyncio.wait_for(self.task, 30)

    async def prompt(self, message_id: str, content: str) -> None:
        await self.cp.send(protocol.Prompt(message_id=message_id, content=content, author=ADA))

    def completions(self) -> list[protocol.ExecutionComplete]:
        return self.cp.of_type(protocol.ExecutionComplete)

    async def completion(self, message_id: str) -> protocol.ExecutionComplete:
        await wait_until(lambda: any(c.message_id == message_id for c in self.completions()),
                         what=f"execution_complete of {message_id} (stored: {self.types()})")
        return next(c for c in self.completions() if c.message_id == message_id)

    def errors(self, code: str) -> list[protocol.ErrorEvent]:
        return [e for e in self.cp.of_type(protocol.ErrorEvent) if e.code == code]


@contextlib.asynccontextmanager
async def rig(
    tmp_path: Path,
    env: Mapping[str, str],
    *,
    files: Mapping[str, str] | None = None,
    repo_url: str | None = None,
    fail_starts: int = 0,
    setup_timeout_seconds: float = 30,
    control_plane: FakeControlPlane | None = None,
) -> AsyncIterator[Rig]:
    source = make_repo(tmp_path / "src", env, files)
    repo_dir = tmp_path / "ws" / "repo"
    async with control_plane or FakeControlPlane() as cp:
        bridge = Bridge(bridge_settings(cp.url))
        harness = ScriptedHarness(
            AgentConfig(workdir=repo_dir, state_dir=tmp_path / "ws" / "agent", model="test/scripted",
                        provider=ProviderConfig(), binary="scripted", env=child_environment(env)),
            fail_starts=fail_starts,
        )
        supervisor = Supervisor(
            SupervisorSettings(repo_url=repo_url or str(source), branch=None,
                               setup_timeout_seconds=setup_timeout_seconds, start_timeout_seconds=30, bot=BOT),
            bridge=bridge,
            repo=GitRepo(repo_dir, env=env),
            scripts=ScriptRunner(repo_dir, env=env, emit=bridge.emit),
            harness=harness,
            agent_poll_interval_seconds=0.05,
            flush_timeout_seconds=5,
        )
        task = asyncio.create_task(supervisor.run())
        try:
            yield Rig(cp, bridge, harness, supervisor, task, source, repo_dir)
        finally:
            if not task.done():
                supervisor.request_shutdown("test over")
            await asyncio.wait_for(task, 30)


async def test_start_up_streams_each_stage_then_a_prompt_commits_and_shutdown_exits_0(
    tmp_path: Path, sandbox_git_env
):
    files = {
        "README.md": "hi\n",
        ".openinspect/setup.sh": "echo installing\n",
        ".openinspect/start.sh": "echo starting services\n",
    }
    async with rig(tmp_path, sandbox_git_env, files=files) as r:
        (ready,) = await r.cp.wait_for(protocol.Ready)
        assert r.types() == [
            "stage", "git_sync", "stage", "script_output", "script_finished",
            "stage", "script_output", "script_finished", "ready",
        ]
        assert [e.stage for e in r.cp.of_type(protocol.StageChanged)] == ["syncing", "setup", "starting_agent"]
        (sync,) = r.cp.of_type(protocol.GitSync)
        head = git(r.source, "rev-parse", "HEAD", env=sandbox_git_env)
        assert (sync.status, sync.branch, sync.head_sha, sync.repo_url) == ("completed", "main", head, str(r.source))
        assert [e.text for e in r.cp.of_type(protocol.ScriptOutput)] == ["installing\n", "starting services\n"]
        assert (ready.agent, ready.agent_version, ready.head_sha) == ("scripted", VERSION, head)

        await r.prompt("m1", "say hello\ncommit feat: one\ncommit fix: two")
        done = await r.completion("m1")
        assert done.success and done.message_id == "m1"
        artifacts = r.cp.of_type(protocol.Artifact)
        assert [a.data["subject"] for a in artifacts] == ["feat: one", "fix: two"]
        for artifact in artifacts:
            assert artifact.kind == "commit" and artifact.message_id == "m1"
            assert artifact.data == {
                "subject": artifact.data["subject"],
                "author_name": "Ada Lovelace", "author_email": "ada@example.com",
                "committer_name": "Open-Inspect", "committer_email": "bot@openinspect.local",
            }
        assert artifacts[1].ref == git(r.repo_dir, "rev-parse", "HEAD", env=sandbox_git_env)
        tail = r.types()[-4:]
        assert tail == ["token", "artifact", "artifact", "execution_complete"]

        await r.cp.send(protocol.Shutdown(reason="archived"))
        assert await r.exit_code() == ExitCode.OK
        assert r.harness.closed
        assert r.bridge.outbox.empty  # everything was acknowledged before the exit
        assert [e.seq for e in r.cp.stored] == list(range(1, len(r.cp.stored) + 1))


async def test_a_missing_repository_is_a_fatal_git_sync_error(tmp_path: Path, sandbox_git_env):
    async with rig(tmp_path, sandbox_git_env, repo_url=str(tmp_path / "missing")) as r:
        assert await r.exit_code() == ExitCode.FATAL
        (sync,) = r.cp.of_type(protocol.GitSync)
        assert sync.status == "failed"
        (error,) = r.errors("git_sync_failed")
        assert error.fatal and error.message.startswith(f"repository not found: {tmp_path / 'missing'}")
        assert r.types() == ["stage", "git_sync", "error"]
        assert r.harness.starts == 0


async def test_a_failing_setup_script_is_a_warning_and_the_start_continues(tmp_path: Path, sandbox_git_env):
    files = {".openinspect/setup.sh": "echo 'could not install' >&2\nexit 4\n"}
    async with rig(tmp_path, sandbox_git_env, files=files) as r:
        await r.cp.wait_for(protocol.Ready)
        (warning,) = r.cp.of_type(protocol.WarningEvent)
        assert warning.code == "setup_failed" and "exited with code 4" in warning.message
        (finished,) = r.cp.of_type(protocol.ScriptFinished)
        assert finished.exit_code == 4
        assert r.types().index("warning") < r.types().index("ready")


async def test_a_setup_timeout_is_a_warning(tmp_path: Path, sandbox_git_env):
    files = {".openinspect/setup.sh": "echo waiting\nsleep 60\n"}
    async with rig(tmp_path, sandbox_git_env, files=files, setup_timeout_seconds=0.3) as r:
        await r.cp.wait_for(protocol.Ready)
        (warning,) = r.cp.of_type(protocol.WarningEvent)
        assert "did not finish within 0.3 s" in warning.message
        (finished,) = r.cp.of_type(protocol.ScriptFinished)
        assert finished.timed_out and finished.exit_code is None


async def test_a_failing_start_script_is_fatal_with_its_last_output(tmp_path: Path, sandbox_git_env):
    files = {".openinspect/start.sh": "echo 'database: connection refused' >&2\nexit 2\n"}
    async with rig(tmp_path, sandbox_git_env, files=files) as r:
        assert await r.exit_code() == ExitCode.FATAL
        (error,) = r.errors("start_failed")
        assert error.fatal
        assert "start.sh exited with code 2" in error.message
        assert "database: connection refused" in error.message
        assert not r.cp.of_type(protocol.Ready)
        assert r.harness.starts == 0


async def test_an_agent_that_does_not_start_is_fatal(tmp_path: Path, sandbox_git_env):
    async with rig(tmp_path, sandbox_git_env, fail_starts=1) as r:
        assert await r.exit_code() == ExitCode.FATAL
        (error,) = r.errors("agent_start_failed")
        assert error.fatal and error.message == "the scripted agent refused to start"
        assert not r.cp.of_type(protocol.Ready)


async def test_prompts_sent_before_ready_wait_for_it(tmp_path: Path, sandbox_git_env):
    files = {".openinspect/setup.sh": "sleep 0.3\n"}
    async with rig(tmp_path, sandbox_git_env, files=files) as r:
        await r.prompt("early", "say early")
        await r.completion("early")
        assert r.types().index("ready") < r.types().index("token")


async def test_a_duplicate_prompt_is_ignored_and_prompts_run_in_order(tmp_path: Path, sandbox_git_env):
    async with rig(tmp_path, sandbox_git_env) as r:
        await r.cp.wait_for(protocol.Ready)
        await r.prompt("m1", "wait")
        await wait_until(lambda: r.harness.runs == ["m1"], what="m1 running")
        await r.prompt("m1", "wait")  # running
        await r.prompt("m2", "say second")
        await r.prompt("m2", "say second")  # queued
        await r.cp.send(protocol.Stop(message_id="m1"))
        first = await r.completion("m1")
        assert first.stopped and not first.success
        await r.completion("m2")
        await r.prompt("m1", "say again")  # finished
        await r.prompt("m3", "say third")
        await r.completion("m3")
        assert r.harness.runs == ["m1", "m2", "m3"]
        assert [c.message_id for c in r.completions()] == ["m1", "m2", "m3"]


async def test_stop_routes_to_abort_only_for_the_running_prompt(tmp_path: Path, sandbox_git_env):
    async with rig(tmp_path, sandbox_git_env) as r:
        await r.cp.wait_for(protocol.Ready)
        await r.prompt("m1", "wait")
        await wait_until(lambda: r.harness.runs == ["m1"])
        await r.prompt("m2", "say queued")
        await r.cp.send(protocol.Stop(message_id="other"))
        await r.cp.send(protocol.Stop(message_id="m2"))  # queued: dropped without running
        cancelled = await r.completion("m2")
        assert cancelled.stopped and r.harness.aborts == 0
        await r.cp.send(protocol.Stop())  # no id: whatever runs
        stopped = await r.completion("m1")
        assert stopped.stopped and r.harness.aborts == 1
        await r.prompt("m3", "say after")
        assert (await r.completion("m3")).success
        assert r.harness.runs == ["m1", "m3"]


async def test_an_agent_dying_mid_turn_is_reported_and_restarted(tmp_path: Path, sandbox_git_env):
    async with rig(tmp_path, sandbox_git_env) as r:
        await r.cp.wait_for(protocol.Ready)
        await r.prompt("m1", "say before\ndie")
        done = await r.completion("m1")
        assert not done.success and done.error == "the agent process exited"
        await wait_until(lambda: r.harness.starts == 2, what="a restart")
        (error,) = r.errors("agent_exited")
        assert error.message_id == "m1" and not error.fatal
        await r.prompt("m2", "say alive again")
        assert (await r.completion("m2")).success
        assert len(r.cp.of_type(protocol.Ready)) == 1


async def test_an_agent_dying_while_idle_is_restarted(tmp_path: Path, sandbox_git_env):
    async with rig(tmp_path, sandbox_git_env) as r:
        await r.cp.wait_for(protocol.Ready)
        r.harness.kill()
        (error,) = await r.cp.wait_for(protocol.ErrorEvent)
        assert error.code == "agent_exited" and error.message_id is None and "while idle" in error.message
        await wait_until(lambda: r.harness.running and r.harness.starts == 2, what="a restart")


async def test_an_agent_that_keeps_dying_fails_the_sandbox_after_three_restarts(tmp_path: Path, sandbox_git_env):
    async with rig(tmp_path, sandbox_git_env) as r:
        await r.cp.wait_for(protocol.Ready)
        for n in range(1, 5):
            await r.prompt(f"m{n}", "die")
        assert await r.exit_code() == ExitCode.FATAL
        errors = r.errors("agent_exited")
        assert [e.fatal for e in errors] == [False, False, False, True]
        assert r.harness.starts == 4
        assert [c.message_id for c in r.completions()] == ["m1", "m2", "m3", "m4"]


async def test_restarts_that_fail_give_up_after_three_tries(tmp_path: Path, sandbox_git_env):
    async with rig(tmp_path, sandbox_git_env) as r:
        await r.cp.wait_for(protocol.Ready)
        r.harness.fail_starts = 10
        r.harness.kill()
        assert await r.exit_code() == ExitCode.FATAL
        assert len(r.errors("agent_start_failed")) == 3
        assert r.errors("agent_exited")[-1].fatal
        assert r.harness.starts == 4


async def test_a_refused_bridge_exits_3_before_cloning(tmp_path: Path, sandbox_git_env):
    async with rig(tmp_path, sandbox_git_env, control_plane=FakeControlPlane(refuse_status=401)) as r:
        assert await r.exit_code() == ExitCode.REJECTED
        assert not r.repo_dir.exists()
        assert r.harness.starts == 0


async def test_request_shutdown_mid_prompt_closes_the_agent_and_exits_0(tmp_path: Path, sandbox_git_env):
    async with rig(tmp_path, sandbox_git_env) as r:
        await r.cp.wait_for(protocol.Ready)
        await r.prompt("m1", "wait")
        await wait_until(lambda: r.harness.runs == ["m1"])
        r.supervisor.request_shutdown("signal SIGTERM")
        assert await r.exit_code() == ExitCode.OK
        assert r.harness.closed


async def test_after_a_reconnect_the_resent_running_prompt_is_ignored(tmp_path: Path, sandbox_git_env):
    async with rig(tmp_path, sandbox_git_env) as r:
        await r.cp.wait_for(protocol.Ready)
        await r.prompt("m1", "say one\nwait")
        await wait_until(lambda: r.harness.runs == ["m1"])
        await r.cp.drop()
        await wait_until(lambda: r.cp.connections == 2, what="the bridge to reconnect")
        await r.prompt("m1", "say one\nwait")  # what the control plane does after a reconnect
        await r.cp.send(protocol.Stop(message_id="m1"))
        await r.completion("m1")
        await r.cp.send(protocol.Shutdown())
        assert await r.exit_code() == ExitCode.OK
        assert r.harness.runs == ["m1"]
        assert len(r.completions()) == 1
        assert [e.seq for e in r.cp.stored] == list(range(1, len(r.cp.stored) + 1))


async def test_shutdown_during_setup_ends_the_script_and_exits_0(tmp_path: Path, sandbox_git_env):
    pid_file = tmp_path / "setup.pid"
    files = {".openinspect/setup.sh": f"echo $$ > {pid_file}\necho working\nsleep 60\n"}
    async with rig(tmp_path, sandbox_git_env, files=files) as r:
        await r.cp.wait_for(protocol.ScriptOutput)
        r.supervisor.request_shutdown("signal SIGTERM")
        assert await r.exit_code() == ExitCode.OK
        assert not r.cp.of_type(protocol.Ready)
        assert gone(int(pid_file.read_text()))
