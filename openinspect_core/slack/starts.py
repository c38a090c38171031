"""Starting a session from Slack, and queueing a thread reply as a follow-up to it.

:func:`start_session` is one unit of work: the session (source ``slack``, titled from the
prompt), its first prompt, and the :class:`~openinspect_core.models.SlackThread` that ties it to
the thread, all or nothing; watchers hear of it after the commit. A thread holds one session: a
second start in the same thread (a redelivery that got past the dedupe, two clicks at once)
returns the session already there instead of making another.

The repository comes as a row id (the chooser's answer); how the session service is asked for it
depends on the deployment: with a GitHub App by ``owner/name``, else by its stored URL or path.
"""

from __future__ import annotations

from openinspect_protocol.logs import EventLog
from sqlalchemy.exc import IntegrityError

from openinspect_core.context import AppContext
from openinspect_core.models import Repo, Session, SlackThread, User
from openinspect_core.services import prompts, sessions
from openinspect_core.services.errors import Conflict, NotFound
from openinspect_core.slack import threads

log = EventLog(__name__)

SOURCE = "slack"
TITLE_MAX_CHARS = 80  # Why: shown in lists and in the thread's status message; the prompt itself is whole


def title_of(prompt: str) -> str | None:
    """A session title from the prompt: its first non-empty line, cut at a word near :data:`TITLE_MAX_CHARS`."""
    line = next((ln.strip() for ln in prompt.splitlines() if ln.strip()), "")
    if len(line) <= TITLE_MAX_CHARS:
        return line or None
    cut = line[:TITLE_MAX_CHARS].rsplit(" ", 1)[0].rstrip(" ,.;:")[:TITLE_MAX_CHARS - 1]
    return (cut or line[:TITLE_MAX_CHARS - 1]) + "…"


async def start_session(
    context: AppContext,
    *,
    user: User,
    repo_id: str,
    prompt: str,
    team_id: str,
    channel_id: str,
    thread_ts: str,
    slack_user_id: str,
    client_request_id: str,
    model: str | None = None,
) -> Session:
    """A new session on ``repo_id`` for ``user`` with ``prompt`` queued, reporting to the thread."""
    async with context.work() as work:
        db = work.db
        existing = await threads.thread_for(db, channel_id, thread_ts)
        if existing is not None:
            return await sessions.get(db, existing.session_id)
        repo = await db.get(Repo, repo_id)
        if repo is None:
            raise NotFound(f"no repository {repo_id!r}", code="no_such_repo")
        policy = sessions.SessionPolicy.from_settings(context.settings)
        on_github = policy.repos.github_url is not None
        session = await sessions.create(
            db, creator=user, policy=policy, title=title_of(prompt), model=model, source=SOURCE,
            repo=(repo.full_name or repo.url) if on_github else None, repo_url=None if on_github else repo.url)
        await prompts.enqueue(db, session_id=session.id, author=user, content=prompt,
                              client_request_id=client_request_id, limits=context.limits, source=SOURCE, model=model)
        try:
            async with db.begin_nested():
                db.add(SlackThread(session_id=session.id, team_id=team_id, channel_id=channel_id,
                                   thread_ts=thread_ts, slack_user_id=slack_user_id))
        except IntegrityError:  # another start in this thread committed meanwhile: roll this one back
            raise Conflict("this Slack thread already has a session", code="slack_thread_taken") from None
        work.changed(session.id)
    log.info("slack.session_started", session_id=session.id, repo_id=repo_id, channel_id=channel_id,
             user_id=user.id)
    return session


async def follow_up(context: AppContext, *, session_id: str, user: User, prompt: str,
                    client_request_id: str, model: str | None = None) -> prompts.Enqueued:
    """Queue a thread reply as the session's next prompt, by ``user`` (who joins the session)."""
    async with context.work() as work:
        enqueued = await prompts.enqueue(work.db, session_id=session_id, author=user, content=prompt,
                                         client_request_id=client_request_id, limits=context.limits,
                                         source=SOURCE, model=model)
        if enqueued.created:
            await sessions.join(work.db, await sessions.get(work.db, session_id), user)
            work.changed(session_id)
    return enqueued
