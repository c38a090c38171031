"""Reading a server-sent-event stream in the background, each event kept with the moment it arrived.

Both sides of the sandbox-start comparison wait on these: the system's session
stream and OpenCode's ``/event``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bench.sandbox_start_run import HTTP_TIMEOUT_SECONDS, RunFailed
from sandbox.harness.opencode_events import sse_events


@dataclass(frozen=True)
class Arrival:
    perf: float  # time.perf_counter() when the client read the event
    wall: float  # time.time() at the same moment
    event: dict[str, Any]


class StreamRecorder:
    """Reads one server-sent-event stream of JSON objects in a task, keeping each with its arrival time."""

    def __init__(self, client: httpx.AsyncClient, path: str) -> None:
        self.arrivals: list[Arrival] = []
        self._client = client
        self._path = path
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> StreamRecorder:
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _read(self) -> None:
        try:
            timeout = httpx.Timeout(HTTP_TIMEOUT_SECONDS, read=None)
            async with self._client.stream("GET", self._path, timeout=timeout) as response:
                response.raise_for_status()
                async for event in sse_events(response.aiter_lines()):
                    self.arrivals.append(Arrival(time.perf_counter(), time.time(), event))
                    self._changed.set()
        finally:
            self._changed.set()  # a waiter must hear that the stream ended

    async def follow(self, start: int = 0) -> AsyncIterator[Arrival]:
        """Every arrival from index ``start`` on, as it comes; raises if the stream ends."""
        assert self._task is not None
        index = start
        while True:
            while index < len(self.arrivals):
                index += 1
                yield self.arrivals[index - 1]
            if self._task.done():
                error = None if self._task.cancelled() else self._task.exception()
                raise RunFailed(f"the event stream {self._path} ended ({error!r})")
            self._changed.clear()
            await self._changed.wait()

    async def first(self, predicate: Callable[[dict[str, Any]], bool], start: int = 0) -> Arrival:
        async with contextlib.aclosing(self.follow(start)) as arrivals:
            async for arrival in arrivals:
                if predicate(arrival.event):
                    return arrival
        raise AssertionError("follow() never ends on its own")
