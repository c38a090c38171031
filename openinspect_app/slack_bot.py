"""The Slack bot as the web process sees it: what it asks of the bot the control plane may run here.

The bot itself is ``backend_jobs.slack.bot.SlackBot`` (``ControlPlane.slack``): built when a bot
token is set and ``OPENINSPECT_SLACK_IN_PROCESS`` is on, else ``None`` (the bot runs in
``python -m backend_jobs.slack``). The web package reaches the background jobs only through their
composition root, so it names the bot by the two things it uses:

- ``handle_http`` answers one Events API / interactivity request (``POST /slack/events``): the
  bot checks Slack's signature and timestamp itself (slack-bolt) and does nothing for a request
  Slack did not sign;
- ``resume`` goes on with a Slack request that waited for its author to link their account (the
  link page, ``POST /api/slack/link``). A bot in another process notices such links itself.

:func:`resume_later` runs ``resume`` beside the web request that completed the link, so the page
answers at once; a failure is logged (the bot picks the request up again on its own).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Protocol

from openinspect_protocol.logs import EventLog

log = EventLog(__name__)


class SlackAnswer(Protocol):
    """What the bot answers an HTTP delivery with (the status, headers and body to send back to Slack)."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str | Sequence[str]]: ...

    @property
    def body(self) -> bytes | str: ...


class SlackBotHandle(Protocol):
    async def handle_http(self, body: bytes, headers: Mapping[str, str]) -> SlackAnswer: ...

    async def resume(self, pending_id: str) -> bool: ...  # False: nothing (left) to go on with


_resuming: set[asyncio.Task[None]] = set()  # strong references: a bare task may be collected mid-way


def resume_later(bot: SlackBotHandle | None, pending_id: str | None) -> None:
    """Have ``bot`` go on with the waiting request ``pending_id`` (nothing when either is None)."""
    if bot is None or pending_id is None:
        return

    async def run() -> None:
        try:
            await bot.resume(pending_id)
        except Exception as error:  # the request stays pending; the bot looks at linked ones itself
            log.warning("slack.resume_failed", pending_id=pending_id, error=repr(error)[:300])

    task = asyncio.create_task(run(), name=f"slack-resume-{pending_id}")
    _resuming.add(task)
    task.add_done_callback(_resuming.discard)
