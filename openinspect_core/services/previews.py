"""Live previews: which dev-server ports of a session may be proxied, and where they are.

A port may be proxied when the session's live sandbox declared it: its newest
``preview_ports`` event (``.openinspect/preview.toml``, read by the sandbox after its
clone) names it. Nothing else counts — not an older sandbox's declaration, not a
port the sandbox did not declare — so the web process never reaches a port of a
sandbox that no one asked to show. Where a declared port is (a loopback port here,
a Pod's address on Kubernetes) is the sandbox backend's answer
(:data:`SandboxAddresses`, built by the composition root), asked only after this check.

What this module leaves to others: signing in and the preview's own credential
(``openinspect_app/previews``), the proxying itself, and the backends' lookups
(``backend_jobs/sandboxes``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from openinspect_protocol import PreviewPorts, ProtocolError
from openinspect_protocol.previews import PreviewPort
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.models import LIVE_SANDBOX_STATUSES, Event, Sandbox
from openinspect_core.services import sessions, timeline
from openinspect_core.services.errors import NotFound, ServiceError

PREVIEW_EVENT = "preview_ports"


class PreviewUnavailable(ServiceError):
    """The port is declared, but cannot be reached now (no live sandbox, or its backend cannot say where)."""

    status_code = 503
    code = "preview_unavailable"


SandboxAddresses = Callable[[str, str, int], Awaitable[tuple[str, int]]]
"""``(backend name, sandbox's external id, port) -> (host, port)`` the web process connects to; raises
:class:`PreviewUnavailable` when the backend cannot say."""


@dataclass(frozen=True)
class DeclaredPreviews:
    sandbox: Sandbox | None  # the session's live sandbox; None: none is running
    ports: tuple[PreviewPort, ...]  # what it declared (empty: nothing, or not yet)


async def declared(db: AsyncSession, session_id: str) -> DeclaredPreviews:
    """The session's live sandbox and the ports it declared (:class:`NotFound` for no such session)."""
    await sessions.get(db, session_id)
    sandbox = (await db.exec(
        select(Sandbox).where(Sandbox.session_id == session_id, col(Sandbox.status).in_(LIVE_SANDBOX_STATUSES))
        .order_by(col(Sandbox.created_at).desc()).limit(1))).first()
    if sandbox is None:
        return DeclaredPreviews(None, ())
    row = (await db.exec(
        select(Event).where(Event.session_id == session_id, Event.sandbox_id == sandbox.id,
                            Event.type == PREVIEW_EVENT)
        .order_by(col(Event.sequence).desc()).limit(1))).first()
    if row is None:
        return DeclaredPreviews(sandbox, ())
    try:
        event = timeline.typed(row)
    except (ProtocolError, TypeError):
        return DeclaredPreviews(sandbox, ())  # an unreadable row declares nothing
    return DeclaredPreviews(sandbox, tuple(event.ports) if isinstance(event, PreviewPorts) else ())


@dataclass(frozen=True)
class PreviewTarget:
    sandbox: Sandbox
    port: PreviewPort


async def target(db: AsyncSession, session_id: str, port: int) -> PreviewTarget:
    """The live sandbox and declaration behind ``port`` of the session; refused with a reason otherwise."""
    found = await declared(db, session_id)
    if found.sandbox is None:
        raise PreviewUnavailable("this session has no running sandbox, so nothing to preview; "
                                 "send a prompt to start one", code="no_sandbox")
    for item in found.ports:
        if item.port == port:
            return PreviewTarget(found.sandbox, item)
    declared_ports = ", ".join(str(p.port) for p in found.ports) or "none"
    raise NotFound(f"port {port} is not a declared preview of this session's sandbox (declared in "
                   f".openinspect/preview.toml: {declared_ports})", code="preview_not_declared")
