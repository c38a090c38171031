"""A running system with its Slack bot, for the Slack scenarios.

The control plane of the embedded default (background jobs in-process: local sandboxes running the
real OpenCode against the scripted model) with the Slack bot it builds when Slack settings are
present, its Web API pointed at the fake Slack, and its GitHub App at the fake GitHub (an App
installed on ``acme``: ``acme/widgets`` and ``acme/gadgets``, cloned and pushed over real git HTTP).
The REST API (with the Slack events route) is served over real HTTP, signed in as Ada.

Two transports, as a team would install it: ``"http"`` — Slack posts signed deliveries to the web's
``POST /slack/events``; ``"socket"`` — an app-level token is set and the bot connects to the fake's
Socket Mode WebSocket (no public URL). Either way the tests send through :meth:`SlackSystem.deliver`
and :meth:`SlackSystem.click`, which the fake signs or wraps exactly as Slack does.

Ada is a person of the system (``ada@example.com``) and the fake Slack's seeded ``ada`` has the same
confirmed email: her Slack messages are hers. ``#widgets`` is associated with ``acme/widgets``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import psutil
from sqlmodel import col, select

from backend_jobs.control_plane import ControlPlane
from backend_jobs.sandboxes.local import MARKER
from openinspect_app.api.app import attach, build_api
from openinspect_core.models import Message, Repo, Session, SlackThread, User
from openinspect_core.services import users
from openinspect_core.settings import Settings
from openinspect_core.slack import hints
from tests.fakes.github import FakeGitHub, serve_fake_github
from tests.fakes.scripted_model import ScriptedModel
from tests.fakes.slack import SOCKET, FakeSlack, SlackChannel, SlackMessage
from tests.support import leaks
from tests.support.http import serve_http
from tests.support.rows import every_row
from tests.support.system import ADA, BOT, OPENCODE_BIN, RunningSystem

ORG = "acme"
WIDGETS, GADGETS = f"{ORG}/widgets", f"{ORG}/gadgets"
WAIT_SECONDS = 90.0  # generous: two cores, OpenCode starting, other tests' sandboxes beside ours
SYNC_SECONDS = 30.0  # the App's repositories are synced when the background jobs start

SETUP_SH = "#!/bin/bash\nsleep 2\necho 'widgets ready'\n"
Transport = Literal["http", "socket"]


async def wait_until(check: Callable[[], Any], what: str, timeout_seconds: float = WAIT_SECONDS,
                     explain: Callable[[], str] | None = None) -> Any:
    """The first truthy answer of ``check`` (sync or async), polled; fails saying ``what`` did not happen."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        answer = check()
        if isinstance(answer, Awaitable):
            answer = await answer
        if answer:
            return answer
        if time.monotonic() > deadline:
            detail = f"\n{explain()}" if explain else ""
            raise AssertionError(f"{what}: not within {timeout_seconds} s{detail}")
        await asyncio.sleep(0.1)


def texts_of(value: Any) -> list[str]:
    """Every text of a message's Block Kit (and its fallback ``text``), in order: what a person reads."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "text" and isinstance(item, str):
                found.append(item)
            elif key not in ("action_id", "block_id", "value", "url", "type", "style"):
                found += texts_of(item)
    elif isinstance(value, list):
        for item in value:
            found += texts_of(item)
    return found


def rendered(message: SlackMessage | dict[str, Any] | None) -> str:
    """A message (or chat.postMessage/chat.update arguments) as one text: fallback text and blocks."""
    if message is None:
        return ""
    if isinstance(message, SlackMessage):
        return "\n".join(texts_of({"text": message.text, "blocks": message.blocks or []}))
    return "\n".join(texts_of({"text": message.get("text") or "", "blocks": message.get("blocks") or []}))


def elements(message: SlackMessage) -> list[dict[str, Any]]:
    """The interactive elements of a message's blocks (buttons, selects), in order."""
    found: list[dict[str, Any]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if "action_id" in value:
                found.append(value)
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(message.blocks or [])
    return found


def element(message: SlackMessage, action_id: str) -> dict[str, Any] | None:
    return next((e for e in elements(message) if e["action_id"] == action_id), None)


@dataclass
class SlackSystem:
    plane: ControlPlane
    running: RunningSystem  # the REST API over HTTP, as Ada (an API token)
    slack: FakeSlack
    gh: FakeGitHub
    transport: Transport
    base_url: str  # the web's API
    channel: SlackChannel  # #widgets, associated with acme/widgets
    ada: User  # the person the fake Slack's ada is

    @property
    def target(self) -> Any:
        """Where the fake sends deliveries: the web's events route, or the Socket Mode connection."""
        return SOCKET if self.transport == "socket" else f"{self.base_url}/slack/events"

    @property
    def secrets(self) -> list[str]:
        """What the system was given of Slack's, which must never be in a log, an event, a row or a sandbox."""
        given = [self.slack.bot_token, self.slack.signing_secret]
        return [*given, self.slack.app_token] if self.transport == "socket" else given

    async def deliver(self, event: dict[str, Any], **options: Any) -> Any:
        return await self.slack.deliver_event(self.target, event, **options)

    async def click(self, **options: Any) -> Any:
        return await self.slack.click(self.target, **options)

    # -- the database, read as a person looking at the system would ------------------------------

    async def repo_id(self, full_name: str) -> str:
        async with self.plane.db.session() as db:
            row = (await db.exec(select(Repo).where(Repo.full_name == full_name))).first()
        assert row is not None, full_name
        return row.id

    async def thread_of(self, channel_id: str, thread_ts: str | None = None) -> SlackThread | None:
        async with self.plane.db.session() as db:
            query = select(SlackThread).where(SlackThread.channel_id == channel_id)
            if thread_ts is not None:
                query = query.where(SlackThread.thread_ts == thread_ts)
            return (await db.exec(query)).first()

    async def session_of_thread(self, channel_id: str, thread_ts: str) -> Session:
        """The session a Slack thread started (waits for it)."""
        thread = await wait_until(lambda: self.thread_of(channel_id, thread_ts),
                                  f"a session for the thread {channel_id}/{thread_ts}", explain=self.slack_log)
        return await self.session(thread.session_id)

    async def thread_row(self, session_id: str) -> SlackThread:
        async with self.plane.db.session() as db:
            row = (await db.exec(select(SlackThread).where(SlackThread.session_id == session_id))).first()
        assert row is not None, f"no Slack thread for session {session_id}"
        return row

    async def session(self, session_id: str) -> Session:
        async with self.plane.db.session() as db:
            row = await db.get(Session, session_id)
        assert row is not None
        return row

    async def sessions(self) -> list[Session]:
        async with self.plane.db.session() as db:
            return list((await db.exec(select(Session).order_by(col(Session.created_at)))).all())

    async def prompts(self, session_id: str) -> list[Message]:
        async with self.plane.db.session() as db:
            return list((await db.exec(select(Message).where(Message.session_id == session_id)
                                       .order_by(col(Message.created_at)))).all())

    # -- the fake Slack's world --------------------------------------------------------------------

    def bot_messages(self, channel_id: str, thread_ts: str) -> list[SlackMessage]:
        """The bot's messages in a thread (parent excluded), oldest first."""
        return [m for m in self.slack.world.thread(channel_id, thread_ts)
                if m.ts != thread_ts and (m.bot_id or m.user == self.slack.bot_user_id)]

    async def bot_message(self, channel_id: str, thread_ts: str, matches: Callable[[SlackMessage], bool],
                          what: str) -> SlackMessage:
        def found() -> SlackMessage | None:
            return next((m for m in self.bot_messages(channel_id, thread_ts) if matches(m)), None)

        message: SlackMessage = await wait_until(found, what, explain=lambda: self.thread_log(channel_id, thread_ts))
        return message

    def thread_log(self, channel_id: str, thread_ts: str) -> str:
        lines = [f"{m.ts} {m.user or m.bot_id} (edited {m.edited}x): {rendered(m)[:300]!r}"
                 for m in self.slack.world.thread(channel_id, thread_ts)]
        return "the thread:\n" + "\n".join(lines) + "\n" + self.slack_log()

    def slack_log(self, last: int = 40) -> str:
        calls = self.slack.calls()[-last:]
        return "the Slack calls:\n" + "\n".join(
            f"{c.index} {c.method} {c.status} {json.dumps(c.args, default=str)[:200]}" for c in calls)

    def calls_since(self, mark: int, method: str | None = None) -> list[Any]:
        return [c for c in self.slack.calls(method) if c.index >= mark]

    def eyes(self, channel_id: str, ts: str) -> bool:
        return self.slack.bot_user_id in self.slack.world.reactions(channel_id, ts).get("eyes", [])

    # -- leaks ---------------------------------------------------------------------------------------

    async def leaks(self, session_id: str, records: Iterable[logging.LogRecord]) -> list[str]:
        """Where a Slack secret is: the log records given, the session's events, every row, every file of
        the data directory (workspaces included), the session's sandbox processes (which must be running)."""
        secrets = self.secrets
        found = leaks.in_texts([(f"log {r.name} {r.getMessage()[:80]}", f"{r.getMessage()} {vars(r)!r}")
                                for r in records], secrets)
        events = await self.running.events(session_id)
        found += leaks.in_texts([(f"event {e['sequence']}", str(e)) for e in events], secrets)
        rows = await every_row(self.plane.db)
        found += leaks.in_texts([(f"row of {table}", repr(row)) for table, rs in rows.items() for row in rs], secrets)
        found += leaks.in_files(self.plane.settings.data_dir, secrets)
        processes = self.sandbox_processes(e["data"]["sandbox_id"] for e in events if e["type"] == "sandbox_spawning")
        assert processes, "the session's sandbox runs"
        return found + leaks.in_processes(processes, secrets)

    def sandbox_processes(self, sandbox_ids: Iterable[str]) -> list[psutil.Process]:
        wanted = set(sandbox_ids)
        found = []
        for process in psutil.process_iter():
            try:
                if process.environ().get(MARKER) in wanted:
                    found.append(process)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found


def slack_settings(tmp_path: Path, database_url: str, model: ScriptedModel, gh: FakeGitHub, app: Any,
                   slack: FakeSlack, transport: Transport) -> Settings:
    return Settings.from_env(
        {}, data_dir=tmp_path / "data", database_url=database_url, bridge_port=0, model_proxy_port=0,
        opencode_bin=OPENCODE_BIN, provider_base_url=model.base_url, model="openinspect/scripted",
        bot_name=BOT[0], bot_email=BOT[1], repo_roots=(str(tmp_path),), heartbeat_interval_seconds=3600.0,
        github_app_id=str(app.id), github_app_private_key=app.private_key_pem, github_url=gh.base_url,
        github_api_url=gh.api_url, github_webhook_secret=app.webhook_secret,
        slack_bot_token=slack.bot_token, slack_signing_secret=slack.signing_secret,
        slack_app_token=slack.app_token if transport == "socket" else None, slack_api_url=slack.api_url)


@asynccontextmanager
async def slack_system(database_url: str, tmp_path: Path, model: ScriptedModel, slack: FakeSlack,
                       transport: Transport) -> AsyncIterator[SlackSystem]:
    with serve_fake_github(tmp_path / "github") as gh:
        app = gh.add_app(slug="openinspect-test")
        gh.add_user("ada", name=ADA["name"], email=ADA["email"], orgs=[ORG])
        # A setup step that takes a moment: the status message has a "setting up" to show (updates are
        # coalesced to about one a second, the newest state winning).
        gh.add_repo(ORG, "widgets", files={"README.md": "# Widgets\n", ".openinspect/setup.sh": SETUP_SH},
                    description="The widget factory")
        gh.add_repo(ORG, "gadgets", files={"README.md": "# Gadgets\n"}, description="Gadgets and gizmos")
        gh.add_installation(app, account=ORG, repos=[WIDGETS, GADGETS])
        plane = ControlPlane(slack_settings(tmp_path, database_url, model, gh, app, slack, transport))
        assert plane.slack is not None, "Slack settings are present: the control plane runs the bot in-process"
        await plane.start()
        try:
            ada = await _prepare(plane)
            api = build_api()
            attach(api, plane.context, plane.slack)
            async with serve_http(api) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as client:
                channel = slack.world.add_channel("widgets")
                system = SlackSystem(plane, RunningSystem(plane, client, plane.settings), slack, gh, transport,
                                     base_url, channel, ada)
                await _associate(system, channel, WIDGETS)
                if transport == "socket":
                    await slack.wait_for_socket(timeout=WAIT_SECONDS)
                yield system
        finally:
            await plane.stop()
            gc.collect()  # anything left unclosed is reported against this test


async def _prepare(plane: ControlPlane) -> User:
    """Ada exists, and the App's repositories are synced (the background jobs sync them at start)."""
    async with plane.context.work() as work:
        ada = await users.get_or_create(work.db, ADA["name"], ADA["email"])

    async def synced() -> bool:
        async with plane.db.session() as db:
            rows = (await db.exec(select(Repo).where(col(Repo.full_name).in_([WIDGETS, GADGETS]),
                                                     col(Repo.installation_id).is_not(None)))).all()
        return len(rows) == 2

    await wait_until(synced, "the App's repositories synced", SYNC_SECONDS)
    return ada


async def _associate(system: SlackSystem, channel: SlackChannel, full_name: str) -> None:
    """The channel's repository, as the settings page sets it (Ada)."""
    repo_id = await system.repo_id(full_name)
    async with system.plane.context.work() as work:
        await hints.set_channel_repo(work.db, channel_id=channel.id, channel_name=channel.name, repo_id=repo_id,
                                     by=system.ada)
