"""The bolt app's listeners: what the bot does with a delivery, whichever transport brought it.

Owns the first moments of every delivery: acknowledge at once (Slack gives three seconds), decide
whether it concerns the bot (:mod:`.incoming`), record it once (``deliveries.first_time``: an
``X-Slack-Retry-Num`` retry, a Socket Mode redelivery, or the ``app_mention`` + ``message`` pair of one
mention in a thread does nothing a second time), 👀 the message, bind ``slack_event_id`` for every
log line that follows, and hand the work to a background task. What the request then becomes is
:class:`.intake.Intake`'s; the clicks' meanings are here (:meth:`Ingress.on_click`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from openinspect_protocol import logs
from openinspect_protocol.logs import EventLog
from slack_bolt.async_app import AsyncApp

from backend_jobs.slack import actions, texts
from backend_jobs.slack.choice_blocks import is_choose_button
from backend_jobs.slack.incoming import Click, Incoming, clicks_of, message_of
from backend_jobs.slack.intake import Intake
from backend_jobs.slack.replies import Replies
from openinspect_core.context import AppContext
from openinspect_core.github import pulls
from openinspect_core.services.errors import ServiceError
from openinspect_core.slack import deliveries, people, threads

log = EventLog(__name__)

# Refusals open_for_session writes on the session's timeline: the reporter says them in the thread.
PULL_REQUEST_REFUSALS_ON_TIMELINE = (pulls.NotOnGitHub, pulls.NothingPushed, pulls.PullRequestRefused)
_ANY_ACTION = re.compile(r".*")  # every click is acknowledged (Slack shows an error on an unanswered one)


class Ingress:
    def __init__(self, context: AppContext, replies: Replies, intake: Intake,
                 spawn: Callable[[Coroutine[Any, Any, object]], object],
                 bot_user_id: Callable[[], str | None]) -> None:
        self.context = context
        self.replies = replies
        self.intake = intake
        self._spawn = spawn
        self._bot_user_id = bot_user_id

    def register(self, app: AsyncApp) -> None:
        """bolt's listeners: acknowledge, then work in the background. Plain functions, because bolt
        passes arguments by the names it reads off the signature (a method's ``self`` included)."""

        async def on_message_event(ack: Callable[[], Awaitable[None]], body: dict[str, Any]) -> None:
            await ack()
            incoming = message_of(body, bot_user_id=self._bot_user_id())
            if incoming is not None:
                self._spawn(self.on_message(incoming))

        async def on_action(ack: Callable[[], Awaitable[None]], body: dict[str, Any]) -> None:
            await ack()
            for click in clicks_of(body):
                self._spawn(self.on_click(click))

        app.event("app_mention")(on_message_event)
        app.event("message")(on_message_event)
        app.action(_ANY_ACTION)(on_action)

    # -- messages ----------------------------------------------------------------------------------

    async def on_message(self, incoming: Incoming) -> None:
        request = incoming.request
        with logs.bind(slack_event_id=incoming.event_id):
            session_thread = None
            if incoming.in_thread:
                async with self.context.db.session() as db:
                    session_thread = await threads.thread_for(db, request.channel_id, request.thread_ts)
            if session_thread is None and not (incoming.is_dm or incoming.mentions_bot):
                return  # people talking in some other thread: not for the bot, and nothing recorded
            async with self.context.work() as work:
                first = await deliveries.first_time(work.db, incoming.delivery_key, "message")
            if not first:
                log.info("slack.duplicate", key=incoming.delivery_key)
                return
            log.info("slack.received", channel_id=request.channel_id, slack_user_id=request.slack_user_id,
                     dm=incoming.is_dm, follow_up=session_thread is not None)
            self._spawn(self.replies.seen(request.channel_id, request.message_ts))
            try:
                await self.intake.handle(request, session_thread=session_thread)
            except Exception:
                log.exception("slack.failed", code="slack_request_failed")
                await self.replies.post(request.channel_id, request.thread_ts, texts.SOMETHING_WENT_WRONG)

    # -- clicks ------------------------------------------------------------------------------------

    async def on_click(self, click: Click) -> None:
        if click.action_id in (actions.VIEW_SESSION, actions.VIEW_PULL_REQUEST, actions.LINK_ACCOUNT):
            return  # link buttons: Slack opens the URL; the click itself asks nothing of the bot
        with logs.bind(slack_event_id=click.key.split(":", 1)[0][:64]):
            async with self.context.work() as work:
                first = await deliveries.first_time(work.db, click.delivery_key, "click")
            if not first:
                log.info("slack.duplicate", key=click.delivery_key)
                return
            log.info("slack.clicked", action_id=click.action_id, slack_user_id=click.slack_user_id)
            if is_choose_button(click.action_id):
                pending_id, _, repo_id = click.value.partition(":")
                await self.intake.chosen(pending_id, repo_id, clicker=click.slack_user_id,
                                         channel_id=click.channel_id, thread_ts=click.thread_ts)
            elif click.action_id == actions.SELECT_REPO:
                await self.intake.chosen(click.block_id, click.value, clicker=click.slack_user_id,
                                         channel_id=click.channel_id, thread_ts=click.thread_ts)
            elif click.action_id == actions.CREATE_PULL_REQUEST:
                await self.pull_request(click)
            else:
                log.info("slack.unknown_action", action_id=click.action_id[:100])

    async def pull_request(self, click: Click) -> None:
        """"Create pull request": opened as the clicker's person (their GitHub token, else the App's on their
        behalf — the GitHub rules of ``pulls.open_for_session``); the reporter shows the result."""
        session_id = click.value
        async with self.context.db.session() as db:
            thread = await threads.thread_of_session(db, session_id)
            user = await people.linked_user(db, click.slack_user_id)
        if thread is None or thread.channel_id != click.channel_id:  # only from the session's own thread
            await self.replies.ephemeral(click.channel_id, click.slack_user_id, click.thread_ts, texts.GONE)
            return
        if user is None:
            await self.replies.ephemeral(click.channel_id, click.slack_user_id, click.thread_ts,
                                         texts.NOT_LINKED_FOR_PR)
            return
        with logs.bind(session_id=session_id):
            try:
                artifact = await pulls.open_for_session(self.context, session_id, user)
            except PULL_REQUEST_REFUSALS_ON_TIMELINE as error:
                log.info("slack.pull_request_refused", code=error.code)  # on the timeline: the reporter says it
                return
            except ServiceError as error:
                log.info("slack.refused", code=error.code, reason=error.message)
                await self.replies.ephemeral(click.channel_id, click.slack_user_id, click.thread_ts,
                                             texts.refusal(error))
                return
            log.info("slack.pull_request", artifact_id=artifact.id, user_id=user.id)
