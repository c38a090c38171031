"""Artifact uploads from sandboxes: one WebSocket connection, one file (a screenshot).

The bridge server accepts ``/bridge/{session_id}/artifacts`` with the bridge's own
handshake checks (the sandbox token of a live sandbox of that session: 401/403
otherwise, before any byte is read) and hands the connection here with the session
and sandbox it authenticated. What is said on it is
:mod:`openinspect_protocol.artifacts`: a header, the bytes in chunks, one answer.

Owns: reading the upload within its bounds (the declared size against the cap before
the bytes come, never more bytes than declared, a time limit per frame) and answering
every refusal with a reason the agent can act on. Leaves the rules (sizes, types, what
is stored where) to :mod:`openinspect_core.services.artifacts`. Refusals are logged for
operators; an accepted upload becomes an ``artifact_created`` event there.
"""

from __future__ import annotations

import asyncio

from openinspect_protocol.artifacts import UploadHeader, UploadResult, parse_header
from openinspect_protocol.base import ProtocolError
from openinspect_protocol.logs import EventLog
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from openinspect_core.context import AppContext
from openinspect_core.services import artifacts
from openinspect_core.services.errors import ServiceError

log = EventLog(__name__)

# Why: a sandbox sends a screenshot in well under a second; a minute of silence means it is gone.
FRAME_TIMEOUT_SECONDS = 60.0


class UploadRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ArtifactUploads:
    """Takes uploads for the sessions whose sandboxes the bridge server authenticated."""

    def __init__(self, context: AppContext, *, frame_timeout_seconds: float = FRAME_TIMEOUT_SECONDS) -> None:
        self.context = context
        self.caps = artifacts.Caps.from_settings(context.settings)
        self.frame_timeout_seconds = frame_timeout_seconds

    async def serve(self, websocket: ServerConnection, session_id: str, sandbox_id: str) -> None:
        """Take one upload on ``websocket``, answer it, close."""
        try:
            result = await self._take(websocket, session_id, sandbox_id)
        except UploadRefused as refused:
            log.warning("artifact_uploads.refused", session_id=session_id, sandbox_id=sandbox_id,
                        code=refused.code, reason=refused.message)
            result = UploadResult(ok=False, error=refused.message)
        except ConnectionClosed:
            log.info("artifact_uploads.gone", session_id=session_id, sandbox_id=sandbox_id)
            return
        try:
            await websocket.send(result.to_json())
            await websocket.close()
        except ConnectionClosed:
            pass

    async def _take(self, websocket: ServerConnection, session_id: str, sandbox_id: str) -> UploadResult:
        first = await self._next(websocket)
        if not isinstance(first, str):
            raise UploadRefused("no_header", "an upload starts with its header (a JSON text frame)")
        try:
            header = parse_header(first)
        except ProtocolError as exc:
            raise UploadRefused("bad_header", str(exc)) from None
        try:
            async with self.context.db.session() as db:
                await artifacts.check_header(db, session_id, header, self.caps)
        except ServiceError as exc:  # before a byte is sent: the sandbox stops at the answer
            raise UploadRefused(exc.code, exc.message) from None
        data = await self._receive_bytes(websocket, header)
        try:
            artifact = await artifacts.save_upload(
                self.context.db, self.context.notifier, self.context.artifacts, session_id=session_id,
                sandbox_id=sandbox_id, header=header, data=data, caps=self.caps)
        except ServiceError as exc:
            raise UploadRefused(exc.code, exc.message) from None
        return UploadResult(ok=True, artifact_id=artifact.id)

    async def _receive_bytes(self, websocket: ServerConnection, header: UploadHeader) -> bytes:
        chunks: list[bytes] = []
        received = 0
        while received < header.size_bytes:
            frame = await self._next(websocket)
            if not isinstance(frame, bytes):
                raise UploadRefused("bad_frame", "expected the image's bytes (binary frames) after the header")
            received += len(frame)
            if received > header.size_bytes:
                raise UploadRefused("artifact_too_long", f"more than the announced {header.size_bytes:,} bytes "
                                                         "arrived")
            chunks.append(frame)
        return b"".join(chunks)

    async def _next(self, websocket: ServerConnection) -> str | bytes:
        try:
            return await asyncio.wait_for(websocket.recv(), self.frame_timeout_seconds)
        except TimeoutError:
            raise UploadRefused("timeout", f"nothing arrived for {self.frame_timeout_seconds:g} s") from None
