"""A recording fake model provider: a tiny ASGI app the model-proxy tests put behind the proxy.

It records every call it gets and answers what the test queued (else its
``default``, else an empty JSON object), piece by piece — a piece may be an
``asyncio.Event`` it waits for, so a test can prove a chunk went through before
the provider sent the next one. Served by uvicorn in the test's own loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


def sse(*events: object) -> bytes:
    return b"".join(b"data: " + (e if isinstance(e, bytes) else json.dumps(e).encode()) + b"\n\n" for e in events)


@dataclass
class Answer:
    status: int = 200
    content_type: str = "application/json"
    pieces: list[bytes | asyncio.Event] = field(default_factory=list)


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)


class FakeProvider:
    """Records each call; answers with the next queued :class:`Answer` (see the module docstring)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.answers: list[Answer] = []
        self.default: Answer | None = None  # for every call nothing was queued for

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                       send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.calls.append(Call(scope["method"], scope["path"], scope["query_string"].decode(),
                               [(k.decode(), v.decode()) for k, v in scope["headers"]], body))
        answer = self.answers.pop(0) if self.answers else self.default or Answer(pieces=[b"{}"])
        await send({"type": "http.response.start", "status": answer.status,
                    "headers": [(b"content-type", answer.content_type.encode()), (b"x-request-id", b"req-1")]})
        for piece in answer.pieces:
            if isinstance(piece, asyncio.Event):
                await piece.wait()
            else:
                await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
