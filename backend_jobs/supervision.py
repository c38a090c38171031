"""Sandbox supervision: start, stop, notice endings and silence.

Owns the sandboxes' lives and their tokens (the bridge token and the model-proxy
token, both random and stored only hashed), and talks to the backend. It never
decides *when* a session needs a sandbox (the dispatcher does) and never reads
bridge frames (ingestion does); it records what a start, an end or a silence
means for the session, using the pure rules in ``lifecycle``. Sandbox rows
change only through ``openinspect_core.services.sandboxes``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Container, Iterable
from datetime import datetime

import openinspect_protocol as p
from openinspect_protocol import launch, logs
from openinspect_protocol.logs import EventLog
from openinspect_protocol.redaction import MODEL_PROXY_KEY_NAME, SANDBOX_TOKEN_NAME
from openinspect_protocol.status import UNFINISHED_MESSAGE_STATUSES, MessageStatus, SessionStatus
from openinspect_protocol.timeline import SandboxExited, SandboxSpawning
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_jobs import lifecycle, tokens
from backend_jobs.bridge_server import BridgeConnections
from backend_jobs.ingestion import SecretsLoader, SessionRedactors
from backend_jobs.sandboxes.base import SandboxBackend, SandboxExit, SandboxSpec, SpawnError
from openinspect_core.db import Database
from openinspect_core.github.client import GitHubApp
from openinspect_core.metrics import Metrics
from openinspect_core.models import LIVE_SANDBOX_STATUSES, Message, Repo, Sandbox, SandboxStatus, Session, utcnow
from openinspect_core.notify.local import Notifier
from openinspect_core.services import prompts, sandboxes, sessions, timeline
from openinspect_core.services.errors import ServiceError
from openinspect_core.settings import Settings
from openinspect_core.unit_of_work import UnitOfWork

log = EventLog(__name__)

TIMER_INTERVAL_SECONDS = 5.0  # staleness and idleness are judged in tens of seconds


class Supervisor:
    def __init__(self, settings: Settings, db: Database, notifier: Notifier, backend: SandboxBackend,
                 bridges: BridgeConnections, control_plane_url: Callable[[], str],
                 model_proxy_url: Callable[[], str], *, github: GitHubApp | None = None,
                 metrics: Metrics | None = None, secrets: SecretsLoader | None = None,
                 redactors: SessionRedactors | None = None) -> None:
        """``github`` None: no GitHub App; sandboxes get no branch of their own and no credentials.
        ``secrets`` gives a session's secrets at each sandbox start (None: none); ``redactors`` learns
        every value a sandbox is handed, for ingestion to scrub."""
        self.secrets = secrets
        self.redactors = redactors or SessionRedactors()
        self.metrics = metrics or Metrics()
        self.settings = settings
        self.github = github
        self.db = db
        self.notifier = notifier
        self.backend = backend
        self.bridges = bridges
        self.control_plane_url = control_plane_url  # known once the bridge server listens
        self.model_proxy_url = model_proxy_url  # likewise, once the model proxy listens
        backend.on_exit(self._on_exit)

    def _work(self) -> UnitOfWork:
        return UnitOfWork(self.db, self.notifier)

    # ---------------------------------------------------------------- start

    async def spawn(self, session_id: str) -> Sandbox | None:
        asked = time.monotonic()  # the spawn latency runs from here to the backend accepting the sandbox
        token = tokens.new_token()
        proxy_token = tokens.new_token()  # the sandbox's model credential: good at the proxy while it lives
        async with self._work() as work:
            session = await sessions.get(work.db, session_id)
            repo = await work.db.get(Repo, session.repo_id)
            assert repo is not None
            sandbox = await sandboxes.create(work.db, session_id=session_id, backend=self.backend.name,
                                             token_hash=tokens.token_hash(token))
            # Part of creating the row (same transaction, before anyone can read it), not a status change.
            sandbox.proxy_token_hash = tokens.token_hash(proxy_token)
            work.db.add(sandbox)
            await work.db.flush()
            await timeline.append(work.db, session_id, SandboxSpawning(sandbox_id=sandbox.id,
                                                                       backend=self.backend.name))
            await sessions.set_status(work.db, session, SessionStatus.SPAWNING)
            work.changed(session_id)
            launch = launch_spec(self.settings, session, repo, sandbox, bridge_url=self.control_plane_url(),
                                 model_proxy_url=self.model_proxy_url(), proxy_token=proxy_token,
                                 github=self.github is not None)
            spec = SandboxSpec(sandbox.id, session_id, launch.to_env(), token=token)
        try:
            # Read at every start: a session picks up changed secrets with its next sandbox.
            secrets = dict(await self.secrets(session_id)) if self.secrets is not None else {}
        except ServiceError as exc:  # a value that does not decrypt: the sandbox must not start without it
            log.warning("supervisor.secrets_unreadable", session_id=session_id, error=str(exc))
            await self._record_end(sandbox.id, exit_code=None, requested=False, reason=str(exc))
            return None
        self.redactors.add(session_id, {**secrets, SANDBOX_TOKEN_NAME: token, MODEL_PROXY_KEY_NAME: proxy_token})
        spec = dataclasses.replace(spec, secrets=secrets)
        log.info("supervisor.spawning", session_id=session_id, sandbox_id=sandbox.id, backend=self.backend.name)
        try:
            with logs.bind(session_id=session_id, sandbox_id=sandbox.id):
                external_id = await self.backend.spawn(spec)
            self.metrics.spawn_seconds.observe(time.monotonic() - asked)
        except SpawnError as exc:
            log.warning("supervisor.spawn_failed", session_id=session_id, error=str(exc))
            self.metrics.error("spawn", "spawn_failed")
            await self._record_end(sandbox.id, exit_code=None, requested=False, reason=str(exc))
            return None
        async with self._work() as work:
            row = await work.db.get(Sandbox, sandbox.id)
            assert row is not None
            row.external_id = external_id
            work.db.add(row)
        return sandbox

    # ----------------------------------------------------------------- stop

    async def stop(self, sandbox_id: str, reason: str) -> None:
        """Ask the sandbox to shut down cleanly, then make sure it is gone."""
        async with self._work() as work:
            sandbox = await work.db.get(Sandbox, sandbox_id)
            if sandbox is None or not await sandboxes.move(work.db, sandbox, SandboxStatus.STOPPING):
                return
        await self.bridges.send(sandbox.session_id, p.Shutdown(reason=reason))
        if sandbox.external_id is not None:
            await self.backend.stop(sandbox.external_id)

    async def stop_all(self, reason: str) -> None:
        async with self.db.session() as db:
            live = await sandboxes.all_in(db, LIVE_SANDBOX_STATUSES)
        await asyncio.gather(*(self.stop(sandbox.id, reason) for sandbox in live))

    async def refuse_spawn(self, session_id: str, reason: str) -> None:
        """The circuit breaker is open: say so, and end the prompts that were waiting for a sandbox."""
        async with self._work() as work:
            session = await sessions.get(work.db, session_id)
            await sessions.set_status(work.db, session, SessionStatus.FAILED, reason)
            await prompts.fail_queued(work.db, session_id, reason)
            work.changed(session_id)
        log.warning("supervisor.breaker_open", session_id=session_id)

    # ------------------------------------------------------------ endings

    async def _on_exit(self, exit_report: SandboxExit) -> None:
        async with self.db.session() as db:
            sandbox = await db.get(Sandbox, exit_report.sandbox_id)
            requested = sandbox is not None and sandbox.status == SandboxStatus.STOPPING
        await self._record_end(exit_report.sandbox_id, exit_code=exit_report.exit_code, requested=requested,
                               reason=exit_report.reason, log_tail=exit_report.log_tail)

    async def fail(self, sandbox_id: str, reason: str) -> None:
        """Declare a live sandbox failed (e.g. silent too long) and stop what is left of it."""
        await self._record_end(sandbox_id, exit_code=None, requested=False, reason=reason)
        async with self.db.session() as db:
            sandbox = await db.get(Sandbox, sandbox_id)
        if sandbox is not None and sandbox.external_id is not None:
            await self.backend.stop(sandbox.external_id)

    async def _record_end(self, sandbox_id: str, *, exit_code: int | None, requested: bool, reason: str,
                          log_tail: str = "") -> None:
        async with self._work() as work:
            db = work.db
            sandbox = await db.get(Sandbox, sandbox_id)
            if sandbox is None:
                return
            reported = sandbox.failure_reason is not None  # the sandbox said why before it ended
            change = lifecycle.status_for_exit(requested=requested, failure=sandbox.failure_reason,
                                               exit_reason=reason)
            if not await sandboxes.end(db, sandbox, failed=not requested, exit_code=exit_code, failure_reason=reason):
                return  # already recorded (e.g. declared stale, then the process ended)
            await timeline.append(db, sandbox.session_id, SandboxExited(
                sandbox_id=sandbox.id, exit_code=exit_code, reason=change.reason or reason, log_tail=log_tail))
            log.info("supervisor.sandbox_ended", session_id=sandbox.session_id, sandbox_id=sandbox.id,
                     exit_code=exit_code, requested=requested, reason=(change.reason or reason)[:500])
            session = await sessions.get(db, sandbox.session_id)
            if await sandboxes.is_current(db, session.id, sandbox.id):
                await sessions.set_status(db, session, change.status, change.reason)
                await _end_prompts(db, session, sandbox, change, drop_queued=not reported)
            work.changed(sandbox.session_id)

    # ------------------------------------------------------ timers

    async def check_timers(self, now: datetime | None = None) -> None:
        """Fail sandboxes that went silent; stop ready ones that sat idle too long."""
        now = now or utcnow()
        async with self.db.session() as db:
            rows = (await db.exec(
                select(Sandbox, Session).join(Session, col(Session.id) == Sandbox.session_id)
                .where(col(Sandbox.status).in_(LIVE_SANDBOX_STATUSES)))).all()
            busy = set((await db.exec(select(Message.session_id).where(
                col(Message.status).in_(UNFINISHED_MESSAGE_STATUSES)))).all())
            stale, idle = timer_verdicts(rows, busy=busy, now=now, settings=self.settings)
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
            log.error("supervisor.recover_failed", error=str(error)[:500])
            return
        async with self.db.session() as db:
            watched = await sandboxes.all_in(db, sandboxes.WATCHED_STATUSES)
        for sandbox in (s for s in watched if s.external_id not in alive):
            if sandbox.external_id is not None:
                await self.backend.stop(sandbox.external_id)  # sweep leftovers of a crashed control plane
            await self._record_end(sandbox.id, exit_code=None, requested=True,
                                   reason="the control plane restarted")


def launch_spec(settings: Settings, session: Session, repo: Repo, sandbox: Sandbox, *, bridge_url: str,
                model_proxy_url: str, proxy_token: str, github: bool = False) -> p.LaunchSpec:
    """What the sandbox is started with (a backend with its own workspace layout overrides ``workspace``).

    The model is reached through the control plane's proxy: the sandbox gets the proxy's URL
    (its ``/v1`` stands for the provider's base URL) and its own proxy token, never the
    provider's key, which stays in the control plane.

    A session on a GitHub repository (``github``: an App is configured, and the repository is
    one of its) works on its own branch, pushed after turns, and asks the credential broker for
    git credentials; any other gets neither (nothing to push to, nothing to authenticate).
    """
    s = settings
    on_github = github and repo.full_name is not None
    return p.LaunchSpec(
        session_id=session.id, sandbox_id=sandbox.id,
        control_plane_url=bridge_url, repo_url=repo.url, branch=session.branch or "",
        work_branch=(session.work_branch or "") if on_github else "", git_credentials=on_github,
        opencode_bin=s.opencode_bin, model=session.model or s.model,
        provider_kind=s.provider_kind,  # checked by Settings
        provider_base_url=f"{model_proxy_url.rstrip('/')}/v1", provider_api_key=proxy_token,
        setup_timeout_seconds=s.setup_timeout_seconds, start_timeout_seconds=s.start_timeout_seconds,
        verify_timeout_seconds=s.verify_timeout_seconds, changes_max_file_bytes=s.changes_max_file_bytes,
        changes_max_total_bytes=min(s.changes_max_total_bytes, launch.CHANGES_MAX_TOTAL_BYTES_LIMIT),
        heartbeat_interval_seconds=s.heartbeat_interval_seconds, bot_name=s.bot_name, bot_email=s.bot_email,
    )


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
        Message.session_id == session.id, col(Message.status).in_(UNFINISHED_MESSAGE_STATUSES)))).all()
    for message, status, reason in prompt_endings(unfinished, sandbox_id=sandbox.id, change=change,
                                                  archived=session.archived_at is not None,
                                                  drop_queued=drop_queued):
        await prompts.finish(db, message, status, reason)


def timer_verdicts(rows: Iterable[tuple[Sandbox, Session]], *, busy: Container[str], now: datetime,
                   settings: Settings) -> tuple[list[tuple[str, float]], list[str]]:
    """Which live sandboxes the timers act on: (stale ones with their seconds of silence, idle ones).

    ``rows`` are the live sandboxes with their sessions; ``busy`` the sessions with an
    unfinished prompt. A stale sandbox is not also judged idle.
    """
    stale: list[tuple[str, float]] = []
    idle: list[str] = []
    for sandbox, session in rows:
        silent = (now - (sandbox.last_heartbeat_at or sandbox.created_at)).total_seconds()
        if lifecycle.is_stale(seconds_since_contact=silent, stale_seconds=settings.heartbeat_stale_seconds):
            stale.append((sandbox.id, silent))
        elif lifecycle.is_idle(sandbox_ready=sandbox.status == SandboxStatus.READY,
                               # Prompts held by the spend limit are no work: the sandbox may stop meanwhile.
                               has_work=session.id in busy and session.spend_held_at is None,
                               seconds_since_activity=(now - session.last_activity_at).total_seconds(),
                               idle_timeout_seconds=settings.sandbox_idle_timeout_seconds):
            idle.append(sandbox.id)
    return stale, idle


def prompt_endings(unfinished: Iterable[Message], *, sandbox_id: str, change: lifecycle.StatusChange,
                   archived: bool, drop_queued: bool) -> list[tuple[Message, MessageStatus, str]]:
    """What becomes of each unfinished prompt of a session whose sandbox ``sandbox_id`` ended.

    ``change`` is what the end means for the session (``lifecycle.status_for_exit``);
    ``drop_queued`` is False when the sandbox reported its failure itself (ingestion
    dropped the queue then). Prompts left out keep waiting for a new sandbox.
    """
    failed = change.status == SessionStatus.FAILED
    endings: list[tuple[Message, MessageStatus, str]] = []
    for message in unfinished:
        if message.status == MessageStatus.RUNNING and message.sandbox_id == sandbox_id:
            reason = change.reason or "the sandbox stopped before the prompt finished"
            endings.append((message, MessageStatus.FAILED, reason))
        elif message.status == MessageStatus.QUEUED and failed and drop_queued:
            endings.append((message, MessageStatus.FAILED, f"not run: {change.reason}"))
        elif message.status == MessageStatus.QUEUED and archived:
            endings.append((message, MessageStatus.CANCELLED, "the session was archived"))
    return endings
