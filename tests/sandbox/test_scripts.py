"""ScriptRunner against real bash processes."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import openinspect_protocol as protocol

from sandbox.outbox import Outbox
from sandbox.scripts import CHUNK_MAX_CHARS, Chunker, ScriptRunner, Tail
from tests.sandbox.control_plane import wait_until
from tests.sandbox.procs import gone


def write_script(repo: Path, name: str, body: str) -> None:
    path = repo / ".openinspect" / f"{name}.sh"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)  # deliberately not executable: the runner calls bash itself


def runner_for(repo: Path) -> tuple[ScriptRunner, list[protocol.SandboxEvent]]:
    events: list[protocol.SandboxEvent] = []
    env = {"PATH": os.environ["PATH"], "HOME": str(repo), "GREETING": "hello from env"}
    return ScriptRunner(repo, env=env, emit=events.append), events


def output_of(events: list[protocol.SandboxEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, protocol.ScriptOutput))


async def test_output_streams_as_chunks_then_finished(tmp_path: Path):
    write_script(tmp_path, "setup", 'echo "one"\necho "two" >&2\necho "$GREETING"\npwd\n')
    runner, events = runner_for(tmp_path)
    assert runner.exists("setup") and not runner.exists("start")
    result = await runner.run("setup", timeout_seconds=30)
    assert result.ok and result.exit_code == 0 and not result.timed_out
    assert output_of(events) == f"one\ntwo\nhello from env\n{tmp_path}\n"
    assert all(isinstance(e, protocol.ScriptOutput) and e.script == "setup" for e in events[:-1])
    finished = events[-1]
    assert isinstance(finished, protocol.ScriptFinished)
    assert (finished.script, finished.exit_code, finished.timed_out) == ("setup", 0, False)
    assert finished.duration_ms == result.duration_ms >= 0
    assert result.tail == ("one", "two", "hello from env", str(tmp_path))


async def test_large_output_is_cut_into_bounded_chunks_at_line_ends(tmp_path: Path):
    write_script(tmp_path, "setup", 'for i in $(seq 1 3000); do echo "line $i"; done\n')
    runner, events = runner_for(tmp_path)
    await runner.run("setup", timeout_seconds=30)
    chunks = [e.text for e in events if isinstance(e, protocol.ScriptOutput)]
    assert len(chunks) >= 6  # ~25 KB of output
    assert all(len(chunk) <= CHUNK_MAX_CHARS for chunk in chunks)
    assert all(chunk.endswith("\n") for chunk in chunks)
    assert "".join(chunks) == "".join(f"line {i}\n" for i in range(1, 3001))


async def test_a_failing_script_reports_its_exit_code_and_last_lines(tmp_path: Path):
    write_script(tmp_path, "start", 'for i in $(seq 1 30); do echo "log $i"; done\necho "boom" >&2\nexit 3\n')
    runner, events = runner_for(tmp_path)
    result = await runner.run("start", timeout_seconds=30)
    assert not result.ok and result.exit_code == 3
    assert result.tail[-1] == "boom" and len(result.tail) == 20
    assert isinstance(events[-1], protocol.ScriptFinished) and events[-1].exit_code == 3


async def test_a_timeout_kills_the_whole_process_group(tmp_path: Path):
    pid_file = tmp_path / "child.pid"
    write_script(tmp_path, "setup", f'echo started\nsleep 300 &\necho $! > {pid_file}\nwait\n')
    runner, events = runner_for(tmp_path)
    result = await runner.run("setup", timeout_seconds=0.5)
    assert result.timed_out and result.exit_code is None and not result.ok
    child = int(pid_file.read_text())
    await wait_until(lambda: gone(child), what=f"the script's child {child} to be gone")
    assert output_of(events) == "started\n"
    finished = events[-1]
    assert isinstance(finished, protocol.ScriptFinished) and finished.timed_out


async def test_a_background_child_left_running_does_not_hold_the_script_and_close_ends_it(tmp_path: Path):
    pid_file = tmp_path / "server.pid"
    write_script(tmp_path, "start",
                 f'(while true; do echo tick; sleep 0.05; done) &\necho $! > {pid_file}\necho started\n')
    runner, events = runner_for(tmp_path)
    result = await asyncio.wait_for(runner.run("start", timeout_seconds=30), 20)
    assert result.ok
    server = int(pid_file.read_text())
    assert not gone(server)  # a service start.sh started keeps running
    count = len(events)
    await asyncio.sleep(0.2)
    assert len(events) == count  # ...but its later output is not streamed after script_finished
    await runner.close()
    await wait_until(lambda: gone(server), what="the background server to be ended")


async def test_output_that_is_not_utf8_is_replaced_not_fatal(tmp_path: Path):
    write_script(tmp_path, "setup", "printf 'caf\\xc3\\xa9 \\xff\\n'\n")
    runner, events = runner_for(tmp_path)
    await runner.run("setup", timeout_seconds=30)
    assert output_of(events) == "caf\u00e9 \ufffd\n"


def test_chunker_prefers_line_ends_and_cuts_long_lines():
    chunker = Chunker(max_chars=10)
    assert chunker.push("abc\n") == []
    assert chunker.push("defgh\nij") == ["abc\ndefgh\n"]
    assert chunker.push("klmnopqrstuvwxyz") == ["ijklmnopqr"]
    assert chunker.take() == "stuvwxyz"
    assert not chunker.pending


def test_tail_keeps_the_last_lines_and_a_partial_one():
    tail = Tail(lines=3)
    tail.feed("a\nb\nc\nd\npart")
    assert tail.lines() == ("c", "d", "part")
    tail.feed("ial\n")
    assert tail.lines() == ("b", "c", "d", "partial")[-3:]


async def test_output_beyond_the_limit_is_dropped_with_one_warning_and_the_script_goes_on(tmp_path: Path):
    done = tmp_path / "finished"
    write_script(tmp_path, "setup", "for i in $(seq 1 20000); do echo \"line $i é\"; done\n"
                                    f"echo 'the last line'\ntouch {done}\nexit 4\n")
    events: list[protocol.SandboxEvent] = []
    runner = ScriptRunner(tmp_path, env={"PATH": os.environ["PATH"]}, emit=events.append, max_output_bytes=10_000)
    result = await runner.run("setup", timeout_seconds=60)
    assert done.exists() and result.exit_code == 4  # it ran to its end
    sent = output_of(events)
    full = "".join(f"line {i} é\n" for i in range(1, 20001)) + "the last line\n"
    assert full.startswith(sent) and 9_990 <= len(sent.encode()) <= 10_000  # never half a character
    warnings = [e for e in events if isinstance(e, protocol.WarningEvent)]
    assert len(warnings) == 1 and warnings[0].code == "script_output_truncated"
    assert "10000 bytes" in warnings[0].message and "setup.sh" in warnings[0].message
    assert isinstance(events[-1], protocol.ScriptFinished) and events[-1].exit_code == 4
    assert result.tail[-1] == "the last line"  # a failure is still explained by its last lines


async def test_output_within_the_limit_is_all_sent_without_a_warning(tmp_path: Path):
    write_script(tmp_path, "setup", "printf 'x%.0s' $(seq 1 1000)\n")
    events: list[protocol.SandboxEvent] = []
    runner = ScriptRunner(tmp_path, env={"PATH": os.environ["PATH"]}, emit=events.append, max_output_bytes=1000)
    await runner.run("setup", timeout_seconds=30)
    assert output_of(events) == "x" * 1000
    assert not [e for e in events if isinstance(e, protocol.WarningEvent)]


async def test_the_default_limit_is_the_launch_specs(tmp_path: Path):
    # (a second after it, so all of it is read before the script ends, however busy the machine)
    write_script(tmp_path, "setup", "head -c 1100000 /dev/zero | tr '\\0' 'y'\nsleep 1\n")
    runner, events = runner_for(tmp_path)
    await runner.run("setup", timeout_seconds=60)
    assert len(output_of(events)) == protocol.LaunchSpec.model_fields["max_script_output_bytes"].default
    assert [e.code for e in events if isinstance(e, protocol.WarningEvent)] == ["script_output_truncated"]


async def test_a_full_outbox_stops_the_output_not_the_script(tmp_path: Path):
    write_script(tmp_path, "setup", "for i in $(seq 1 2000); do echo \"line $i\"; done\n")
    outbox = Outbox(max_events=3)
    runner = ScriptRunner(tmp_path, env={"PATH": os.environ["PATH"]}, emit=outbox.add)
    result = await runner.run("setup", timeout_seconds=60)
    assert result.exit_code == 0 and result.tail[-1] == "line 2000"
    kinds = [e.type for e in outbox.unacked()]
    assert kinds[:3] == ["script_output"] * 3 and kinds[3:] == ["script_finished"]  # the end still gets through
