"""What the settings page tells the repository chooser: channels' repositories, aliases and keywords.

- A **channel's repository** (:class:`~openinspect_core.models.SlackChannelRepo`): a mention in that
  channel that names no repository works on it.
- An **alias** names a repository outright ("api" for acme/billing-api), so one alias belongs to
  one repository only; a **keyword** points towards one ("invoice"), and several may share it.

Both are lower-case words (:data:`HINT_PATTERN`), the form the chooser compares
(:mod:`openinspect_core.slack.repo_choice`). Every refusal is a ``ServiceError`` with a code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from openinspect_protocol.logs import EventLog
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.models import Repo, RepoHint, SlackChannelRepo, User, utcnow
from openinspect_core.services.errors import Conflict, InvalidInput, NotFound

log = EventLog(__name__)

ALIAS, KEYWORD = "alias", "keyword"
KINDS = (ALIAS, KEYWORD)
HINT_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
# Slack's conversation ids: C (public), G (private, older), D (direct message), then upper-case letters and digits.
CHANNEL_ID_PATTERN = re.compile(r"[CGD][A-Z0-9]{2,31}")
MAX_CHANNEL_NAME_CHARS = 200  # the column


@dataclass(frozen=True)
class ChannelRepo:
    association: SlackChannelRepo
    repo: Repo


def channel_id_of(value: str) -> str:
    """A Slack channel id as given (trimmed; ``<#C123|name>`` as Slack writes a channel accepted), if valid."""
    value = value.strip()
    wrapped = re.fullmatch(r"<#([^|>]+)(?:\|[^>]*)?>", value)
    if wrapped:
        value = wrapped.group(1)
    if not CHANNEL_ID_PATTERN.fullmatch(value):
        raise InvalidInput("a Slack channel id looks like C0123ABCD (in Slack: the channel's details, at the bottom)",
                           code="slack_invalid_channel")
    return value


async def _repo(db: AsyncSession, repo_id: str) -> Repo:
    repo = await db.get(Repo, repo_id)
    if repo is None:
        raise NotFound(f"no repository {repo_id!r}", code="no_such_repo")
    return repo


async def set_channel_repo(db: AsyncSession, *, channel_id: str, repo_id: str, by: User,
                           channel_name: str | None = None) -> SlackChannelRepo:
    """Make ``repo_id`` the channel's repository (replacing any other)."""
    channel_id = channel_id_of(channel_id)
    await _repo(db, repo_id)
    name = (channel_name or "").strip().lstrip("#")[:MAX_CHANNEL_NAME_CHARS] or None
    row = await db.get(SlackChannelRepo, channel_id)
    if row is None:
        row = SlackChannelRepo(channel_id=channel_id, repo_id=repo_id, channel_name=name, updated_by=by.id)
        try:
            async with db.begin_nested():
                db.add(row)
        except IntegrityError:  # set concurrently: this later choice replaces it
            row = await db.get(SlackChannelRepo, channel_id, populate_existing=True)
            assert row is not None
    row.repo_id, row.channel_name, row.updated_by, row.updated_at = repo_id, name or row.channel_name, by.id, utcnow()
    db.add(row)
    await db.flush()
    log.info("slack.channel_repo_set", channel_id=channel_id, repo_id=repo_id, by=by.id)
    return row


async def clear_channel_repo(db: AsyncSession, channel_id: str) -> bool:
    """The channel no longer has a repository; False when it had none."""
    row = await db.get(SlackChannelRepo, channel_id.strip())
    if row is None:
        return False
    await db.delete(row)
    await db.flush()
    return True


async def channel_repo(db: AsyncSession, channel_id: str) -> str | None:
    """The id of the channel's repository, if it has one."""
    row = await db.get(SlackChannelRepo, channel_id)
    return None if row is None else row.repo_id


async def list_channel_repos(db: AsyncSession) -> list[ChannelRepo]:
    rows = await db.exec(select(SlackChannelRepo, Repo).join(Repo, col(Repo.id) == SlackChannelRepo.repo_id)
                         .order_by(col(SlackChannelRepo.channel_name), col(SlackChannelRepo.channel_id)))
    return [ChannelRepo(association, repo) for association, repo in rows.all()]


def hint_value(kind: str, value: str) -> str:
    """The hint as stored (lower case, trimmed), if it is one."""
    if kind not in KINDS:
        raise InvalidInput("a hint is an alias or a keyword", code="slack_invalid_hint")
    value = value.strip().lower()
    if not HINT_PATTERN.fullmatch(value):
        raise InvalidInput(f"an {kind} is one word of letters, digits, '.', '_' or '-' (at most 100), "
                           f"starting with a letter or digit", code="slack_invalid_hint")
    return value


async def add_hint(db: AsyncSession, *, repo_id: str, kind: str, value: str, by: User) -> RepoHint:
    """Add an alias or keyword to the repository (adding one it has already changes nothing)."""
    value = hint_value(kind, value)
    await _repo(db, repo_id)
    same = (await db.exec(select(RepoHint).where(RepoHint.kind == kind, RepoHint.value == value))).all()
    for hint in same:
        if hint.repo_id == repo_id:
            return hint
    if kind == ALIAS and same:
        raise Conflict(f"the alias {value!r} already names another repository", code="slack_alias_taken")
    hint = RepoHint(repo_id=repo_id, kind=kind, value=value, updated_by=by.id)
    try:
        async with db.begin_nested():
            db.add(hint)
    except IntegrityError:  # added concurrently
        existing = (await db.exec(select(RepoHint).where(RepoHint.repo_id == repo_id, RepoHint.kind == kind,
                                                         RepoHint.value == value))).one()
        return existing
    log.info("slack.hint_added", repo_id=repo_id, kind=kind, by=by.id)
    return hint


async def remove_hint(db: AsyncSession, hint_id: str) -> bool:
    """Remove a hint; False when there is none by that id."""
    hint = await db.get(RepoHint, hint_id)
    if hint is None:
        return False
    await db.delete(hint)
    await db.flush()
    return True


async def list_hints(db: AsyncSession, repo_id: str | None = None) -> list[RepoHint]:
    """Every hint (of one repository, when given), by repository, kind and value."""
    query = select(RepoHint)
    if repo_id is not None:
        query = query.where(RepoHint.repo_id == repo_id)
    rows = await db.exec(query.order_by(col(RepoHint.repo_id), col(RepoHint.kind), col(RepoHint.value)))
    return list(rows.all())
