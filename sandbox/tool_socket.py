"""The Unix socket an agent's tool reaches the runtime through: one JSON answer per connection.

A tool's MCP server (:mod:`sandbox.tools`) connects, sends its request, and reads one
JSON line back. :class:`ToolSocket` owns the socket's private directory, the server,
and turning whatever the desk's ``answer`` returns into that line; one bad request
costs only its own connection. The desks (:mod:`sandbox.pull_requests`,
:mod:`sandbox.screenshots`) own what a request means.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from openinspect_protocol.logs import EventLog

log = EventLog(__name__)

Answer = Callable[[asyncio.StreamReader], Awaitable[dict[str, Any]]]
CLOSE_TIMEOUT_SECONDS = 1.0


class ToolSocket:
    """A Unix socket in a directory of its own, answering each connection with ``answer``'s JSON."""

    def __init__(self, name: str, answer: Answer, *, limit_bytes: int) -> None:
        self._name = name  # the log lines' prefix: "pull_requests", "screenshots"
        self._answer = answer
        self._limit_bytes = limit_bytes
        # /tmp, not $TMPDIR: a socket's path is limited to ~100 bytes and $TMPDIR may be long (a kubelet's).
        self._dir = Path(tempfile.mkdtemp(prefix="oi-", dir="/tmp" if Path("/tmp").is_dir() else None))
        self.path = self._dir / f"{name}.sock"
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._handle, path=str(self.path), limit=self._limit_bytes)
        log.info(f"{self._name}.listening", socket=str(self.path))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), CLOSE_TIMEOUT_SECONDS)
            self._server = None
        shutil.rmtree(self._dir, ignore_errors=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            answer = await self._answer(reader)
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.info(f"{self._name}.client_gone", error=type(exc).__name__)
        except Exception:  # one bad request must not cost the server
            log.exception(f"{self._name}.failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
