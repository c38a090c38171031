"""The control plane's one composition root, for every process that runs it.

:class:`ControlPlane` alone turns settings into parts: the database (migrated
at start), the notifier, the :class:`~openinspect_core.context.AppContext`
front ends use, and — when this process runs the background jobs — the sandbox
backend and :class:`BackgroundJobs`. The web process builds it from a Reflex
lifespan task (with the jobs in-process on the embedded default, or without
them when a worker runs them); ``python -m backend_jobs`` builds it with the
jobs and nothing else; tests and benchmarks build it directly. Every part gets
what it needs through its constructor.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING

from openinspect_protocol.logs import EventLog

from backend_jobs.artifact_uploads import ArtifactUploads
from backend_jobs.bridge_handler import BridgeSessions
from backend_jobs.bridge_server import BridgeConnections, BridgeServer
from backend_jobs.dispatcher import Dispatcher
from backend_jobs.ingestion import Ingestor, SessionRedactors
from backend_jobs.leadership import leadership_for
from backend_jobs.model_proxy import ModelProxy
from backend_jobs.pull_requests import AgentPullRequests
from backend_jobs.sandboxes import create_backend
from backend_jobs.sandboxes.addresses import SandboxAddressBook
from backend_jobs.sandboxes.base import SandboxBackend
from backend_jobs.supervision import Supervisor
from openinspect_core.context import AppContext
from openinspect_core.db import Database
from openinspect_core.github import repos
from openinspect_core.notify.postgres import notifier_for
from openinspect_core.secrets import secrets_for_session
from openinspect_core.settings import Settings

if TYPE_CHECKING:
    from backend_jobs.slack.bot import SlackBot

log = EventLog(__name__)


class BackgroundJobs:
    """Bridges in, prompts out, sandboxes supervised, model calls proxied: the background task manager's parts."""

    def __init__(self, context: AppContext, backend: SandboxBackend) -> None:
        settings, db, notifier = context.settings, context.db, context.notifier
        self.context = context
        self.settings = settings
        self.backend = backend
        self.bridges = BridgeConnections()
        # The session's secrets at each sandbox start; every value a sandbox is handed is scrubbed from what
        # its bridge sends (ingestion's defence in depth behind the sandbox's own scrubbing).
        redactors = SessionRedactors(lambda session_id: secrets_for_session(context, session_id))
        self.ingestor = Ingestor(db, notifier, redactors)
        self.model_proxy = ModelProxy(settings, db, notifier)
        self.supervisor = Supervisor(settings, db, notifier, backend, self.bridges, self.control_plane_url,
                                     lambda: self.model_proxy.url, github=context.github,
                                     metrics=context.metrics,
                                     secrets=lambda session_id: secrets_for_session(context, session_id),
                                     redactors=redactors)
        # Several workers may run over PostgreSQL: one leads (timers, starting and stopping sandboxes).
        self.leadership = leadership_for(settings.database_url)
        self.leadership.on_change(gained=self._lead, lost=self._follow)
        self._leader_tasks: list[asyncio.Task[None]] = []
        self.dispatcher = Dispatcher(db, notifier, self.supervisor, self.bridges, leadership=self.leadership)
        self.pull_requests = AgentPullRequests(context, self.bridges)
        handler = BridgeSessions(db, notifier, self.ingestor, self.dispatcher, github=context.github,
                                 pull_requests=self.pull_requests, metrics=context.metrics)
        self.bridge_server = BridgeServer.from_settings(handler, self.bridges, settings, credentials=handler,
                                                        metrics=context.metrics, uploads=ArtifactUploads(context))
        self._tasks: list[asyncio.Task[None]] = []

    def control_plane_url(self) -> str:
        """Where sandboxes reach the bridge server (its port is known once it listens)."""
        return self.settings.bridge_public_url or f"ws://{self.settings.bridge_host}:{self.bridge_server.port}"

    async def start(self) -> None:
        await self.model_proxy.start()  # before any sandbox can be started: they reach the model through it
        await self.bridge_server.start()
        await self.backend.start()
        await self.leadership.start()  # a lone worker leads, and has swept, before its dispatcher runs
        self._tasks = [
            asyncio.create_task(self.leadership.run(), name="leadership"),
            asyncio.create_task(self.dispatcher.run(), name="dispatcher"),
        ]
        log.info("background_jobs.started", backend=self.backend.name, leader=self.leadership.is_leader,
                 bridge_url=self.control_plane_url(), model_proxy_url=self.model_proxy.url)

    async def _lead(self) -> None:
        """This process became the leader: sweep what a crashed one left, run the timers, look at everything."""
        await self.supervisor.recover()
        self._leader_tasks = [asyncio.create_task(self.supervisor.run_timers(), name="timers")]
        if self.context.github is not None:  # the App's repositories: now, then every 10 minutes
            self._leader_tasks.append(asyncio.create_task(repos.keep_synced(self.context), name="github.sync"))
        await self.dispatcher.rescan()

    async def _follow(self) -> None:
        for task in self._leader_tasks:
            task.cancel()
        await asyncio.gather(*self._leader_tasks, return_exceptions=True)
        self._leader_tasks = []

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._follow()
        await self.dispatcher.close()
        await self.pull_requests.close()
        if not self.backend.capabilities.outlives_control_plane:
            await self.supervisor.stop_all("the control plane is shutting down")
        await self.backend.close()
        await self.bridge_server.close()
        await self.model_proxy.close()  # last: sandboxes shutting down may still be finishing a model call
        log.info("background_jobs.stopped")


class ControlPlane:
    def __init__(self, settings: Settings, *, run_background_jobs: bool | None = None,
                 backend: SandboxBackend | None = None, run_slack: bool | None = None) -> None:
        """``run_background_jobs`` defaults to the ``OPENINSPECT_BACKGROUND_JOBS`` setting;
        ``backend`` replaces the configured sandbox backend (tests, benchmarks); ``run_slack`` (the Slack
        bot here, when a bot token is set) defaults to ``OPENINSPECT_SLACK_IN_PROCESS``."""
        self.settings = settings
        self.db = Database(settings.database_url)
        self.notifier = notifier_for(settings.database_url)
        # Live previews: the web process asks the sandboxes' backend where a declared port is.
        self.addresses = SandboxAddressBook(settings)
        self.context = dataclasses.replace(AppContext.of(settings, self.db, self.notifier),
                                           sandbox_addresses=self.addresses.address)
        run = settings.background_jobs_in_process if run_background_jobs is None else run_background_jobs
        self.jobs: BackgroundJobs | None = None
        if run:
            backend = backend or create_backend(settings.sandbox_backend, settings)
            self.jobs = BackgroundJobs(self.context, backend)
            self.addresses.running = backend
        self.slack: SlackBot | None = None
        if settings.slack_enabled and (settings.slack_in_process if run_slack is None else run_slack):
            from backend_jobs.slack.bot import SlackBot  # slack-bolt is imported only where a bot runs

            self.slack = SlackBot(self.context)

    @property
    def backend(self) -> SandboxBackend:
        assert self.jobs is not None, "the background jobs run in another process"
        return self.jobs.backend

    async def start(self) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self.db.migrate)
        await self.notifier.start()
        if self.jobs is not None:
            await self.jobs.start()
        if self.slack is not None:
            from backend_jobs.slack.bot import SlackAuthError

            try:
                await self.slack.start()
            except SlackAuthError:  # logged as slack.auth_failed: the web goes on without its Slack bot
                await self.slack.stop()
                self.slack = None
        log.info("control_plane.started", database=self.db.engine.url.render_as_string(hide_password=True),
                 background_jobs="here" if self.jobs else "elsewhere",
                 slack="here" if self.slack else "elsewhere" if self.settings.slack_enabled else "off")

    async def stop(self) -> None:
        if self.slack is not None:  # first: no new request from Slack while the rest shuts down
            await self.slack.stop()
        if self.jobs is not None:
            await self.jobs.stop()
        await self.notifier.close()
        await self.db.dispose()
