"""The background task manager: bridges in, prompts out, sandboxes supervised.

Composes the bridge server, ingestion, the dispatcher and the supervisor, and
is the bridge server's handler: it authenticates bridges with sandbox tokens,
feeds their frames to ingestion in arrival order, acknowledges what is stored,
and tells the dispatcher when something it cares about happened. In the
embedded default it runs inside the web process; it can equally run alone.
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus

from sqlmodel import select

from backend_jobs import tokens
from backend_jobs.bridge_server import CLOSE_SEQUENCE_GAP, BridgeConnection, BridgeRefused, BridgeServer
from backend_jobs.dispatcher import Dispatcher
from backend_jobs.ingestion import Ingestor
from backend_jobs.sandboxes.base import SandboxBackend
from backend_jobs.supervision import Supervisor
from openinspect_app import protocol as p
from openinspect_app.config import Settings
from openinspect_app.db import Database
from openinspect_app.models import LIVE_SANDBOX_STATUSES, Sandbox, Session
from openinspect_app.notifier import Notifier
from openinspect_app.services import timeline

log = logging.getLogger(__name__)


class BackgroundManager:
    def __init__(self, settings: Settings, db: Database, notifier: Notifier, backend: SandboxBackend) -> None:
        self.settings = settings
        self.db = db
        self.notifier = notifier
        self.backend = backend
        self.bridge_server = BridgeServer(self, settings.bridge_host, settings.bridge_port)
        self.ingestor = Ingestor(db, notifier)
        self.supervisor = Supervisor(settings, db, notifier, backend, self.control_plane_url)
        self.supervisor.send_shutdown = self._send_shutdown
        self.dispatcher = Dispatcher(db, notifier, self.supervisor, self.bridge_server.connection)
        self._tasks: list[asyncio.Task[None]] = []

    def control_plane_url(self) -> str:
        return self.settings.bridge_public_url or f"ws://{self.settings.bridge_host}:{self.bridge_server.port}"

    async def start(self) -> None:
        await self.bridge_server.start()
        await self.backend.start()
        await self.supervisor.recover()
        self._tasks = [
            asyncio.create_task(self.dispatcher.run(), name="dispatcher"),
            asyncio.create_task(self.supervisor.run_timers(), name="timers"),
        ]
        log.info("manager.started", extra={"bridge_url": self.control_plane_url()})

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.dispatcher.close()
        if not self.backend.capabilities.outlives_control_plane:
            await self.supervisor.stop_all("the control plane is shutting down")
        await self.backend.close()
        await self.bridge_server.close()
        log.info("manager.stopped")

    # ------------------------------------------------- BridgeHandler protocol

    async def authenticate(self, session_id: str, token: str) -> str:
        async with self.db.session() as db:
            sandbox = (await db.exec(select(Sandbox).where(
                Sandbox.auth_token_hash == tokens.token_hash(token)))).first()
            if sandbox is None:
                status, reason = HTTPStatus.UNAUTHORIZED, "invalid sandbox token"
            elif sandbox.session_id != session_id:
                status, reason = HTTPStatus.FORBIDDEN, "this sandbox token belongs to another session"
            elif sandbox.status not in LIVE_SANDBOX_STATUSES:
                status, reason = HTTPStatus.FORBIDDEN, f"this sandbox has ended ({sandbox.status})"
            else:
                return sandbox.id
            # Leave a trace on the session that was targeted, so the attempt is visible.
            if await db.get(Session, session_id) is not None:
                await timeline.append(db, session_id, "bridge_rejected",
                                      {"reason": f"connection refused: {reason}"})
                await db.commit()
                self.notifier.publish(session_id, control=False)
        raise BridgeRefused(status, reason)

    async def connected(self, connection: BridgeConnection) -> None:
        async with self.db.session() as db:
            sandbox = await db.get(Sandbox, connection.sandbox_id)
            if sandbox is not None and sandbox.status == "spawning":
                sandbox.status = "connected"
                db.add(sandbox)
                await db.commit()
        log.info("manager.bridge_connected", extra={"session_id": connection.session_id})
        await self.dispatcher.on_connected(connection)

    async def received(self, connection: BridgeConnection, frame: str | bytes) -> None:
        try:
            event = p.parse_sandbox_event(frame)
        except p.ProtocolError as error:
            consumed = await self.ingestor.reject(connection.sandbox_id, frame, str(error))
            await connection.send(p.Reject(reason=str(error)))
            if consumed is not None:
                await connection.send(p.Ack(seq=consumed))
            return
        result = await self.ingestor.ingest(connection.session_id, connection.sandbox_id, event)
        if result.outcome == "gap":
            # The bridge re-sends from its oldest unacknowledged event on reconnect.
            await connection.close(CLOSE_SEQUENCE_GAP, f"sequence gap: expected {result.ack_seq + 1}")
            return
        await connection.send(p.Ack(seq=result.ack_seq))
        if result.control:
            self.dispatcher.nudge(connection.session_id)

    async def disconnected(self, connection: BridgeConnection) -> None:
        log.info("manager.bridge_disconnected", extra={"session_id": connection.session_id})

    async def _send_shutdown(self, session_id: str, reason: str) -> bool:
        connection = self.bridge_server.connection(session_id)
        return connection is not None and await connection.send(p.Shutdown(reason=reason))
