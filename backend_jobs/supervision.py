"""Sandbox supervision: start, stop, notice endings and silence.

Owns the sandbox rows and their tokens, and talks to the backend. It never
decides *when* a session needs a sandbox (the dispatcher does) and never reads
bridge frames (ingestion does); it records what a start, an end or a silence
means for the session, using the pure rules in ``lifecycle``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_jobs import lifecycle, tokens
from backend_jobs.sandboxes.base import SandboxBackend, SandboxExit, SandboxSpec, SpawnError
from openinspect_app.config import Settings
from openinspect_app.db import Database
from openinspect_app.models import LIVE_SANDBOX_STATUSES, Message, Repo, Sandbox, Session, utcnow
from openinspect_app.notifier import Notifier
from openinspect_app.services import prompts, sessions, timeline

log = logging.getLogger(__name__)

TIMER_INTERVAL_SECONDS = 5.0  # staleness and idleness are judged in tens of seconds

ShutdownSender = Callable[[str, str], Awaitable[bool]]  # (session_id, reason) -> delivered


class Supervisor:
    def __init__(self, settings: Settings, db: Database, notifier: Notifier, backend: SandboxBackend,
                 control_plane_url: Callable[[], str]) -> None:
        self.settings = settings
        self.db = db
        self.notifier = notifier
        self.backend = backend
        self.control_plane_url = control_plane_url
        self.send_shutdown: ShutdownSender | None = None
        backend.on_exit(self._on_exit)

    # ---------------------------------------------------------------- start

    async def spawn(self, session_id: str) -> Sandbox | None:
        token = tokens.new_token()
        async with self.db.session() as db:
            session = await sessions.get(db, session_id)
            repo = await db.get(Repo, session.repo_id)
            assert repo is not None
            sandbox = Sandbox(session_id=session_id, backend=self.backend.name,
                              auth_token_hash=tokens.token_hash(token))
            db.add(sandbox)
            await db.flush()
            await timeline.append(db, session_id, "sandbox_spawning",
                                  {"sandbox_id": sandbox.id, "backend": self.backend.name})
            await sessions.set_status(db, session, "spawning")
            await db.commit()
            spec = SandboxSpec(sandbox.id, session_id, self._sandbox_env(session, repo, sandbox, token))
        self.notifier.publish(session_id)
        try:
            external_id = await self.backend.spawn(spec)
        except SpawnError as exc:
            log.warning("supervisor.spawn_failed", extra={"session_id": session_id, "error": str(exc)})
            await self._record_end(sandbox.id, exit_code=None, requested=False, reason=str(exc))
            return None
        async with self.db.session() as db:
            row = await db.get(Sandbox, sandbox.id)
            assert row is not None
            row.external_id = external_id
            db.add(row)
            await db.commit()
        return sandbox

    def _sandbox_env(self, session: Session, repo: Repo, sandbox: Sandbox, token: str) -> dict[str, str]:
        s = self.settings
        env = {
            "OPENINSPECT_SESSION_ID": session.id,
            "OPENINSPECT_SANDBOX_ID": sandbox.id,
            "OPENINSPECT_SANDBOX_TOKEN": token,
            "OPENINSPECT_CONTROL_PLANE_URL": self.control_plane_url(),
            "OPENINSPECT_REPO_URL": repo.url,
            "OPENINSPECT_AGENT": "opencode",
            "OPENINSPECT_OPENCODE_BIN": s.opencode_bin,
            "OPENINSPECT_MODEL": session.model or s.model,
            "OPENINSPECT_PROVIDER_KIND": s.provider_kind,
            "OPENINSPECT_SETUP_TIMEOUT_SECONDS": str(s.setup_timeout_seconds),
            "OPENINSPECT_START_TIMEOUT_SECONDS": str(s.start_timeout_seconds),
            "OPENINSPECT_HEARTBEAT_INTERVAL_SECONDS": str(s.heartbeat_interval_seconds),
            "OPENINSPECT_BOT_NAME": s.bot_name,
            "OPENINSPECT_BOT_EMAIL": s.bot_email,
        }
        optional = {
            "OPENINSPECT_BRANCH": session.branch,
            "OPENINSPECT_PROVIDER_BASE_URL": s.provider_base_url,
            "OPENINSPECT_PROVIDER_API_KEY": s.provider_api_key,
        }
        env.update({k: v for k, v in optional.items() if v})
        return env

    # ----------------------------------------------------------------- stop

    async def stop(self, sandbox_id: str, reason: str) -> None:
        """Ask the sandbox to shut down cleanly, then make sure it is gone."""
        async with self.db.session() as db:
            sandbox = await db.get(Sandbox, sandbox_id)
            if sandbox is None or sandbox.status not in LIVE_SANDBOX_STATUSES:
                return
            sandbox.status = "stopping"
            db.add(sandbox)
            await db.commit()
        if self.send_shutdown is not None:
            await self.send_shutdown(sandbox.session_id, reason)
        if sandbox.external_id is not None:
            await self.backend.stop(sandbox.external_id)

    async def stop_all(self, reason: str) -> None:
        async with self.db.session() as db:
            live = (await db.exec(select(Sandbox.id).where(
                col(Sandbox.status).in_(LIVE_SANDBOX_STATUSES)))).all()
        await asyncio.gather(*(self.stop(sandbox_id, reason) for sandbox_id in live))

    async def refuse_spawn(self, session_id: str, reason: str) -> None:
        """The circuit breaker is open: say so, and end the prompts that were waiting for a sandbox."""
        async with self.db.session() as db:
            session = await sessions.get(db, session_id)
            change = lifecycle.StatusChange("failed", reason)
            await sessions.set_status(db, session, change.status, change.reason)
            await prompts.fail_queued(db, session_id, reason)
            await db.commit()
        log.warning("supervisor.breaker_open", extra={"session_id": session_id})
        self.notifier.publish(session_id)

    # ------------------------------------------------------------ endings

    async def _on_exit(self, exit: SandboxExit) -> None:
        async with self.db.session() as db:
            sandbox = await db.get(Sandbox, exit.sandbox_id)
            requested = sandbox is not None and sandbox.status == "stopping"
        await self._record_end(exit.sandbox_id, exit_code=exit.exit_code, requested=requested,
                               reason=exit.reason, log_tail=exit.log_tail)

    async def fail(self, sandbox_id: str, reason: str) -> None:
        """Declare a live sandbox failed (e.g. silent too long) and stop what is left of it."""
        await self._record_end(sandbox_id, exit_code=None, requested=False, reason=reason)
        async with self.db.session() as db:
            sandbox = await db.get(Sandbox, sandbox_id)
        if sandbox is not None and sandbox.external_id is not None:
            await self.backend.stop(sandbox.external_id)

    async def _record_end(self, sandbox_id: str, *, exit_code: int | None, requested: bool, reason: str,
                          log_tail: str = "") -> None:
        async with self.db.session() as db:
            sandbox = await db.get(Sandbox, sandbox_id)
            if sandbox is None or sandbox.status in ("stopped", "failed"):
                return  # already recorded (e.g. declared stale, then the process ended)
            reported = sandbox.failure_reason is not None  # the sandbox said why before it ended
            change = lifecycle.status_for_exit(requested=requested, failure=sandbox.failure_reason,
                                               exit_reason=reason)
            sandbox.status = "stopped" if requested else "failed"
            sandbox.exit_code = exit_code
            sandbox.stopped_at = utcnow()
            if not requested and sandbox.failure_reason is None:
                sandbox.failure_reason = reason
            db.add(sandbox)
            await timeline.append(db, sandbox.session_id, "sandbox_exited",
                                  {"sandbox_id": sandbox.id, "exit_code": exit_code,
                                   "reason": change.reason or reason, "log_tail": log_tail})
            session = await sessions.get(db, sandbox.session_id)
            if await _is_current(db, session.id, sandbox.id):
                await sessions.set_status(db, session, change.status, change.reason)
                await _end_prompts(db, session, sandbox, change, drop_queued=not reported)
            await db.commit()
        self.notifier.publish(sandbox.session_id)

    # ------------------------------------------------------ timers

    async def check_timers(self, now: datetime | None = None) -> None:
        """Fail sandboxes that went silent; stop ready ones that sat idle too long."""
        now = now or utcnow()
        stale: list[tuple[str, float]] = []
        idle: list[str] = []
        async with self.db.session() as db:
            rows = (await db.exec(
                select(Sandbox, Session).join(Session, col(Session.id) == Sandbox.session_id)
                .where(col(Sandbox.status).in_(LIVE_SANDBOX_STATUSES)))).all()
            busy = set((await db.exec(select(Message.session_id).where(
                col(Message.status).in_(("queued", "running"))))).all())
            for sandbox, session in rows:
                silent = (now - (sandbox.last_heartbeat_at or sandbox.created_at)).total_seconds()
                if lifecycle.is_stale(seconds_since_contact=silent,
                                      stale_seconds=self.settings.heartbeat_stale_seconds):
                    stale.append((sandbox.id, silent))
                elif lifecycle.is_idle(sandbox_ready=sandbox.status == "ready", has_work=session.id in busy,
                                       seconds_since_activity=(now - session.last_activity_at).total_seconds(),
                                       idle_timeout_seconds=self.settings.sandbox_idle_timeout_seconds):
                    idle.append(sandbox.id)
        for sandbox_id, silent in stale:
            await self.fail(sandbox_id, f"no heartbeat from the sandbox for {silent:.0f} s")
        for sandbox_id in idle:
            await self.stop(sandbox_id, "idle")

    async def run_timers(self) -> None:
        while True:
            await asyncio.sleep(TIMER_INTERVAL_SECONDS)
            try:
                await self.check_timers()
            except Exception:  # a failed round must not end the timer
                log.exception("supervisor.timer_round_failed")

    async def recover(self) -> None:
        """After a restart: sandboxes the database thinks are live but the backend does not run."""
        try:
            alive = await self.backend.alive()
        except Exception as error:  # e.g. the backend may not list its sandboxes: say so, keep running
            log.error("supervisor.recover_failed", extra={"error": str(error)[:500]})
            return
        async with self.db.session() as db:
            rows = (await db.exec(select(Sandbox).where(col(Sandbox.status).in_(
                (*LIVE_SANDBOX_STATUSES, "stopping"))))).all()
            orphans = [s for s in rows if s.external_id not in alive]
        for sandbox in orphans:
            if sandbox.external_id is not None:
                await self.backend.stop(sandbox.external_id)  # sweep leftovers of a crashed control plane
            await self._record_end(sandbox.id, exit_code=None, requested=True,
                                   reason="the control plane restarted")


async def _is_current(db: AsyncSession, session_id: str, sandbox_id: str) -> bool:
    newest = (await db.exec(select(Sandbox.id).where(Sandbox.session_id == session_id)
                            .order_by(col(Sandbox.created_at).desc()).limit(1))).first()
    return newest == sandbox_id


async def _end_prompts(db: AsyncSession, session: Session, sandbox: Sandbox,
                       change: lifecycle.StatusChange, *, drop_queued: bool) -> None:
    """The sandbox is gone: its running prompt cannot finish; an unexplained failure also drops the queue.

    Dropping the prompts that were waiting for the failed sandbox (rather than
    starting another sandbox for them) keeps a broken repository from
    respawning forever; the person sees why and can send again. When the
    sandbox reported its failure itself, ingestion dropped them at that moment,
    and whatever was sent after it waits for a new sandbox.
    """
    unfinished = (await db.exec(select(Message).where(
        Message.session_id == session.id, col(Message.status).in_(("queued", "running"))))).all()
    for message in unfinished:
        if message.status == "running" and message.sandbox_id == sandbox.id:
            reason = change.reason or "the sandbox stopped before the prompt finished"
            await prompts.finish(db, message, "failed", reason)
        elif message.status == "queued" and change.status == "failed" and drop_queued:
            await prompts.finish(db, message, "failed", f"not run: {change.reason}")
        elif message.status == "queued" and session.archived_at is not None:
            await prompts.finish(db, message, "cancelled", "the session was archived")

