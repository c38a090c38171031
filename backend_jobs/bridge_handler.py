"""What the control plane does with a sandbox bridge: who it is, what it said, what follows.

The bridge server's handler. It authenticates a handshake by the sandbox token
(stored hashed; a refusal is logged, never written into a timeline), feeds every
frame, in arrival order, to ingestion, acknowledges what is stored (or closes on
a sequence gap, so the bridge re-sends from the hole), and nudges the dispatcher
when a frame changes what should happen next. Transport is the server's
business; what events mean is ingestion's.

A frame that cannot be stored — not a valid event, too large, or refused by the
database (a value its column cannot hold) — is answered with ``reject`` and, if
it carried the next sequence number, that number is consumed and acknowledged:
the bridge goes on, and never loops on a frame no retry can store.

It also answers the credential broker's route (:meth:`BridgeSessions.git_credentials`):
the sandbox token is checked by :meth:`~BridgeSessions.authenticate`, exactly as
a handshake's, then :mod:`openinspect_core.github.broker` makes the credentials.
What an event asks to follow (a ``push`` after a turn, the agent's pull request)
is carried out here once the event is acknowledged.
"""

from __future__ import annotations

from http import HTTPStatus

import openinspect_protocol as p
from openinspect_protocol.logs import EventLog
from openinspect_protocol.redaction import GIT_TOKEN_NAME
from sqlalchemy.exc import DataError, IntegrityError

from backend_jobs import tokens
from backend_jobs.bridge_server import CLOSE_SEQUENCE_GAP, LOGGED_ID_CHARS, BridgeConnection, BridgeRefused
from backend_jobs.dispatcher import Dispatcher
from backend_jobs.ingestion import Ingestor
from backend_jobs.pull_requests import AgentPullRequests
from openinspect_core.db import Database
from openinspect_core.github import broker
from openinspect_core.github.client import GitHubApp
from openinspect_core.metrics import Metrics
from openinspect_core.models import LIVE_SANDBOX_STATUSES, Sandbox, SandboxStatus
from openinspect_core.notify.local import Notifier
from openinspect_core.services import sandboxes
from openinspect_core.unit_of_work import UnitOfWork

log = EventLog(__name__)

class BridgeSessions:
    def __init__(self, db: Database, notifier: Notifier, ingestor: Ingestor, dispatcher: Dispatcher, *,
                 github: GitHubApp | None = None, pull_requests: AgentPullRequests | None = None,
                 metrics: Metrics | None = None) -> None:
        """``github`` None: no GitHub App (the broker answers 404); ``pull_requests`` None: the agent's
        requests are answered with a refusal; ``metrics`` None: counted nowhere anyone reads."""
        self.metrics = metrics or Metrics()
        self.db = db
        self.notifier = notifier
        self.ingestor = ingestor
        self.dispatcher = dispatcher
        self.github = github
        self.pull_requests = pull_requests

    async def authenticate(self, session_id: str, token: str) -> str:
        async with self.db.session() as db:
            sandbox = await sandboxes.by_token_hash(db, tokens.token_hash(token))
        if sandbox is None:
            status, reason = HTTPStatus.UNAUTHORIZED, "invalid sandbox token"
        elif sandbox.session_id != session_id:
            status, reason = HTTPStatus.FORBIDDEN, "this sandbox token belongs to another session"
        elif sandbox.status not in LIVE_SANDBOX_STATUSES:
            status, reason = HTTPStatus.FORBIDDEN, f"this sandbox has ended ({sandbox.status})"
        else:
            return sandbox.id
        # Logged for operators, not written into the targeted session's timeline: a timeline is
        # written only by that session's own parts, never by whoever knocks.
        self.metrics.error("bridge", "handshake_refused")
        log.warning("bridge_handler.refused", session_id=session_id[:LOGGED_ID_CHARS], status=int(status),
                    reason=reason, token_sandbox_id=sandbox.id if sandbox is not None else None)
        raise BridgeRefused(status, reason)

    async def git_credentials(self, session_id: str, token: str) -> str:
        """The credential broker: the JSON body for this session's live sandbox (never logged)."""
        sandbox_id = await self.authenticate(session_id, token)
        try:
            async with self.db.session() as db:
                credentials = await broker.git_credentials(db, self.github, session_id)
        except broker.BrokerRefused as refused:
            log.warning("bridge_handler.credentials_refused", session_id=session_id, sandbox_id=sandbox_id,
                        status=int(refused.status), reason=refused.reason)
            raise BridgeRefused(refused.status, refused.reason) from None
        log.info("bridge_handler.credentials_issued", session_id=session_id, sandbox_id=sandbox_id,
                 expires_at=credentials.expires_at.isoformat())
        self.ingestor.redactors.add(session_id, {GIT_TOKEN_NAME: credentials.password})  # never stored in an event
        return credentials.to_json()

    async def connected(self, connection: BridgeConnection) -> None:
        self.metrics.bridge_connections.inc()
        self.metrics.bridge_connections_open.inc()  # the server calls disconnected() for every connected()
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
            await self.refused(connection, frame, str(error))
            return
        try:
            result = await self.ingestor.ingest(connection.session_id, connection.sandbox_id, event)
        except (DataError, IntegrityError) as error:
            # Valid on the wire, yet the database will not take it: no retry would, so it is
            # refused and its number consumed (a transient failure still closes: the bridge re-sends).
            log.warning("bridge_handler.unstorable", session_id=connection.session_id,
                        sandbox_id=connection.sandbox_id, type=event.type, seq=event.seq,
                        error=type(error.orig).__name__ if error.orig is not None else type(error).__name__)
            await self.refused(connection, frame, f"the {event.type} event could not be stored "
                                                  f"({type(error).__name__}); it was dropped")
            return
        if result.outcome == "gap":
            # The bridge re-sends from its oldest unacknowledged event on reconnect.
            self.metrics.error("bridge", "sequence_gap")
            await connection.close(CLOSE_SEQUENCE_GAP, f"sequence gap: expected {result.ack_seq + 1}")
            return
        await connection.send(p.Ack(seq=result.ack_seq))
        for command in result.send:
            await connection.send(command)
        if result.pull_request is not None:
            await self._pull_request(connection, result.pull_request)
        if result.control:
            self.dispatcher.nudge(connection.session_id)
        if result.outcome == "stored":
            await self._count(connection, event)  # last: neither the bridge nor the dispatcher waits for it

    async def _count(self, connection: BridgeConnection, event: p.SandboxEvent) -> None:
        """An event stored: counted in memory (O(1): this is the ingest path), and for the sandbox's one
        ready event its latency, read back from the row ingestion just wrote."""
        self.metrics.events_ingested.labels(type=event.type).inc()
        if isinstance(event, p.PushError):
            self.metrics.error("push", event.code)
        elif isinstance(event, p.ErrorEvent):
            self.metrics.error("sandbox", event.code)
        elif isinstance(event, p.Ready):
            async with self.db.session() as db:
                sandbox = await db.get(Sandbox, connection.sandbox_id)
            if sandbox is not None and sandbox.ready_at is not None:
                self.metrics.ready_seconds.observe((sandbox.ready_at - sandbox.created_at).total_seconds())

    async def _pull_request(self, connection: BridgeConnection, request: p.PullRequestRequested) -> None:
        if self.pull_requests is not None:
            self.pull_requests.submit(connection.session_id, request)
            return
        await connection.send(p.PullRequestResult(request_id=request.request_id,
                                                  error="this control plane opens no pull requests"))

    async def refused(self, connection: BridgeConnection, frame: str | bytes, reason: str) -> None:
        """Tell the bridge why; consume the frame's number if it was the next (and acknowledge it)."""
        self.metrics.error("bridge", "frame_rejected")
        ack_seq = await self.ingestor.reject(connection.sandbox_id, frame, reason)
        await connection.send(p.Reject(reason=reason))
        if ack_seq is not None:
            await connection.send(p.Ack(seq=ack_seq))

    async def disconnected(self, connection: BridgeConnection) -> None:
        self.metrics.bridge_connections_open.dec()
        log.info("bridge_handler.disconnected", session_id=connection.session_id, sandbox_id=connection.sandbox_id)
