"""A session's title: the agent proposes, people decide.

The agent's ``session_title`` event sets the title while no person has given one
(``backend_jobs/ingestion.py`` checks ``Session.title_from_user``); a title a person gives —
at creation, or later here — is kept: a later title from the agent does not replace it.
Every rename is a ``session_renamed`` timeline event, which is how viewers learn of it live.
"""

from __future__ import annotations

from openinspect_protocol.timeline import PromptAuthor, SessionRenamed
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.models import Session, User
from openinspect_core.services import sessions, timeline
from openinspect_core.services.errors import InvalidInput

MAX_TITLE_CHARS = sessions.MAX_TITLE_CHARS


def checked(title: str) -> str:
    """The title to store: stripped, one line, 1..MAX_TITLE_CHARS characters; InvalidInput otherwise."""
    title = " ".join((title or "").split())  # newlines and runs of spaces: a title is one line
    if not title:
        raise InvalidInput("the title is empty", code="empty_title")
    if len(title) > MAX_TITLE_CHARS:
        raise InvalidInput(f"the title is longer than {MAX_TITLE_CHARS} characters", code="title_too_long")
    if "\x00" in title:
        raise InvalidInput("the title must not contain NUL characters", code="invalid_title")
    return title


async def rename(db: AsyncSession, session_id: str, title: str, *, by: User) -> Session:
    """Give the session a person's title (kept from now on); nothing is recorded when it is unchanged."""
    title = checked(title)
    session = await sessions.get(db, session_id)
    if session.title == title and session.title_from_user:
        return session
    session.title = title
    session.title_from_user = True
    db.add(session)
    await timeline.append(db, session.id, SessionRenamed(title=title, by=PromptAuthor(id=by.id, name=by.name,
                                                                                      email=by.email)))
    return session
