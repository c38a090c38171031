"""A real control plane (bridge server, ingestion, dispatcher, supervision on a real database) whose
sandboxes are started by hand (the manual backend): a test reads a sandbox's token from the file the
backend writes and speaks the protocol itself, frame by frame, as a sandbox's bridge — or as an
attacker holding that sandbox's token."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openinspect_protocol as p
from sqlmodel import col, select
from websockets.asyncio.client import ClientConnection, connect

from backend_jobs.control_plane import ControlPlane
from backend_jobs.sandboxes.manual import ManualSandboxBackend
from openinspect_core.models import Event, Sandbox, Session
from openinspect_core.services import sessions, users
from openinspect_core.settings import Settings

WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class SandboxAccess:
    session_id: str
    sandbox_id: str
    token: str


@dataclass
class Rig:
    plane: ControlPlane
    settings: Settings
    root: Path

    @property
    def backend(self) -> ManualSandboxBackend:
        backend = self.plane.backend
        assert isinstance(backend, ManualSandboxBackend)
        return backend

    async def new_session(self, owner: str = "ada@example.com") -> str:
        policy = sessions.SessionPolicy.from_settings(self.settings)
        async with self.plane.context.work() as work:
            user = await users.get_or_create(work.db, owner.split("@")[0].title(), owner)
            session = await sessions.create(work.db, repo_url=str(self.root / "repo"), creator=user, policy=policy)
            work.changed(session.id)
        return session.id

    async def sandbox_of(self, session_id: str) -> SandboxAccess:
        """The session's sandbox, once the dispatcher has started it (its token read from the backend's file)."""
        async def started() -> SandboxAccess | None:
            async with self.plane.db.session() as db:
                sandbox = (await db.exec(select(Sandbox).where(Sandbox.session_id == session_id)
                                         .order_by(col(Sandbox.created_at).desc()))).first()
            if sandbox is None or not self.backend.token_file(sandbox.id).exists():
                return None
            return SandboxAccess(session_id, sandbox.id, self.backend.token_file(sandbox.id).read_text().strip())
        return await until(started)

    async def start_sandbox(self, owner: str = "ada@example.com") -> SandboxAccess:
        return await self.sandbox_of(await self.new_session(owner))

    def connect(self, access: SandboxAccess, *, token: str | None = None, session_id: str | None = None) -> connect:
        return connect(f"ws://127.0.0.1:{self.plane.jobs.bridge_server.port}/bridge/{session_id or access.session_id}",
                       additional_headers={"Authorization": f"Bearer {token or access.token}",
                                           p.PROTOCOL_HEADER: str(p.PROTOCOL_VERSION)},
                       proxy=None, open_timeout=WAIT_SECONDS, max_size=None)

    async def events(self, session_id: str) -> list[Event]:
        async with self.plane.db.session() as db:
            return list((await db.exec(select(Event).where(Event.session_id == session_id)
                                       .order_by(col(Event.sequence)))).all())

    async def session(self, session_id: str) -> Session:
        async with self.plane.db.session() as db:
            return await sessions.get(db, session_id)

    async def sandboxes(self, session_id: str | None = None) -> list[Sandbox]:
        async with self.plane.db.session() as db:
            query = select(Sandbox).order_by(col(Sandbox.created_at))
            if session_id is not None:
                query = query.where(Sandbox.session_id == session_id)
            return list((await db.exec(query)).all())


@asynccontextmanager
async def control_plane(database_url: str, root: Path, **overrides: Any) -> AsyncIterator[Rig]:
    settings = Settings.from_env(
        {}, data_dir=root / "data", database_url=database_url, bridge_port=0, model_proxy_port=0,
        sandbox_backend="manual", repo_roots=(str(root),),
        # Sandboxes here are test clients: nobody heartbeats, nothing is declared stale meanwhile.
        heartbeat_stale_seconds=3600.0, **overrides)
    plane = ControlPlane(settings)
    await plane.start()
    try:
        yield Rig(plane, settings, root)
    finally:
        await plane.stop()


async def until(found: Callable[[], Any], timeout_seconds: float = WAIT_SECONDS) -> Any:
    """The first truthy value ``found()`` (a coroutine function) returns, polled."""
    async with asyncio.timeout(timeout_seconds):
        while True:
            value = await found()
            if value:
                return value
            await asyncio.sleep(0.02)


def frame(event_type: str, seq: int, **fields: Any) -> str:
    """A raw frame (the models would refuse to build the invalid ones a test sends)."""
    return json.dumps({"type": event_type, "seq": seq, **fields})


async def reply(client: ClientConnection) -> p.Command:
    return p.parse_command(await asyncio.wait_for(client.recv(), WAIT_SECONDS))


async def send_expecting_ack(client: ClientConnection, raw: str, seq: int) -> list[p.Command]:
    """Send ``raw``; return the commands up to and including the ack of ``seq``."""
    await client.send(raw)
    got: list[p.Command] = []
    while True:
        command = await reply(client)
        got.append(command)
        if isinstance(command, p.Ack) and command.seq >= seq:
            return got
