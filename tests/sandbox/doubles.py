"""A stand-in agent harness for supervisor and entrypoint tests.

The real OpenCode harness is tested in ``test_opencode_harness.py``; here the
supervisor only needs something that honours :class:`AgentHarness`'s contract.
Each prompt line is an instruction:

- ``say <text>``    emit a ``token`` event
- ``commit <msg>``  ``git commit --allow-empty -m <msg>`` in the workdir, with the agent's env
- ``wait``          block until aborted (returns ``stopped=True``)
- ``die``           the "process" dies mid-turn (returns ``success=False``)
- ``fail``          the turn ends with ``success=False``

Environment knobs (from ``AgentConfig.env``, so they work through the entrypoint):
``SCRIPTED_HARNESS_FAIL_STARTS=<n>`` makes the first n starts raise
:class:`AgentStartError`.
"""

from __future__ import annotations

import asyncio

import openinspect_protocol as protocol

from sandbox.harness.base import AgentConfig, AgentHarness, AgentStartError, Emit

VERSION = "0.0-scripted"


class ScriptedHarness(AgentHarness):
    name = "scripted"

    def __init__(self, config: AgentConfig, *, fail_starts: int | None = None) -> None:
        self.config = config
        self.fail_starts = (int(config.env.get("SCRIPTED_HARNESS_FAIL_STARTS", "0"))
                            if fail_starts is None else fail_starts)
        self.starts = 0
        self.runs: list[str] = []
        self.aborts = 0
        self.closed = False
        self._alive = False
        self._abort = asyncio.Event()

    async def start(self) -> str:
        self.starts += 1
        if self.fail_starts > 0:
            self.fail_starts -= 1
            raise AgentStartError("the scripted agent refused to start")
        self._alive = True
        return VERSION

    def kill(self) -> None:
        """The agent process dies while idle."""
        self._alive = False

    async def run(self, prompt: protocol.Prompt, emit: Emit) -> protocol.ExecutionComplete:
        self.runs.append(prompt.message_id)
        self._abort.clear()
        mid = prompt.message_id
        for line in prompt.content.splitlines():
            verb, _, arg = line.partition(" ")
            match verb:
                case "say":
                    emit(protocol.TokenDelta(part_id="p1", text=arg, message_id=mid))
                case "commit":
                    await self._git_commit(arg)
                case "wait":
                    await self._abort.wait()
                    return protocol.ExecutionComplete(success=False, stopped=True, message_id=mid)
                case "die":
                    self._alive = False
                    return protocol.ExecutionComplete(success=False, error="the agent process exited",
                                                      message_id=mid)
                case "fail":
                    return protocol.ExecutionComplete(success=False, error="scripted failure", message_id=mid)
        return protocol.ExecutionComplete(success=True, message_id=mid)

    async def _git_commit(self, message: str) -> None:
        process = await asyncio.create_subprocess_exec(
            "git", "commit", "--quiet", "--allow-empty", "-m", message,
            cwd=self.config.workdir, env=dict(self.config.env),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        assert process.returncode == 0, output.decode()

    async def abort(self) -> None:
        self.aborts += 1
        self._abort.set()

    @property
    def running(self) -> bool:
        return self._alive

    async def close(self) -> None:
        self.closed = True
        self._alive = False
