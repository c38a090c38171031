"""People: found or created by email, the identity their commits carry.

A person's email belongs to them: finding someone by email never changes them
(a name given for an email that is already known is ignored), so no request can
rename another person or put words in their name.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.models import User
from openinspect_core.services.errors import InvalidInput

MAX_NAME_CHARS = 200  # the columns' lengths
MAX_EMAIL_CHARS = 320


def normalise(name: str, email: str) -> tuple[str, str]:
    """The name and email as stored, or InvalidInput saying what is wrong."""
    name, email = name.strip(), email.strip().lower()
    local, _, domain = email.partition("@")
    if not name or not local or not domain or any(c.isspace() for c in email):
        raise InvalidInput("a person needs a name and an email address", code="invalid_author")
    if len(name) > MAX_NAME_CHARS or len(email) > MAX_EMAIL_CHARS:
        raise InvalidInput(f"a name has at most {MAX_NAME_CHARS} characters and an email at most "
                           f"{MAX_EMAIL_CHARS}", code="invalid_author")
    return name, email


async def by_email(db: AsyncSession, email: str) -> User | None:
    return (await db.exec(select(User).where(User.email == email.strip().lower()))).first()


async def get_or_create(db: AsyncSession, name: str, email: str) -> User:
    """The person with this email; created with ``name`` if there is none. An existing person is
    returned as they are: their name is theirs to change, not the caller's."""
    name, email = normalise(name, email)
    user = await by_email(db, email)
    if user is not None:
        return user
    user = User(name=name, email=email)
    try:
        async with db.begin_nested():
            db.add(user)
    except IntegrityError:  # created concurrently by another request
        user = (await db.exec(select(User).where(User.email == email))).one()
    return user
