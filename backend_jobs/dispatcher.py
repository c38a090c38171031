"""Keeps every session's prompt queue moving.

Whenever a session's queue or sandbox changes (a notification), the dispatcher
reads the session's state, asks ``lifecycle.decide`` what should happen, and
does it: start a sandbox, hand the oldest queued prompt to a ready sandbox,
deliver a stop, shut down the sandbox of an archived session. One lock per
session serialises these rounds; different sessions proceed in parallel.

Several workers (``leadership``): each runs these rounds for every notification, but
delivers only to the bridges it holds (a prompt or a stop goes where the sandbox is
connected); starting, refusing, holding and shutting down are the leader's alone.

Delivery of commands survives reconnects: the running prompt (and a pending
stop) are sent again whenever a bridge connects; the sandbox ignores a prompt
id it has already seen.

Limits on sandboxes (``OPENINSPECT_MAX_SANDBOXES`` overall,
``OPENINSPECT_MAX_SANDBOXES_PER_USER`` per session owner): a session that needs
a sandbox while a limit is reached is not started; its status reason says why,
and it is reconsidered whenever a sandbox changes, so it starts when a slot
frees. Counting and starting happen under one lock, so the limits hold exactly.

The spend limit (``OPENINSPECT_SESSION_SPEND_LIMIT_USD``, or the session's own): once what
the session's model calls cost reaches it, the running turn still finishes, but queued
prompts are not dispatched (nor a sandbox started for them); the session is marked and its
timeline says why, once (``spend_limit_reached``). A change of the limit wakes this round
again: what waits is dispatched if the new limit allows it.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Container, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import openinspect_protocol as p
from openinspect_protocol import logs
from openinspect_protocol.logs import EventLog
from openinspect_protocol.status import UNFINISHED_MESSAGE_STATUSES, SessionStatus
from sqlmodel import col, func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_jobs import lifecycle
from backend_jobs.bridge_server import BridgeConnection, BridgeConnections
from backend_jobs.leadership import Leadership
from backend_jobs.supervision import Supervisor
from openinspect_core import costs
from openinspect_core.db import Database
from openinspect_core.models import LIVE_SANDBOX_STATUSES, Message, Sandbox, SandboxStatus, Session, User, utcnow
from openinspect_core.notify.local import Notifier
from openinspect_core.services import prompts, sandboxes, sessions, spend
from openinspect_core.unit_of_work import UnitOfWork

log = EventLog(__name__)

RESCAN_INTERVAL_SECONDS = 30.0  # a safety net; notifications do the real work


class Dispatcher:
    def __init__(self, db: Database, notifier: Notifier, supervisor: Supervisor,
                 bridges: BridgeConnections, *, max_sandboxes: int | None = None,
                 max_sandboxes_per_user: int | None = None, leadership: Leadership | None = None) -> None:
        """The limits default to the supervisor's settings; ``leadership`` None: this process alone decides."""
        self.db = db
        self.leadership = leadership
        self.notifier = notifier
        self.supervisor = supervisor
        self.bridges = bridges
        settings = supervisor.settings
        self.max_sandboxes = settings.max_sandboxes if max_sandboxes is None else max_sandboxes
        self.max_sandboxes_per_user = (settings.max_sandboxes_per_user if max_sandboxes_per_user is None
                                       else max_sandboxes_per_user)
        self.default_spend_limit_usd = settings.session_spend_limit_usd  # a session may have its own
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._spawn_lock = asyncio.Lock()  # counting sandboxes and starting one, one session at a time
        self._waiting: set[str] = set()  # sessions waiting for a sandbox slot
        self._stops_sent: set[str] = set()
        self._rounds: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        async with self.notifier.subscribe(control_only=True) as subscription:
            changed = await self._sessions_needing_attention()
            while True:
                # Anything that changed may have freed a sandbox slot: the waiting look again too.
                for session_id in changed | self._waiting:
                    self.nudge(session_id)
                changed = await subscription.wait(RESCAN_INTERVAL_SECONDS)
                if not changed:
                    changed = await self._sessions_needing_attention()

    async def rescan(self) -> None:
        """Look at every session that may need something (this process just became the leader)."""
        for session_id in await self._sessions_needing_attention():
            self.nudge(session_id)

    @property
    def leader(self) -> bool:
        return self.leadership is None or self.leadership.is_leader

    def nudge(self, session_id: str) -> None:
        """Reconcile the session soon, without waiting for it."""
        task = asyncio.create_task(self.reconcile(session_id))
        self._rounds.add(task)
        task.add_done_callback(self._rounds.discard)

    async def reconcile(self, session_id: str) -> None:
        with logs.bind(session_id=session_id):
            await self._reconcile_locked(session_id)

    async def _reconcile_locked(self, session_id: str) -> None:
        async with self._locks[session_id]:
            try:
                await self._reconcile(session_id)
            except Exception:
                log.exception("dispatcher.round_failed", session_id=session_id)

    async def on_connected(self, connection: BridgeConnection) -> None:
        """A bridge (re)connected: re-deliver what it may have missed."""
        async with self._locks[connection.session_id]:
            async with self.db.session() as db:
                running = await prompts.running_message(db, connection.session_id)
                if running is not None and running.sandbox_id == connection.sandbox_id:
                    author = await db.get(User, running.author_id)
                    assert author is not None
                    sent = await connection.send(_prompt_command(running, author))
                    log.info("dispatcher.prompt_resent", session_id=connection.session_id, message_id=running.id,
                             request_id=running.request_id, sandbox_id=connection.sandbox_id, sent=sent)
                    self._stops_sent.discard(running.id)
        self.nudge(connection.session_id)

    async def _reconcile(self, session_id: str) -> None:
        self._waiting.discard(session_id)
        async with self.db.session() as db:
            session = await sessions.get(db, session_id)
            live = await sandboxes.newest_watched(db, session_id)
            newest = (await db.exec(select(func.max(Sandbox.created_at)).where(
                Sandbox.session_id == session_id))).one()
            running = await prompts.running_message(db, session_id)
            queued = await prompts.oldest_queued(db, session_id)
            since = utcnow() - timedelta(seconds=lifecycle.BREAKER_WINDOW_SECONDS)
            failures = (await db.exec(select(Sandbox.stopped_at, Sandbox.failure_reason).where(
                Sandbox.session_id == session_id, Sandbox.status == SandboxStatus.FAILED,
                col(Sandbox.stopped_at) >= since).order_by(col(Sandbox.stopped_at)))).all()
            limit = costs.effective_limit(session.spend_limit_usd, self.default_spend_limit_usd)
            spent = (await spend.of_session(db, session_id)).cost_usd if limit is not None and queued else 0.0
        connection = self.bridges.get(session_id)
        view = session_view(
            session, live=live, connected_sandbox_id=connection.sandbox_id if connection is not None else None,
            newest_sandbox_at=newest, running=running, queued=queued, stops_sent=self._stops_sent,
            failed_at=[at for at, _ in failures if at is not None], now=utcnow())
        view = replace(view, spend_refusal=lifecycle.spend_refusal(spent_usd=spent, limit_usd=limit),
                       spend_held=session.spend_held_at is not None)
        if live is not None or view.archived:
            actions = lifecycle.for_this_process(lifecycle.decide(view), leader=self.leader)
            await self._act(session_id, actions, live, connection, failures)
            return
        if not self.leader:  # starting a sandbox within the limits is the leader's decision
            return
        # It may want a sandbox: count, decide and start under one lock, so two sessions
        # never both take the last slot.
        async with self._spawn_lock:
            async with self.db.session() as db:
                slots = await sandbox_slots(db, session.created_by, limit=self.max_sandboxes,
                                            owner_limit=self.max_sandboxes_per_user)
            await self._act(session_id, lifecycle.decide(replace(view, slots=slots)), live, connection, failures)

    async def _act(self, session_id: str, actions: list[lifecycle.Action], live: Sandbox | None,
                   connection: BridgeConnection | None, failures: Sequence[tuple[datetime | None, str | None]]) -> None:
        for action in actions:
            match action:
                case lifecycle.Spawn():
                    await self.supervisor.spawn(session_id)
                case lifecycle.Dispatch(message_id=message_id):
                    assert live is not None and connection is not None
                    await self._dispatch(session_id, message_id, live.id, connection)
                case lifecycle.SendStop(message_id=message_id):
                    assert connection is not None
                    if await connection.send(p.Stop(message_id=message_id)):
                        self._stops_sent.add(message_id)
                case lifecycle.Shutdown(reason=reason):
                    assert live is not None
                    await self.supervisor.stop(live.id, reason)
                case lifecycle.RefuseSpawn():
                    await self.supervisor.refuse_spawn(session_id, breaker_refusal([reason for _, reason in failures]))
                case lifecycle.WaitForSlot(reason=reason):
                    await self._wait_for_slot(session_id, reason)
                case lifecycle.HoldForSpend(reason=reason):
                    await self._hold_for_spend(session_id, reason)
                case lifecycle.ReleaseSpendHold():
                    async with UnitOfWork(self.db, self.notifier) as work:
                        if await spend.release(work.db, session_id):
                            log.info("dispatcher.spend_hold_released", session_id=session_id)
                            work.changed(session_id, control=False)

    async def _hold_for_spend(self, session_id: str, reason: str) -> None:
        """The limit holds the queue: mark it and say why on the timeline, once."""
        async with UnitOfWork(self.db, self.notifier) as work:
            session = await sessions.get(work.db, session_id)
            limit = costs.effective_limit(session.spend_limit_usd, self.default_spend_limit_usd)
            spent = (await spend.of_session(work.db, session_id)).cost_usd
            waiting = await prompts.count_unfinished(work.db, session_id)
            if limit is not None and await spend.hold(work.db, session_id, spent_usd=spent, limit_usd=limit,
                                                      waiting=waiting):
                log.info("dispatcher.spend_limit_reached", session_id=session_id, spent_usd=round(spent, 6),
                         limit_usd=limit, waiting=waiting, reason=reason)
                work.changed(session_id, control=False)  # only the timeline and the notice change

    async def _wait_for_slot(self, session_id: str, reason: str) -> None:
        self._waiting.add(session_id)
        async with UnitOfWork(self.db, self.notifier) as work:
            session = await sessions.get(work.db, session_id)
            if await sessions.set_status(work.db, session, SessionStatus.SPAWNING, reason):
                log.info("dispatcher.waiting_for_slot", session_id=session_id, reason=reason)
                work.changed(session_id, control=False)  # a control change would wake every waiting session

    async def _dispatch(self, session_id: str, message_id: str, sandbox_id: str,
                        connection: BridgeConnection) -> None:
        async with UnitOfWork(self.db, self.notifier) as work:
            message = await work.db.get(Message, message_id)
            if message is None or not await prompts.start(work.db, message, sandbox_id):
                return  # cancelled in the meantime
            session = await sessions.get(work.db, session_id)
            await sessions.set_status(work.db, session, SessionStatus.RUNNING)
            author = await work.db.get(User, message.author_id)
            assert author is not None
            work.changed(session_id)
        # Logged before the send: the sandbox may start the turn before the send returns.
        log.info("dispatcher.prompt_dispatched", message_id=message_id, request_id=message.request_id,
                 sandbox_id=sandbox_id)
        # If this send is lost, on_connected sends it again after the reconnect.
        if not await connection.send(_prompt_command(message, author)):
            log.warning("dispatcher.prompt_not_delivered", message_id=message_id, request_id=message.request_id,
                        sandbox_id=sandbox_id, retry="when the bridge reconnects")

    async def _sessions_needing_attention(self) -> set[str]:
        async with self.db.session() as db:
            with_work = select(Message.session_id).where(col(Message.status).in_(UNFINISHED_MESSAGE_STATUSES))
            with_sandbox = select(Sandbox.session_id).where(col(Sandbox.status).in_(LIVE_SANDBOX_STATUSES))
            never_started = select(Session.id).where(
                Session.status == SessionStatus.SPAWNING,
                ~col(Session.id).in_(select(Sandbox.session_id)),
            )
            rows = await db.exec(select(Session.id).where(or_(
                col(Session.id).in_(with_work),
                col(Session.id).in_(with_sandbox),
                col(Session.id).in_(never_started),
            )))
            return set(rows.all())

    async def close(self) -> None:
        for task in list(self._rounds):
            task.cancel()
        await asyncio.gather(*self._rounds, return_exceptions=True)


def session_view(session: Session, *, live: Sandbox | None, connected_sandbox_id: str | None,
                 newest_sandbox_at: datetime | None, running: Message | None, queued: Message | None,
                 stops_sent: Container[str], failed_at: Sequence[datetime], now: datetime) -> lifecycle.SessionView:
    """What ``lifecycle.decide`` needs to know of a session, from what one round read.

    ``live`` is the newest sandbox that may still run, ``connected_sandbox_id`` the sandbox
    of the session's bridge connection (if any), ``newest_sandbox_at`` when the session's
    newest sandbox (of any status) was created, ``stops_sent`` the prompts whose stop was
    already delivered, ``failed_at`` when the recent failed sandboxes stopped.
    """
    return lifecycle.SessionView(
        archived=session.archived_at is not None,
        has_live_sandbox=live is not None,
        sandbox_ready=live is not None and live.status == SandboxStatus.READY and connected_sandbox_id == live.id,
        ever_had_sandbox=newest_sandbox_at is not None,
        warm_requested=session.warm_requested_at is not None and (
            newest_sandbox_at is None or session.warm_requested_at > _aware(newest_sandbox_at)),
        running_message_id=running.id if running else None,
        stop_pending=bool(running and running.stop_requested_at and running.id not in stops_sent),
        oldest_queued_id=queued.id if queued else None,
        breaker_open=lifecycle.breaker_open([(now - _aware(at)).total_seconds() for at in failed_at]),
    )


async def sandbox_slots(db: AsyncSession, owner_id: str, *, limit: int, owner_limit: int) -> lifecycle.SandboxSlots:
    """How many sandboxes are alive (spawning to stopping: each may hold a process), overall and of
    sessions ``owner_id`` created."""
    alive = select(func.count()).select_from(Sandbox).where(col(Sandbox.status).in_(sandboxes.WATCHED_STATUSES))
    total = (await db.exec(alive)).one()
    mine = (await db.exec(alive.join(Session, col(Session.id) == Sandbox.session_id)
                          .where(Session.created_by == owner_id))).one()
    return lifecycle.SandboxSlots(alive=int(total), limit=limit, owner_alive=int(mine), owner_limit=owner_limit)


def breaker_refusal(failure_reasons: Sequence[str | None]) -> str:
    """Why no sandbox is started, given the reasons of the recent failures (oldest first)."""
    last = failure_reasons[-1] if failure_reasons else "unknown"
    return (f"circuit breaker open: {len(failure_reasons)} sandboxes failed in the last "
            f"{lifecycle.BREAKER_WINDOW_SECONDS / 60:.0f} minutes (last: {last}); "
            "fix the cause, then send again")


def _aware(value: datetime) -> datetime:
    # func.max() bypasses the column type, so SQLite hands back a naive (UTC) value.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _prompt_command(message: Message, author: User) -> p.Prompt:
    return p.Prompt(message_id=message.id, content=message.content,
                    author=p.Author(name=author.name, email=author.email), model=message.model,
                    request_id=message.request_id if message.request_id and logs.VALID_ID.match(message.request_id)
                    else None)
