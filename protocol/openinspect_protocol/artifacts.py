"""Artifact uploads: how a sandbox hands the control plane a file (a screenshot) for its session.

Not over the event stream: an image is megabytes, and every event is stored in the
timeline and kept in the bridge's outbox until acknowledged. An upload is a WebSocket
connection of its own to the bridge server, at ``/bridge/{session_id}/artifacts``, with
the handshake of the bridge itself (the sandbox token as ``Authorization: Bearer``, the
protocol version header; 401 unknown token, 403 another session's or an ended
sandbox's). On it, one upload:

1. the sandbox sends one text frame, an :class:`UploadHeader` (what it is, how many bytes);
2. then the bytes, in binary frames of at most :data:`UPLOAD_CHUNK_BYTES`;
3. the control plane answers with one text frame, an :class:`UploadResult`, and closes.

The control plane may answer early (the declared size is over its cap, the session has
too many artifacts): the sandbox then stops sending. The bytes' type is judged by the
bytes (:mod:`openinspect_protocol.images`), never by the header.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, TypeAdapter

from openinspect_protocol.base import Message, parse, parse_object

UPLOAD_PATH_SUFFIX = "/artifacts"
# Below the bridge server's frame limit (OPENINSPECT_MAX_FRAME_BYTES, 256 KiB by default).
UPLOAD_CHUNK_BYTES = 128 * 1024
MAX_CAPTION_CHARS = 500
MAX_PAGE_URL_CHARS = 2000
MAX_PAGE_TITLE_CHARS = 300
# Why: above any cap an operator would set (OPENINSPECT_ARTIFACT_MAX_BYTES); the header's own bound.
MAX_DECLARED_BYTES = 1024 * 1024 * 1024

Viewport = Literal["desktop", "phone"]


class UploadHeader(Message):
    """The first frame of an upload: what follows and what it shows."""

    type: Literal["artifact_upload"] = "artifact_upload"
    kind: Literal["screenshot"] = "screenshot"
    size_bytes: int = Field(gt=0, le=MAX_DECLARED_BYTES, strict=True, description="exactly this many bytes follow")
    message_id: str | None = Field(default=None, max_length=32, description="the prompt running when it was taken")
    caption: str = Field(default="", max_length=MAX_CAPTION_CHARS, description="what the agent says it shows")
    page_url: str = Field(default="", max_length=MAX_PAGE_URL_CHARS, description="the page it was taken of")
    page_title: str = Field(default="", max_length=MAX_PAGE_TITLE_CHARS, description="that page's <title>")
    viewport: Viewport = "desktop"
    full_page: bool = False


class UploadResult(Message):
    """The control plane's answer: the new artifact's id, or why there is none."""

    type: Literal["artifact_upload_result"] = "artifact_upload_result"
    ok: bool
    artifact_id: str | None = None
    error: str | None = None


_header: TypeAdapter[UploadHeader] = TypeAdapter(UploadHeader)
_result: TypeAdapter[UploadResult] = TypeAdapter(UploadResult)


def parse_header(raw: str | bytes) -> UploadHeader:
    return parse(_header, raw, "artifact upload header")


def header_of(values: dict[str, object]) -> UploadHeader:
    """A header from already decoded values (a tool's request); :class:`ProtocolError` saying what is wrong."""
    return parse_object(_header, values, "artifact upload header")


def parse_result(raw: str | bytes) -> UploadResult:
    return parse(_result, raw, "artifact upload result")


def upload_path(session_id: str) -> str:
    """The path of an upload for ``session_id`` (already URL-safe: ids are hex)."""
    return f"/bridge/{session_id}{UPLOAD_PATH_SUFFIX}"
