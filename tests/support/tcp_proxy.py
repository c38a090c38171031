"""A TCP proxy for fault tests: it forwards connections to a target and, on demand, cuts every
live connection (an abort on both sides, as a dying load balancer or a network blip would),
stalls them (bytes held until released), or delays every chunk."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

CHUNK = 64 * 1024


class TcpProxy:
    def __init__(self, target: Callable[[], tuple[str, int]]) -> None:
        """``target`` is asked at each new connection (the target's port may be known only later)."""
        self._target = target
        self._server: asyncio.Server | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self.delay_seconds = 0.0
        self.accepted = 0  # connections accepted since the start
        self.cuts = 0  # connections cut by ``cut_all``

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut_all(count=False)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> TcpProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def live(self) -> int:
        return len(self._pairs)

    def cut_all(self, *, count: bool = True) -> int:
        """Abort every live connection on both sides; how many there were."""
        pairs = list(self._pairs)
        for client, upstream in pairs:
            for writer in (client, upstream):
                writer.transport.abort()
        self._pairs.clear()
        if count:
            self.cuts += len(pairs)
        return len(pairs)

    def stall(self) -> None:
        """Hold every byte in both directions until :meth:`resume` (connections stay open)."""
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        host, port = self._target()
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        except OSError:
            client_writer.transport.abort()
            return
        pair = (client_writer, upstream_writer)
        self._pairs.add(pair)
        try:
            await asyncio.gather(self._pipe(client_reader, upstream_writer),
                                 self._pipe(upstream_reader, client_writer))
        finally:
            self._pairs.discard(pair)
            for writer in pair:
                writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while chunk := await reader.read(CHUNK):
                await self._flowing.wait()
                if self.delay_seconds:
                    await asyncio.sleep(self.delay_seconds)
                writer.write(chunk)
                await writer.drain()
        with contextlib.suppress(OSError):
            if writer.can_write_eof():
                writer.write_eof()
