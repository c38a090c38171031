"""Who is asking: server-side sign-ins and personal API tokens.

Both are random 256-bit secrets handed to the person once (in a cookie, or shown
once on the settings page) and stored only as their SHA-256 hash, so a copy of
the database signs nobody in. Looking one up is an index lookup by that hash.
(Constant-time comparison is not needed there: an attacker timing the lookup
learns at best a prefix of a *hash*, which tells nothing about a token whose
256 random bits they would still have to guess.)

The read (``find_*``) and the bookkeeping write (``touch_*``, at most once a
minute per credential) are separate so a caller can look up in a read
transaction and write only when needed; ``user_for_*`` does both in one session.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.models import ApiToken, SignIn, User, utcnow
from openinspect_core.services import users
from openinspect_core.services.errors import InvalidInput, LimitReached, NotFound

API_TOKEN_PREFIX = "oi_"  # so a leaked token is recognisable (and greppable) as ours
SHOWN_PREFIX_CHARS = 10  # what a token list shows: "oi_" and 7 characters of the secret
TOUCH_INTERVAL = timedelta(minutes=1)  # last_seen_at / last_used_at are refreshed at most this often
MAX_TOKEN_NAME_CHARS = 100  # the column's length
MAX_API_TOKENS_PER_USER = 100
LOCAL = "local"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


# Sign-ins ------------------------------------------------------------------------------------------------

async def sign_in_local(db: AsyncSession, name: str, email: str, *, ttl_seconds: int) -> tuple[User, str]:
    """Local sign-in: the person with this email (made if new; never renamed) and the plaintext of a
    new sign-in that lasts ``ttl_seconds``. The caller decides whether local sign-in is allowed."""
    user = await users.get_or_create(db, name, email)
    token = new_secret()
    now = utcnow()
    db.add(SignIn(user_id=user.id, token_hash=token_hash(token), provider=LOCAL, created_at=now,
                  expires_at=now + timedelta(seconds=ttl_seconds), last_seen_at=now))
    await db.flush()
    return user, token


async def find_sign_in(db: AsyncSession, token: str) -> tuple[SignIn, User] | None:
    """The sign-in and its person, if ``token`` names one that is neither expired nor revoked."""
    row = (await db.exec(
        select(SignIn, User).join(User, col(User.id) == SignIn.user_id)
        .where(SignIn.token_hash == token_hash(token), col(SignIn.revoked_at).is_(None),
               col(SignIn.expires_at) > utcnow())
    )).first()
    return None if row is None else (row[0], row[1])


def needs_touch(sign_in_or_token: SignIn | ApiToken) -> bool:
    last = sign_in_or_token.last_seen_at if isinstance(sign_in_or_token, SignIn) else sign_in_or_token.last_used_at
    return last is None or utcnow() - last >= TOUCH_INTERVAL


async def touch_sign_in(db: AsyncSession, sign_in: SignIn) -> None:
    now = utcnow()
    await db.exec(sa.update(SignIn).where(col(SignIn.id) == sign_in.id, col(SignIn.last_seen_at) < now - TOUCH_INTERVAL)
                  .values(last_seen_at=now).execution_options(synchronize_session=False))


async def user_for_sign_in(db: AsyncSession, token: str) -> User | None:
    found = await find_sign_in(db, token)
    if found is None:
        return None
    if needs_touch(found[0]):
        await touch_sign_in(db, found[0])
    return found[1]


async def sign_out(db: AsyncSession, token: str) -> None:
    """End the sign-in ``token`` names (nothing happens if it names none)."""
    await db.exec(sa.update(SignIn).where(col(SignIn.token_hash) == token_hash(token), col(SignIn.revoked_at).is_(None))
                  .values(revoked_at=utcnow()).execution_options(synchronize_session=False))


# API tokens ----------------------------------------------------------------------------------------------

async def create_api_token(db: AsyncSession, user: User, name: str) -> tuple[ApiToken, str]:
    """A new token for ``user``: the row, and the plaintext (shown once; only its hash is kept)."""
    name = name.strip()
    if not name or len(name) > MAX_TOKEN_NAME_CHARS:
        raise InvalidInput(f"a token needs a name of 1..{MAX_TOKEN_NAME_CHARS} characters", code="invalid_token_name")
    active = (await db.exec(select(func.count()).select_from(ApiToken).where(
        ApiToken.user_id == user.id, col(ApiToken.revoked_at).is_(None)))).one()
    if active >= MAX_API_TOKENS_PER_USER:
        raise LimitReached(f"you have {active} API tokens (limit {MAX_API_TOKENS_PER_USER}); revoke one first",
                           code="too_many_tokens")
    plaintext = API_TOKEN_PREFIX + new_secret()
    token = ApiToken(user_id=user.id, name=name, token_hash=token_hash(plaintext),
                     prefix=plaintext[:SHOWN_PREFIX_CHARS])
    db.add(token)
    await db.flush()
    return token, plaintext


async def list_api_tokens(db: AsyncSession, user: User) -> list[ApiToken]:
    """The person's tokens that still work, oldest first."""
    rows = await db.exec(select(ApiToken).where(ApiToken.user_id == user.id, col(ApiToken.revoked_at).is_(None))
                         .order_by(col(ApiToken.created_at), col(ApiToken.id)))
    return list(rows.all())


async def revoke_api_token(db: AsyncSession, user: User, token_id: str) -> ApiToken:
    """Revoke one of the person's own tokens (another person's is "not found", like a missing one)."""
    token = (await db.exec(select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id))).first()
    if token is None:
        raise NotFound(f"you have no API token {token_id!r}", code="token_not_found")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.add(token)
    return token


async def find_api_token(db: AsyncSession, token: str) -> tuple[ApiToken, User] | None:
    if not token.startswith(API_TOKEN_PREFIX):
        return None  # not one of ours (a sandbox's bridge token, say): never looked up
    row = (await db.exec(
        select(ApiToken, User).join(User, col(User.id) == ApiToken.user_id)
        .where(ApiToken.token_hash == token_hash(token), col(ApiToken.revoked_at).is_(None))
    )).first()
    return None if row is None else (row[0], row[1])


async def touch_api_token(db: AsyncSession, token: ApiToken) -> None:
    now = utcnow()
    await db.exec(sa.update(ApiToken).where(col(ApiToken.id) == token.id, sa.or_(
        col(ApiToken.last_used_at).is_(None), col(ApiToken.last_used_at) < now - TOUCH_INTERVAL))
        .values(last_used_at=now).execution_options(synchronize_session=False))


async def user_for_api_token(db: AsyncSession, token: str) -> User | None:
    found = await find_api_token(db, token)
    if found is None:
        return None
    if needs_touch(found[0]):
        await touch_api_token(db, found[0])
    return found[1]


# By row id (a live preview's grant names the credential it was issued for, never the secret) ----------

async def user_for_sign_in_id(db: AsyncSession, sign_in_id: str) -> User | None:
    """The person of the sign-in ``sign_in_id``, if it is neither expired nor revoked."""
    row = (await db.exec(
        select(User).join(SignIn, col(SignIn.user_id) == User.id)
        .where(SignIn.id == sign_in_id, col(SignIn.revoked_at).is_(None), col(SignIn.expires_at) > utcnow())
    )).first()
    return row


async def user_for_api_token_id(db: AsyncSession, token_id: str) -> User | None:
    """The person of the API token ``token_id``, if it is not revoked."""
    return (await db.exec(
        select(User).join(ApiToken, col(ApiToken.user_id) == User.id)
        .where(ApiToken.id == token_id, col(ApiToken.revoked_at).is_(None))
    )).first()
