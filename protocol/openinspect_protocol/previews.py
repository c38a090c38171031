"""Live previews: the ports a repository's dev servers listen on, as both ends know them.

A repository declares them in ``.openinspect/preview.toml`` (docs/previews.md#live-previews);
the sandbox reads that file once after the clone, checks it against :class:`PreviewPort`
and reports the result as one ``preview_ports`` event (:class:`~openinspect_protocol.events.PreviewPorts`).
The control plane proxies only the ports of its sandbox's newest such event, so the rules
below (a port above the privileged range, a few of them, a short label and a path each)
are checked where the file is read and again where the event is parsed.

The agent learns where its own previews are from :data:`PREVIEW_URLS_ENV`: a JSON object of
port to the URL the sandbox itself reaches it at (``http://127.0.0.1:<port>/``, plus the
declared path), which the screenshot tool reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Annotated

from pydantic import AfterValidator, Field, TypeAdapter

from openinspect_protocol.base import Message, parse_object

DECLARATION_FILE = ".openinspect/preview.toml"  # in the repository
# Ports below 1024 are privileged (a sandbox's user cannot bind them anyway).
MIN_PREVIEW_PORT = 1024
MAX_PREVIEW_PORT = 65535
# A few dev servers (an app, an API, a storybook); more is a mistake, not a need.
MAX_PREVIEW_PORTS = 5
MAX_LABEL_CHARS = 60
MAX_PATH_CHARS = 200
PREVIEW_URLS_ENV = "OPENINSPECT_PREVIEW_URLS"  # the agent's environment: {"<port>": "<url>"}
SANDBOX_PREVIEW_HOST = "127.0.0.1"  # where the sandbox reaches its own dev servers


def _label(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("must not contain control characters")
    return value


def _path(value: str) -> str:
    # A path on the dev server the preview opens at: local (never //host), plain characters, no "..".
    if not value.startswith("/") or value.startswith("//"):
        raise ValueError("must start with a single '/'")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F or c in "\\#" for c in value):
        raise ValueError("must not contain spaces, control characters, '\\' or '#'")
    if ".." in value.split("?", 1)[0].split("/"):
        raise ValueError("must not contain '..'")
    return value


Label = Annotated[str, Field(min_length=1, max_length=MAX_LABEL_CHARS), AfterValidator(_label)]
PreviewPath = Annotated[str, Field(min_length=1, max_length=MAX_PATH_CHARS), AfterValidator(_path)]


class PreviewPort(Message):
    """One declared dev server: its port, what to call it, and the path its preview opens at."""

    port: int = Field(ge=MIN_PREVIEW_PORT, le=MAX_PREVIEW_PORT, strict=True)
    label: Label
    path: PreviewPath = "/"


def unique_ports(ports: list[PreviewPort]) -> list[PreviewPort]:
    """``ports`` if no port is declared twice (a validator of the lists that hold them)."""
    seen: set[int] = set()
    for item in ports:
        if item.port in seen:
            raise ValueError(f"port {item.port} is declared twice")
        seen.add(item.port)
    return ports


PreviewPortList = Annotated[list[PreviewPort], Field(max_length=MAX_PREVIEW_PORTS), AfterValidator(unique_ports)]


class PreviewDeclaration(Message):
    """The whole of ``.openinspect/preview.toml``: ``[[ports]]`` tables and nothing else."""

    ports: PreviewPortList


_declaration: TypeAdapter[PreviewDeclaration] = TypeAdapter(PreviewDeclaration)


def declaration_from(data: object) -> PreviewDeclaration:
    """Check a decoded declaration; :class:`~openinspect_protocol.ProtocolError` says what is wrong."""
    return parse_object(_declaration, data, DECLARATION_FILE)


def sandbox_url(port: PreviewPort) -> str:
    """Where the sandbox itself (the agent, its screenshot tool) reaches ``port``'s preview."""
    return f"http://{SANDBOX_PREVIEW_HOST}:{port.port}{port.path}"


def preview_urls(ports: Iterable[PreviewPort]) -> dict[str, str]:
    """The value of :data:`PREVIEW_URLS_ENV`, as a mapping: ``{"3000": "http://127.0.0.1:3000/"}``."""
    return {str(p.port): sandbox_url(p) for p in ports}


def preview_urls_json(urls: Mapping[str, str]) -> str:
    return json.dumps(dict(urls), sort_keys=True)
