"""The verify gate with real bash: passed, failed, a hang killed at the limit, nothing left running;
and the turn's changes reported (or a warning when git cannot read them)."""

from __future__ import annotations

import os
from pathlib import Path

import openinspect_protocol as protocol

from sandbox.changes import ChangeReader
from sandbox.scripts import ScriptResult, ScriptRunner
from sandbox.verify import TurnChecks, verify_finished
from tests.sandbox.control_plane import wait_until
from tests.sandbox.gitrepos import git, make_repo
from tests.sandbox.procs import gone
from tests.sandbox.test_scripts import write_script


def checks_for(repo: Path, env: dict[str, str], timeout: float = 30) -> tuple[TurnChecks, list[protocol.SandboxEvent]]:
    events: list[protocol.SandboxEvent] = []
    scripts = ScriptRunner(repo, env={**env, "API_KEY": "s3cr3t-value"}, emit=events.append)
    changes = ChangeReader(repo, env=env, max_file_bytes=65536, max_total_bytes=196608)
    changes.base_branch = "main"
    return TurnChecks(scripts, changes, events.append, verify_timeout_seconds=timeout), events


def test_the_outcome_of_a_run() -> None:
    def result(exit_code: int | None, timed_out: bool = False) -> ScriptResult:
        return ScriptResult("verify", exit_code, timed_out, 1500, ("a", "b"))

    assert verify_finished(result(0), 300, "abc", "m1").outcome == "passed"
    failed = verify_finished(result(2), 300, "abc", "m1")
    assert (failed.outcome, failed.exit_code, failed.tail, failed.message_id) == ("failed", 2, "a\nb", "m1")
    hung = verify_finished(result(None, timed_out=True), 5, None)
    assert (hung.outcome, hung.exit_code, hung.timeout_seconds) == ("timed_out", None, 5)
    long_tail = ScriptResult("verify", 1, False, 10, tuple("x" * 500 for _ in range(20)))
    assert len(verify_finished(long_tail, 300, None).tail) <= protocol.events.MAX_VERIFY_TAIL_CHARS


async def test_no_verify_script_no_run(tmp_path: Path) -> None:
    checks, events = checks_for(tmp_path, {"PATH": os.environ["PATH"]})
    assert await checks.verify("m1", "abc") is None
    assert events == []


async def test_a_passing_verify_streams_its_output_for_the_turn(tmp_path: Path) -> None:
    write_script(tmp_path, "verify", 'echo "checking with ${API_KEY:+the secret}"\necho "2 passed"\n')
    checks, events = checks_for(tmp_path, {"PATH": os.environ["PATH"]})
    outcome = await checks.verify("m1", "abc123")
    assert outcome is not None and outcome.outcome == "passed" and outcome.exit_code == 0
    output = [e for e in events if isinstance(e, protocol.ScriptOutput)]
    assert "".join(e.text for e in output) == "checking with the secret\n2 passed\n"  # secrets reach verify.sh
    assert all(e.script == "verify" and e.message_id == "m1" for e in output)
    assert not any(isinstance(e, protocol.ScriptFinished) for e in events)  # verify_finished says it
    assert events[-1] == outcome and outcome.head_sha == "abc123" and outcome.tail.endswith("2 passed")


async def test_a_failing_verify_is_reported_with_its_exit_code(tmp_path: Path) -> None:
    write_script(tmp_path, "verify", 'echo "AssertionError: heading" >&2\nexit 3\n')
    checks, _ = checks_for(tmp_path, {"PATH": os.environ["PATH"]})
    outcome = await checks.verify("m2", None)
    assert outcome is not None
    assert (outcome.outcome, outcome.exit_code) == ("failed", 3)
    assert "AssertionError: heading" in outcome.tail


async def test_a_hanging_verify_is_killed_at_its_limit_with_what_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    write_script(tmp_path, "verify", f'sleep 300 &\necho $! > {pid_file}\necho "waiting forever"\nsleep 300\n')
    checks, _ = checks_for(tmp_path, {"PATH": os.environ["PATH"]}, timeout=1)
    outcome = await checks.verify("m3", None)
    assert outcome is not None
    assert (outcome.outcome, outcome.exit_code, outcome.timeout_seconds) == ("timed_out", None, 1)
    assert "waiting forever" in outcome.tail
    child = int(pid_file.read_text())
    await wait_until(lambda: gone(child), what="what verify.sh started to be ended")


async def test_what_a_finished_verify_left_running_is_ended(tmp_path: Path) -> None:
    pid_file = tmp_path / "server.pid"
    write_script(tmp_path, "verify", f'sleep 300 &\necho $! > {pid_file}\nexit 0\n')
    checks, _ = checks_for(tmp_path, {"PATH": os.environ["PATH"]})
    outcome = await checks.verify("m4", None)
    assert outcome is not None and outcome.outcome == "passed"
    child = int(pid_file.read_text())
    await wait_until(lambda: gone(child), what="what verify.sh started to be ended")


async def test_the_turn_changes_are_reported_for_the_prompt(tmp_path: Path, sandbox_git_env: dict[str, str]) -> None:
    origin = make_repo(tmp_path / "origin", sandbox_git_env)
    work = tmp_path / "work"
    git(tmp_path, "clone", "--quiet", str(origin), str(work), env=sandbox_git_env)
    (work / "README.md").write_text("hello, world\n")
    checks, events = checks_for(work, sandbox_git_env)
    reported = await checks.report_changes("m5")
    assert reported is not None and events == [reported] and reported.message_id == "m5"
    assert [f.path for f in reported.files] == ["README.md"]


async def test_changes_git_cannot_read_are_a_warning(tmp_path: Path) -> None:
    checks, events = checks_for(tmp_path / "not-a-repo", {"PATH": os.environ["PATH"]})
    (tmp_path / "not-a-repo").mkdir()
    assert await checks.report_changes("m6") is None
    assert len(events) == 1 and isinstance(events[0], protocol.WarningEvent)
    assert events[0].code == "changes_unavailable" and events[0].message_id == "m6"
