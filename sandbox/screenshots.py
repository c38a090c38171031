"""The runtime's end of the agent's screenshot tool: take the image, upload it, answer.

:class:`ScreenshotDesk` owns a Unix socket (in a private temporary directory; its path
is given to the tool's MCP server, :mod:`sandbox.tools.screenshot_mcp`). One request,
one connection: a JSON line (caption, page URL and title, viewport, ``size_bytes``),
then exactly that many bytes. The desk checks them (a PNG, JPEG or WebP image, within
:data:`MAX_IMAGE_BYTES`; the control plane checks again, and its cap may be lower),
uploads them with :class:`ArtifactUploader`, and answers one JSON line:
``{"ok": true, "artifact_id"}`` or ``{"ok": false, "error"}``.

:class:`ArtifactUploader` speaks :mod:`openinspect_protocol.artifacts` to the bridge
server: a WebSocket of its own at ``/bridge/{session}/artifacts`` with the sandbox
token (which only the runtime holds: the agent and its tools never see it), the
header, the bytes in chunks, the answer.

The socket is reachable by the agent (same user); all it can do with it is put an
image into its own session's timeline, which is what the tool does anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import openinspect_protocol as protocol
from openinspect_protocol.artifacts import (
    UPLOAD_CHUNK_BYTES,
    UPLOAD_PATH_SUFFIX,
    UploadHeader,
    UploadResult,
    header_of,
    parse_result,
)
from openinspect_protocol.images import NotAnImage, sniff
from openinspect_protocol.logs import EventLog
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from sandbox.config import BridgeSettings
from sandbox.tool_socket import ToolSocket

log = EventLog("sandbox.screenshots")

# Why: far above any sensible screenshot (the control plane's own cap, 10 MiB by default, decides);
# only bounds what one request may make the runtime hold.
MAX_IMAGE_BYTES = 64 * 1024 * 1024
MAX_HEADER_BYTES = 16 * 1024
UPLOAD_TIMEOUT_SECONDS = 60.0


class UploadFailed(Exception):
    """The control plane did not take the upload; the message says why (for the agent)."""


class ArtifactUploader:
    """Uploads one file at a time to the control plane, as this sandbox."""

    def __init__(self, settings: BridgeSettings, *, timeout_seconds: float = UPLOAD_TIMEOUT_SECONDS) -> None:
        self._settings = settings
        self._timeout_seconds = timeout_seconds

    @property
    def url(self) -> str:
        base = self._settings.control_plane_url.rstrip("/")
        return f"{base}/bridge/{quote(self._settings.session_id, safe='')}{UPLOAD_PATH_SUFFIX}"

    async def upload(self, header: UploadHeader, data: bytes) -> UploadResult:
        try:
            return await asyncio.wait_for(self._upload(header, data), self._timeout_seconds)
        except TimeoutError:
            raise UploadFailed(f"the control plane did not answer within {self._timeout_seconds:g} s") from None

    async def _upload(self, header: UploadHeader, data: bytes) -> UploadResult:
        headers = {"Authorization": f"Bearer {self._settings.sandbox_token}",
                   protocol.PROTOCOL_HEADER: str(protocol.PROTOCOL_VERSION)}
        try:
            async with connect(self.url, additional_headers=headers, proxy=None, max_size=MAX_HEADER_BYTES) as ws:
                await ws.send(header.to_json())
                answer = await self._send_bytes(ws, data)
                return parse_result(answer if answer is not None else await ws.recv())
        except InvalidStatus as exc:
            body = exc.response.body.decode("utf-8", "replace").strip() if exc.response.body else ""
            raise UploadFailed(f"the control plane refused the upload (HTTP {exc.response.status_code}: "
                               f"{body or 'no reason given'})") from None
        except (OSError, ConnectionClosed, protocol.ProtocolError) as exc:
            raise UploadFailed(f"the upload failed: {type(exc).__name__}: {exc}") from None

    async def _send_bytes(self, ws: Any, data: bytes) -> str | bytes | None:
        """Send the bytes; an answer that came early (a refusal) stops them and is returned."""
        for start in range(0, len(data), UPLOAD_CHUNK_BYTES):
            with contextlib.suppress(TimeoutError):
                early = await asyncio.wait_for(ws.recv(), 0) if start else None
                if early is not None:
                    return early  # type: ignore[no-any-return]
            try:
                await ws.send(data[start:start + UPLOAD_CHUNK_BYTES])
            except ConnectionClosed:
                return None  # refused and closed: its answer is still there to read
        return None


class ScreenshotDesk:
    """Serves the screenshot tool's socket; each request is uploaded as it arrives."""

    def __init__(self, uploader: ArtifactUploader, running_message_id: Callable[[], str | None]) -> None:
        self._uploader = uploader
        self._running_message_id = running_message_id
        self._socket = ToolSocket("screenshots", self.answer, limit_bytes=MAX_HEADER_BYTES)
        self.socket_path = self._socket.path

    async def start(self) -> None:
        await self._socket.start()

    async def close(self) -> None:
        await self._socket.close()

    async def answer(self, reader: asyncio.StreamReader) -> dict[str, Any]:
        """Read one request from ``reader``, upload it; the answer for the tool."""
        try:
            request = json.loads(await reader.readline())
        except (ValueError, asyncio.LimitOverrunError):
            return {"ok": False, "error": "the request did not start with one line of JSON"}
        if not isinstance(request, dict):
            return {"ok": False, "error": "the request was not a JSON object"}
        size = request.get("size_bytes")
        if not isinstance(size, int) or not 0 < size <= MAX_IMAGE_BYTES:
            return {"ok": False, "error": f"size_bytes must be from 1 to {MAX_IMAGE_BYTES:,}"}
        data = await reader.readexactly(size)
        try:
            sniff(data)  # the control plane judges again; this only answers the agent sooner
            header = header_of({"size_bytes": size, "message_id": self._running_message_id(),
                                **{k: request[k] for k in ("caption", "page_url", "page_title", "viewport",
                                                           "full_page") if k in request}})
        except NotAnImage as exc:
            return {"ok": False, "error": f"{exc}; only PNG, JPEG and WebP images are kept"}
        except protocol.ProtocolError as exc:
            return {"ok": False, "error": str(exc)}
        try:
            result = await self._uploader.upload(header, data)
        except UploadFailed as exc:
            log.warning("screenshots.upload_failed", error=str(exc))
            return {"ok": False, "error": str(exc)}
        log.info("screenshots.uploaded", artifact_id=result.artifact_id, ok=result.ok, size_bytes=size)
        if result.ok:
            return {"ok": True, "artifact_id": result.artifact_id}
        return {"ok": False, "error": result.error or "the control plane gave no reason"}
