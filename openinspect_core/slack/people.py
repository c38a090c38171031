"""Who a Slack user is here: the person their prompts, commits and pull requests belong to.

Two ways to link a Slack user (:class:`~openinspect_core.models.SlackUserLink`):

- **by email** (:func:`link_by_email`): Slack's ``users.info`` gives the profile's email and whether
  Slack confirmed it; only a confirmed one that is a person's email here links them. An unconfirmed
  email is anyone's claim, so it links nobody.
- **by a link code** (:func:`start_link`, :func:`complete_link`): the bot shows the Slack user a
  link to the settings page with a fresh code; whoever signs in there and confirms becomes that
  Slack user. Only the code's hash is stored (a database dump cannot be used to link), it works once
  and for :data:`LINK_CODE_TTL_SECONDS`. The code is a bearer secret: the bot shows it to that Slack
  user alone (an ephemeral message), never to the channel.

Nobody is ever created here: a Slack user who is nobody here yet must sign in on the web first.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from openinspect_protocol.logs import EventLog
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.models import SlackPending, SlackUserLink, User, utcnow
from openinspect_core.services.errors import Conflict, InvalidInput, NotFound
from openinspect_core.slack import threads

log = EventLog(__name__)

LINK_CODE_TTL_SECONDS = 30 * 60  # Why: long enough to sign in (maybe through GitHub), short for a leaked code
LINK_CODE_BYTES = 32
MAX_SLACK_NAME_CHARS = 200  # the column
EMAIL, LINK = "email", "link"


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


async def linked_user(db: AsyncSession, slack_user_id: str) -> User | None:
    """The person this Slack user is linked to, if any."""
    link = await db.get(SlackUserLink, slack_user_id)
    return None if link is None else await db.get(User, link.user_id)


async def link_by_email(db: AsyncSession, *, slack_user_id: str, team_id: str, email: str | None,
                        email_confirmed: bool, slack_name: str | None) -> User | None:
    """Link the Slack user to the person with this email, if Slack confirmed it and there is one."""
    email = (email or "").strip().lower()
    if not email_confirmed or not email or "@" not in email:
        return None
    user = (await db.exec(select(User).where(func.lower(col(User.email)) == email))).first()
    if user is None:
        return None
    await _save_link(db, slack_user_id=slack_user_id, team_id=team_id, user=user, method=EMAIL,
                     slack_name=slack_name)
    return await linked_user(db, slack_user_id)  # a concurrent link may have won: that one holds


async def start_link(db: AsyncSession, pending: SlackPending) -> str:
    """A fresh link code for the Slack user of ``pending`` (a link request); only its hash is kept."""
    if pending.reason != threads.LINK_ACCOUNT:
        raise InvalidInput("only a link request has a link code", code="slack_invalid_pending")
    code = secrets.token_urlsafe(LINK_CODE_BYTES)
    pending.link_code_hash = code_hash(code)
    pending.expires_at = utcnow() + timedelta(seconds=LINK_CODE_TTL_SECONDS)
    db.add(pending)
    await db.flush()
    return code


async def link_request(db: AsyncSession, code: str) -> SlackPending:
    """The link request a code is for (to show "link Slack user X to you?"), or why it cannot be used."""
    row = (await db.exec(select(SlackPending).where(SlackPending.link_code_hash == code_hash(code)))).first() \
        if code else None
    if row is None or row.reason != threads.LINK_ACCOUNT:
        raise NotFound("this Slack link is not valid (it may have been used already)", code="slack_link_invalid")
    if row.resolved_at is not None or row.expires_at <= utcnow():
        raise Conflict("this Slack link has expired: mention the bot again for a new one", code="slack_link_expired")
    return row


async def complete_link(db: AsyncSession, code: str, user: User) -> SlackPending:
    """Link the Slack user of the request ``code`` is for to ``user``; the code is used up.

    The request itself stays open: the bot goes on with it (``threads.resolve_pending`` once).
    """
    row = await link_request(db, code)
    taken = await db.exec(sa.update(SlackPending)
                          .where(col(SlackPending.id) == row.id, col(SlackPending.link_code_hash) == code_hash(code))
                          .values(link_code_hash=None).execution_options(synchronize_session=False))
    if taken.rowcount != 1:  # the same code, confirmed twice at once
        raise NotFound("this Slack link is not valid (it may have been used already)", code="slack_link_invalid")
    existing = await db.get(SlackUserLink, row.slack_user_id)
    if existing is not None and existing.user_id != user.id:
        raise Conflict("this Slack user is linked to someone else; they (or an administrator) must unlink it first",
                       code="slack_already_linked")
    if existing is None:
        await _save_link(db, slack_user_id=row.slack_user_id, team_id=row.team_id, user=user, method=LINK,
                         slack_name=None)
    await db.refresh(row)
    return row


async def unlink(db: AsyncSession, slack_user_id: str, by: User) -> bool:
    """Forget the Slack user's link; False when there was none."""
    link = await db.get(SlackUserLink, slack_user_id)
    if link is None:
        return False
    await db.delete(link)
    await db.flush()
    log.info("slack.unlinked", slack_user_id=slack_user_id, user_id=link.user_id, by=by.id)
    return True


@dataclass(frozen=True)
class LinkedPerson:
    link: SlackUserLink
    user: User


async def list_links(db: AsyncSession) -> list[LinkedPerson]:
    """Every linked Slack user with their person, by the person's name."""
    rows = await db.exec(select(SlackUserLink, User).join(User, col(User.id) == SlackUserLink.user_id)
                         .order_by(col(User.name), col(SlackUserLink.slack_user_id)))
    return [LinkedPerson(link, user) for link, user in rows.all()]


async def _save_link(db: AsyncSession, *, slack_user_id: str, team_id: str, user: User, method: str,
                     slack_name: str | None) -> None:
    name = (slack_name or "").strip()[:MAX_SLACK_NAME_CHARS] or None
    try:
        async with db.begin_nested():
            db.add(SlackUserLink(slack_user_id=slack_user_id, team_id=team_id, user_id=user.id, method=method,
                                 slack_name=name, linked_at=utcnow()))
    except IntegrityError:  # linked concurrently: the first link holds
        return
    log.info("slack.linked", slack_user_id=slack_user_id, user_id=user.id, method=method)
