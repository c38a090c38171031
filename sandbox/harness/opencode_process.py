"""The ``opencode serve`` child process: spawn, log, wait for its URL, kill its tree.

:class:`AgentProcess` owns one child: both output pipes (copied to a log
file), the last stderr lines (for error messages), the URL it prints once it
listens, and termination of its whole process tree — OpenCode starts its tool
commands detached, in their own process groups, so killing its group alone
would leave them running.

What this module leaves to others: the environment and arguments the child runs
with (:mod:`sandbox.harness.opencode_config`, :mod:`sandbox.harness.opencode`),
and everything over HTTP; it knows nothing of sessions or events.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openinspect_protocol.logs import EventLog

from sandbox.harness.base import AgentStartError

log = EventLog("sandbox.harness.opencode_process")

TERMINATE_GRACE_SECONDS = 5.0
STDERR_TAIL_LINES = 40

_LISTENING = re.compile(r"opencode server listening on (?P<url>http://\S+)")


def _descendants(root_pid: int) -> list[int]:
    """Every live descendant of ``root_pid`` (Linux ``/proc``; empty elsewhere).

    OpenCode starts its tool commands detached (their own process groups), so
    killing its process group alone would leave them running.
    """
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], [root_pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill(process_group: int, pids: list[int], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process_group, sig)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


class AgentProcess:
    """Owns one ``opencode serve`` child: its pipes, its log file and its process tree.

    Both output streams go to ``log_path``; the last stderr lines are kept for
    error messages. Knows nothing of HTTP.
    """

    def __init__(self, proc: asyncio.subprocess.Process, log_path: Path) -> None:
        self.proc = proc
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._log = log_path.open("ab")
        self._listening: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._readers = [
            asyncio.create_task(self._read(proc.stdout, b"stdout")),
            asyncio.create_task(self._read(proc.stderr, b"stderr")),
        ]

    @classmethod
    async def spawn(cls, argv: list[str], *, cwd: str, env: Mapping[str, str], log_path: Path) -> AgentProcess:
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=cwd, env=dict(env), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group: close() takes the whole group
        )
        return cls(proc, log_path)

    async def _read(self, stream: asyncio.StreamReader | None, name: bytes) -> None:
        if stream is None:
            return
        while line := await stream.readline():
            self._log.write(b"[" + name + b"] " + line)
            self._log.flush()
            text = line.decode(errors="replace").rstrip()
            if name == b"stderr":
                self.stderr_tail.append(text)
            elif (found := _LISTENING.search(text)) and not self._listening.done():
                self._listening.set_result(found.group("url"))

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def describe_exit(self) -> str:
        code = self.proc.returncode
        if code is None:
            return "still running"
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"killed by signal {signal.Signals(-code).name}"
        return f"exit code {code}"

    async def wait_listening(self, timeout_seconds: float) -> str:
        """The server's URL once it says it listens; AgentStartError if it exits or stalls first."""
        exited = asyncio.ensure_future(self.proc.wait())
        waiting: set[asyncio.Future[Any]] = {self._listening, exited}
        try:
            done, _ = await asyncio.wait(waiting, timeout=timeout_seconds,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            exited.cancel()
        if self._listening in done:
            return self._listening.result()
        if self.proc.returncode is not None:
            await asyncio.wait(self._readers, timeout=1.0)  # let the last stderr lines arrive
            tail = "\n".join(self.stderr_tail) or "(no output)"
            raise AgentStartError(f"opencode exited before listening ({self.describe_exit()}):\n{tail}")
        raise AgentStartError(f"opencode did not start listening within {timeout_seconds:.0f} s")

    async def terminate(self) -> None:
        """Stop the server and everything it started; then release pipes and the log."""
        group = self.proc.pid
        if self.proc.returncode is None:
            tree = _descendants(self.proc.pid)
            _kill(group, tree, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), TERMINATE_GRACE_SECONDS)
            except TimeoutError:
                log.warning("opencode.terminate.timeout", pid=self.proc.pid)
            _kill(group, tree + _descendants(self.proc.pid), signal.SIGKILL)
            await self.proc.wait()
        else:
            _kill(group, [], signal.SIGKILL)  # leftovers of a server that died on its own
        _, pending = await asyncio.wait(self._readers, timeout=TERMINATE_GRACE_SECONDS)
        for reader in pending:  # a grandchild still holds a pipe open
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        self._log.close()
