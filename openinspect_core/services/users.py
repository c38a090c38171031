"""People: found or created by email, the identity their commits carry."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.models import User
from openinspect_core.services.errors import InvalidInput


async def get_or_create(db: AsyncSession, name: str, email: str) -> User:
    name, email = name.strip(), email.strip().lower()
    if not name or "@" not in email:
        raise InvalidInput("an author needs a name and an email address", code="invalid_author")
    user = (await db.exec(select(User).where(User.email == email))).first()
    if user is not None:
        if user.name != name:
            user.name = name
            db.add(user)
        return user
    user = User(name=name, email=email)
    try:
        async with db.begin_nested():
            db.add(user)
    except IntegrityError:  # created concurrently by another request
        user = (await db.exec(select(User).where(User.email == email))).one()
    return user
