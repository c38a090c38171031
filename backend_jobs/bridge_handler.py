"""What the control plane does with a sandbox bridge: who it is, what it said, what follows.

The bridge server's handler. It authenticates a handshake by the sandbox token
(stored hashed), feeds every frame, in arrival order, to ingestion,
acknowledges what is stored (or closes on a sequence gap, so the bridge
re-sends from the hole), and nudges the dispatcher when a frame changes what
should happen next. Transport is the server's business; what events mean is
ingestion's.
"""

from __future__ import annotations

from http import HTTPStatus

import openinspect_protocol as p
from openinspect_protocol.logs import EventLog
from openinspect_protocol.timeline import BridgeRejected

from backend_jobs import tokens
from backend_jobs.bridge_server import CLOSE_SEQUENCE_GAP, BridgeConnection, BridgeRefused
from backend_jobs.dispatcher import Dispatcher
from backend_jobs.ingestion import Ingestor
from openinspect_core.db import Database
from openinspect_core.models import LIVE_SANDBOX_STATUSES, Sandbox, SandboxStatus, Session
from openinspect_core.notify.local import Notifier
from openinspect_core.services import sandboxes, timeline
from openinspect_core.unit_of_work import UnitOfWork

log = EventLog(__name__)


class BridgeSessions:
    def __init__(self, db: Database, notifier: Notifier, ingestor: Ingestor, dispatcher: Dispatcher) -> None:
        self.db = db
        self.notifier = notifier
        self.ingestor = ingestor
        self.dispatcher = dispatcher

    async def authenticate(self, session_id: str, token: str) -> str:
        async with UnitOfWork(self.db, self.notifier) as work:
            sandbox = await sandboxes.by_token_hash(work.db, tokens.token_hash(token))
            if sandbox is None:
                status, reason = HTTPStatus.UNAUTHORIZED, "invalid sandbox token"
            elif sandbox.session_id != session_id:
                status, reason = HTTPStatus.FORBIDDEN, "this sandbox token belongs to another session"
            elif sandbox.status not in LIVE_SANDBOX_STATUSES:
                status, reason = HTTPStatus.FORBIDDEN, f"this sandbox has ended ({sandbox.status})"
            else:
                return sandbox.id
            # Leave a trace on the session that was targeted, so the attempt is visible.
            if await work.db.get(Session, session_id) is not None:
                await timeline.append(work.db, session_id, BridgeRejected(reason=f"connection refused: {reason}"))
                work.changed(session_id, control=False)
        raise BridgeRefused(status, reason)

    async def connected(self, connection: BridgeConnection) -> None:
        async with UnitOfWork(self.db, self.notifier) as work:
            sandbox = await work.db.get(Sandbox, connection.sandbox_id)
            if sandbox is not None:
                await sandboxes.move(work.db, sandbox, SandboxStatus.CONNECTED)
        log.info("bridge_handler.connected", session_id=connection.session_id, sandbox_id=connection.sandbox_id)
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
        log.info("bridge_handler.disconnected", session_id=connection.session_id, sandbox_id=connection.sandbox_id)
