"""From a person's request in Slack to a session: who asked, which repository, then start or follow up.

Owns the request's path after the ingress has accepted it (deduplicated, 👀 given):

1. **who** (:meth:`Intake.person`) — a linked person; else ``users.info`` and a confirmed email that
   is a person's here (linked on the spot); else a link request (a pending row, the link sent to that
   Slack user alone) — the request goes on in :meth:`Intake.resume` once the link is made on the web;
2. **where** — a reply in a session's thread is a follow-up prompt to that session; else the
   repository (:func:`openinspect_core.slack.repo_choice.choose`, then the model when configured,
   else buttons and a select kept as a pending row that :meth:`Intake.chosen` resolves once);
3. **start** — :func:`openinspect_core.slack.starts.start_session`, then the reporter posts the
   thread's status message.

Every refusal is one short reply in the thread (:mod:`.texts`). What the click handlers and the
transports do is :mod:`.ingress`'s; what the thread shows after the start is the reporter's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Protocol

from openinspect_protocol import logs
from openinspect_protocol.logs import EventLog

from backend_jobs.slack import choice_blocks, texts
from backend_jobs.slack.incoming import Request
from backend_jobs.slack.replies import Replies
from openinspect_core.context import AppContext
from openinspect_core.models import SlackPending, SlackThread, User
from openinspect_core.services.errors import ServiceError
from openinspect_core.slack import hints, model_choice, people, repo_choice, starts, threads
from openinspect_core.slack.repo_choice import Candidate

log = EventLog(__name__)

LINK_PATH = "/settings/slack/link"


class SessionReporter(Protocol):
    """What the intake needs of the reporter (:class:`.reporter.Reporter`)."""

    async def session_started(self, session_id: str) -> None: ...


def link_url(origin: str, code: str) -> str:
    return f"{origin}{LINK_PATH}?code={code}"


def request_of(pending: SlackPending) -> Request:
    return Request(team_id=pending.team_id, channel_id=pending.channel_id, thread_ts=pending.thread_ts,
                   message_ts=pending.message_ts, slack_user_id=pending.slack_user_id, text=pending.text)


class Intake:
    def __init__(self, context: AppContext, replies: Replies, reporter: SessionReporter,
                 bot_user_id: Callable[[], str | None]) -> None:
        self.context = context
        self.settings = context.settings
        self.replies = replies
        self.reporter = reporter
        self._bot_user_id = bot_user_id

    # -- 1. who asked ------------------------------------------------------------------------------

    async def person(self, request: Request) -> User | None:
        """The person ``request`` is from; None when they must link first (the link was sent to them)."""
        async with self.context.db.session() as db:
            user = await people.linked_user(db, request.slack_user_id)
        if user is not None:
            return user
        info = await self.replies.user_info(request.slack_user_id)
        if info is not None and not info.get("is_bot"):
            profile = info.get("profile")
            profile = profile if isinstance(profile, dict) else {}
            name = str(profile.get("real_name") or info.get("real_name") or info.get("name") or "")[:200] or None
            async with self.context.work() as work:
                user = await people.link_by_email(
                    work.db, slack_user_id=request.slack_user_id, team_id=request.team_id,
                    email=profile.get("email") if isinstance(profile.get("email"), str) else None,
                    email_confirmed=info.get("is_email_confirmed") is True, slack_name=name)
            if user is not None:
                log.info("slack.linked", slack_user_id=request.slack_user_id, user_id=user.id, method="email")
                return user
        await self._ask_to_link(request)
        return None

    async def _ask_to_link(self, request: Request) -> None:
        async with self.context.work() as work:
            pending = await threads.create_pending(
                work.db, reason=threads.LINK_ACCOUNT, team_id=request.team_id, channel_id=request.channel_id,
                thread_ts=request.thread_ts, message_ts=request.message_ts, slack_user_id=request.slack_user_id,
                text=request.text)
            code = await people.start_link(work.db, pending)
        text, blocks = choice_blocks.link_blocks(link_url(self.settings.origin, code))
        # Only that person sees it: the code links *their* Slack account to whoever uses it.
        ts = await self.replies.ephemeral(request.channel_id, request.slack_user_id, request.thread_ts, text, blocks)
        if ts is not None:
            async with self.context.work() as work:
                await threads.set_prompt_ts(work.db, pending.id, ts)
        log.info("slack.link_requested", pending_id=pending.id, slack_user_id=request.slack_user_id)

    # -- 2. where ----------------------------------------------------------------------------------

    async def handle(self, request: Request, *, session_thread: SlackThread | None) -> None:
        """A request the ingress accepted: a follow-up in ``session_thread``, else a new session."""
        user = await self.person(request)
        if user is None:
            return
        await self.proceed(request, user, session_thread=session_thread)

    async def proceed(self, request: Request, user: User, *, session_thread: SlackThread | None) -> None:
        if session_thread is None:  # a request resumed later: its thread may have a session by now
            async with self.context.db.session() as db:
                session_thread = await threads.thread_for(db, request.channel_id, request.thread_ts)
        if session_thread is not None:
            await self.follow_up(request, user, session_thread)
        else:
            await self.choose_and_start(request, user)

    async def follow_up(self, request: Request, user: User, thread: SlackThread) -> None:
        prompt = self.prompt_of(request.text)
        if not prompt:
            return  # a bare mention in the thread: nothing to queue
        with logs.bind(session_id=thread.session_id):
            try:
                enqueued = await starts.follow_up(self.context, session_id=thread.session_id, user=user,
                                                  prompt=prompt, client_request_id=request.client_request_id)
            except ServiceError as error:
                log.info("slack.refused", code=error.code, reason=error.message)
                await self.replies.post(request.channel_id, request.thread_ts, texts.refusal(error))
                return
            log.info("slack.follow_up", message_id=enqueued.message.id, created=enqueued.created)

    def prompt_of(self, text: str) -> str:
        """A thread reply as the agent reads it: without the bot's mention, Slack's markup made plain."""
        bot = self._bot_user_id()
        if bot:
            text = re.sub(rf"<@{re.escape(bot)}(\|[^>]*)?>", " ", text)
        return repo_choice.to_plain(text).strip()

    async def choose_and_start(self, request: Request, user: User) -> None:
        async with self.context.db.session() as db:
            candidates = await repo_choice.load_candidates(db, github_only=self.settings.github_enabled)
            channel_repo_id = await hints.channel_repo(db, request.channel_id)
        choice = repo_choice.choose(request.text, channel_repo_id=channel_repo_id, candidates=candidates,
                                    bot_user_id=self._bot_user_id())
        log.info("slack.repo_choice", reason=choice.reason, repo_id=choice.repo_id, candidates=len(choice.candidates))
        if not choice.prompt.strip():
            await self.replies.post(request.channel_id, request.thread_ts, texts.HELP)
            return
        if choice.reason == "none":
            await self.replies.post(request.channel_id, request.thread_ts, texts.NO_REPOSITORIES)
            return
        repo_id = choice.repo_id
        if repo_id is None and self.settings.slack_chooser_model and not choice.unknown:
            repo_id = await self._ask_model(choice, candidates)
        if repo_id is None:
            await self._offer_choice(request, choice, candidates)
            return
        await self.start(request, user, repo_id, choice.prompt)

    async def _ask_model(self, choice: repo_choice.Choice, candidates: Sequence[Candidate]) -> str | None:
        among = [c for c in candidates if c.repo_id in choice.candidates] or list(candidates)
        picked = await model_choice.ask_model(self.settings, choice.prompt, among)  # logs its own answer
        return picked if picked in {c.repo_id for c in among} else None

    async def _offer_choice(self, request: Request, choice: repo_choice.Choice,
                            candidates: Sequence[Candidate]) -> None:
        by_id = {c.repo_id: c for c in candidates}
        best = [by_id[i] for i in choice.candidates if i in by_id][:repo_choice.MAX_CANDIDATES]
        async with self.context.work() as work:
            # Kept: the prompt (the message without the mention and the repository reference it
            # started with), asked again of nobody — the click starts it as it is.
            pending = await threads.create_pending(
                work.db, reason=threads.CHOOSE_REPO, team_id=request.team_id, channel_id=request.channel_id,
                thread_ts=request.thread_ts, message_ts=request.message_ts, slack_user_id=request.slack_user_id,
                text=choice.prompt, candidates=[c.repo_id for c in best])
        text, blocks = choice_blocks.choice_blocks(pending.id, best, candidates, slack_user_id=request.slack_user_id,
                                                   unknown=choice.unknown)
        ts = await self.replies.post(request.channel_id, request.thread_ts, text, blocks)
        if ts is not None:
            async with self.context.work() as work:
                await threads.set_prompt_ts(work.db, pending.id, ts)
        log.info("slack.choice_offered", pending_id=pending.id, candidates=len(best))

    # -- 3. start ----------------------------------------------------------------------------------

    async def start(self, request: Request, user: User, repo_id: str, prompt: str) -> None:
        try:
            session = await starts.start_session(
                self.context, user=user, repo_id=repo_id, prompt=prompt, team_id=request.team_id,
                channel_id=request.channel_id, thread_ts=request.thread_ts, slack_user_id=request.slack_user_id,
                client_request_id=request.client_request_id)
        except ServiceError as error:
            log.info("slack.refused", code=error.code, reason=error.message, repo_id=repo_id)
            await self.replies.post(request.channel_id, request.thread_ts, texts.refusal(error))
            return
        with logs.bind(session_id=session.id):
            await self.reporter.session_started(session.id)

    # -- answers that come later -------------------------------------------------------------------

    async def resume(self, pending_id: str) -> bool:
        """Go on with a link request whose Slack user has been linked since; False when there is nothing
        to go on with (not linked yet, answered already, expired, unknown)."""
        async with self.context.work() as work:
            pending = await threads.pending(work.db, pending_id)
            if pending is None or pending.reason != threads.LINK_ACCOUNT:
                return False
            user = await people.linked_user(work.db, pending.slack_user_id)
            if user is None or not await threads.resolve_pending(work.db, pending_id):
                return False
        request = request_of(pending)
        log.info("slack.resumed", pending_id=pending_id, slack_user_id=request.slack_user_id, user_id=user.id)
        await self.replies.post(request.channel_id, request.thread_ts,
                                texts.LINKED.format(user=request.slack_user_id))
        await self.proceed(request, user, session_thread=None)
        return True

    async def chosen(self, pending_id: str, repo_id: str, *, clicker: str, channel_id: str,
                     thread_ts: str) -> None:
        """A repository chosen for a pending request (a button or the select): it starts, once."""
        async with self.context.db.session() as db:
            pending = await threads.pending(db, pending_id)
            candidates = await repo_choice.load_candidates(db, github_only=self.settings.github_enabled)
            user = None if pending is None else await people.linked_user(db, pending.slack_user_id)
        if pending is None or pending.reason != threads.CHOOSE_REPO or pending.resolved_at is not None:
            await self.replies.ephemeral(channel_id, clicker, thread_ts, texts.GONE)
            return
        if clicker != pending.slack_user_id:
            await self.replies.ephemeral(channel_id, clicker, thread_ts,
                                         texts.NOT_YOURS.format(user=pending.slack_user_id))
            return
        repo = next((c for c in candidates if c.repo_id == repo_id), None)
        if repo is None:
            await self.replies.ephemeral(channel_id, clicker, thread_ts, texts.REPO_UNAVAILABLE)
            return
        if user is None:  # unlinked since they asked: the link request again
            await self._ask_to_link(request_of(pending))
            return
        async with self.context.work() as work:
            first = await threads.resolve_pending(work.db, pending_id)
        if not first:  # a second click, or expired meanwhile
            await self.replies.ephemeral(channel_id, clicker, thread_ts, texts.GONE)
            return
        log.info("slack.repo_chosen", pending_id=pending_id, repo_id=repo_id)
        if pending.prompt_ts is not None:
            text, blocks = choice_blocks.chosen_blocks(repo.label, pending.slack_user_id)
            await self.replies.update(pending.channel_id, pending.prompt_ts, text, blocks)
        await self.start(request_of(pending), user, repo_id, pending.text)
