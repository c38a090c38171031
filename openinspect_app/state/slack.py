"""The settings page's Slack section, and the page that links a Slack user to the person signed in.

``SlackSettings``: channels with their repository, aliases and keywords per repository, and the
Slack users linked to people here — thin handlers over :mod:`openinspect_core.slack.hints` and
:mod:`openinspect_core.slack.people` for the signed-in person.

``SlackLinkPage`` (``/settings/slack/link?code=…``, the link the bot gives a Slack user it cannot
tell who is): shows which Slack user and which request the code is for, and links them to the
person signed in only when that person confirms — a link someone else sent cannot link a stranger's
Slack account to you by a mere visit. The code stays in the page's address (read from the router
on each event), never in a var; once linked, the request the Slack user made goes on (the bot in
this process is told at once; a bot in another process notices by itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import reflex as rx
from openinspect_protocol.logs import EventLog

from openinspect_app import running
from openinspect_app.slack_bot import resume_later
from openinspect_app.state.auth import AuthState
from openinspect_app.state.viewer import user_row
from openinspect_core.services.errors import ServiceError
from openinspect_core.settings import Settings
from openinspect_core.slack import hints, people, repo_choice

log = EventLog(__name__)

MAX_REQUEST_SHOWN_CHARS = 300  # the link page quotes the Slack request this far


@dataclass
class RepoOption:
    value: str  # the repository's id
    label: str  # owner/name, or its name


@dataclass
class ChannelRow:
    channel_id: str
    channel_name: str
    repo: str


@dataclass
class HintRow:
    id: str
    repo: str
    kind: str
    value: str


@dataclass
class LinkRow:
    slack_user_id: str
    slack_name: str
    person: str
    email: str
    method: str
    linked_at: str  # ISO time; the page shows it relative


def bot_status(settings: Settings) -> str:
    """How Slack reaches the bot here, in words for the settings page."""
    if not settings.slack_enabled:
        return "Slack is not set up here: set OPENINSPECT_SLACK_BOT_TOKEN (see docs/slack.md)."
    if not settings.slack_in_process:
        return "The Slack bot runs in its own process (python -m backend_jobs.slack)."
    if settings.slack_socket_mode:
        return "The Slack bot runs in this process and reaches Slack over Socket Mode."
    return f"The Slack bot runs in this process; Slack's Request URL is {settings.origin}/slack/events."


class SlackSettings(AuthState):
    bot: str = ""  # how the bot runs (bot_status)
    repos: list[RepoOption] = []
    channels: list[ChannelRow] = []
    hint_rows: list[HintRow] = []
    links: list[LinkRow] = []
    slack_error: str = ""
    slack_notice: str = ""

    @rx.event
    async def open(self) -> None:
        if await self._viewer() is None:
            return  # the settings page's own on_load sends the tab to sign in
        self.bot = bot_status(running.get().context.settings)
        self._say("", "")
        await self._load()

    @rx.event
    async def set_channel(self, form: dict[str, Any]) -> None:
        viewer = await self._viewer()
        if viewer is None:
            return
        channel = str(form.get("channel_id") or "")[:200]
        try:
            async with running.get().context.work() as work:
                row = await hints.set_channel_repo(work.db, channel_id=channel, repo_id=str(form.get("repo_id") or ""),
                                                   by=await user_row(work.db, viewer),
                                                   channel_name=str(form.get("channel_name") or "")[:200] or None)
        except ServiceError as error:
            return self._refused(error)
        self._say(f"Channel {row.channel_name or row.channel_id} now works on {self._label(row.repo_id)}.", "")
        await self._load()

    @rx.event
    async def clear_channel(self, channel_id: str) -> None:
        viewer = await self._viewer()
        if viewer is None:
            return
        channel_id = str(channel_id)[:64]
        async with running.get().context.work() as work:
            cleared = await hints.clear_channel_repo(work.db, channel_id)
        if cleared:
            log.info("ui.slack_channel_cleared", user_id=viewer.user_id, channel_id=channel_id)
        self._say(f"Channel {channel_id} has no repository now." if cleared else "", "")
        await self._load()

    @rx.event
    async def add_hint(self, form: dict[str, Any]) -> None:
        viewer = await self._viewer()
        if viewer is None:
            return
        try:
            async with running.get().context.work() as work:
                hint = await hints.add_hint(work.db, repo_id=str(form.get("repo_id") or ""),
                                            kind=str(form.get("kind") or ""), value=str(form.get("value") or "")[:200],
                                            by=await user_row(work.db, viewer))
        except ServiceError as error:
            return self._refused(error)
        self._say(f"{hint.kind.capitalize()} “{hint.value}” → {self._label(hint.repo_id)}.", "")
        await self._load()

    @rx.event
    async def remove_hint(self, hint_id: str) -> None:
        viewer = await self._viewer()
        if viewer is None:
            return
        async with running.get().context.work() as work:
            removed = await hints.remove_hint(work.db, str(hint_id)[:64])
        if removed:
            log.info("ui.slack_hint_removed", user_id=viewer.user_id, hint_id=str(hint_id)[:64])
        self._say("", "")
        await self._load()

    @rx.event
    async def unlink(self, slack_user_id: str) -> None:
        viewer = await self._viewer()
        if viewer is None:
            return
        slack_user_id = str(slack_user_id)[:64]
        async with running.get().context.work() as work:
            done = await people.unlink(work.db, slack_user_id, await user_row(work.db, viewer))
        self._say(f"Slack user {slack_user_id} is no longer linked." if done else "", "")
        await self._load()

    def _refused(self, error: ServiceError) -> None:
        self._say("", error.message)

    def _say(self, notice: str, error: str) -> None:
        self.slack_notice, self.slack_error = notice, error

    def _label(self, repo_id: str) -> str:
        return next((r.label for r in self.repos if r.value == repo_id), repo_id)

    async def _load(self) -> None:
        context = running.get().context
        async with context.db.session() as db:
            candidates = await repo_choice.load_candidates(db, github_only=context.settings.github_enabled)
            channels = await hints.list_channel_repos(db)
            every_hint = await hints.list_hints(db)
            linked = await people.list_links(db)
        self.repos = [RepoOption(c.repo_id, c.label) for c in candidates]
        labels = {c.repo_id: c.label for c in candidates}
        self.channels = [ChannelRow(c.association.channel_id, c.association.channel_name or "",
                                    c.repo.full_name or c.repo.name) for c in channels]
        self.hint_rows = [HintRow(h.id, labels.get(h.repo_id, h.repo_id), h.kind, h.value) for h in every_hint]
        self.links = [LinkRow(p.link.slack_user_id, p.link.slack_name or "", p.user.name, p.user.email, p.link.method,
                              p.link.linked_at.isoformat()) for p in linked]


class SlackLinkPage(AuthState):
    link_state: str = ""  # ask | done | refused
    slack_user_id: str = ""  # whose Slack account the code is for
    slack_request: str = ""  # what they asked in Slack (quoted, cut)
    link_message: str = ""  # why it was refused, or what happened

    def _code(self) -> str:
        return str(self.router.url.query_parameters.get("code", ""))[:200]

    @rx.event
    async def open(self) -> Any:
        if await self._viewer() is None:
            return self._to_sign_in()
        self.link_state, self.slack_user_id, self.slack_request, self.link_message = "", "", "", ""
        try:
            async with running.get().context.db.session() as db:
                request = await people.link_request(db, self._code())
        except ServiceError as error:
            self.link_state, self.link_message = "refused", error.message
            return None
        self.link_state = "ask"
        self.slack_user_id = request.slack_user_id
        text = request.text.strip()
        self.slack_request = text if len(text) <= MAX_REQUEST_SHOWN_CHARS else text[:MAX_REQUEST_SHOWN_CHARS] + "…"
        return None

    @rx.event
    async def confirm(self) -> None:
        viewer = await self._viewer()
        if viewer is None:
            return
        r = running.get()
        try:
            async with r.context.work() as work:
                pending = await people.complete_link(work.db, self._code(), await user_row(work.db, viewer))
        except ServiceError as error:
            self.link_state, self.link_message = "refused", error.message
            return
        log.info("slack.link_completed", slack_user_id=pending.slack_user_id, user_id=viewer.user_id, via="web")
        self.link_state = "done"
        self.link_message = (f"Slack user {pending.slack_user_id} is now you here: what they ask in Slack runs as "
                             f"{viewer.name}. Their request goes on in its thread.")
        resume_later(r.slack, pending.id)
