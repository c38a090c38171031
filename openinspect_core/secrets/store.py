"""Secrets at rest: set, import, list (names only), delete, audit; and the values a session's sandbox gets.

A scope is the whole system (``global``) or one repository; a session gets the global secrets
with its repository's on top (the repository's value wins for a name both have). Each value is
encrypted with the current key, bound to ``secret:<scope key>:<name>`` (:func:`associated_data`),
so a ciphertext copied to another row, name or scope does not decrypt. Every change leaves an
audit row (who, what, where, when) and a log line; neither ever holds a value.

Whoever handles a value in this process adds it to the process's redactor (``redaction``), so
no log line of it can carry it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, cast

from openinspect_protocol.logs import EventLog
from openinspect_protocol.redaction import process_redactor
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.context import AppContext
from openinspect_core.crypto import Cipher, DecryptionError
from openinspect_core.models import Repo, Secret, SecretAudit, User, utcnow
from openinspect_core.models import Session as SessionRow
from openinspect_core.secrets import dotenv, names
from openinspect_core.services.errors import NotFound, ServiceError

log = EventLog(__name__)

GLOBAL_KEY = "global"
ScopeKind = Literal["global", "repository"]
Action = Literal["set", "delete", "import"]
AUDIT_LIMIT = 50


class SecretUnreadable(ServiceError):
    """A stored value does not decrypt with this system's keys (changed without keeping the old one)."""

    status_code = 500
    code = "secret_unreadable"


@dataclass(frozen=True)
class Scope:
    """Where a secret lives: every session (``repo_id`` None) or the sessions of one repository."""

    repo_id: str | None = None

    @property
    def key(self) -> str:
        return GLOBAL_KEY if self.repo_id is None else f"repo:{self.repo_id}"

    @property
    def kind(self) -> ScopeKind:
        return "global" if self.repo_id is None else "repository"


GLOBAL = Scope()


@dataclass(frozen=True)
class SecretInfo:
    """What anyone may see of a secret: never its value."""

    name: str
    scope: ScopeKind
    repo_id: str | None
    updated_by_id: str
    updated_by_name: str
    updated_at: datetime


@dataclass(frozen=True)
class AuditEntry:
    name: str
    scope: ScopeKind
    repo_id: str | None
    action: Action
    user_id: str
    user_name: str
    at: datetime


def associated_data(scope: Scope, name: str) -> str:
    return f"secret:{scope.key}:{name}"


def row_associated_data(row: Secret) -> str:
    return f"secret:{row.scope_key}:{row.name}"


async def check_scope(db: AsyncSession, scope: Scope) -> None:
    """A repository scope must name a repository this system knows (404 otherwise)."""
    if scope.repo_id is not None and await db.get(Repo, scope.repo_id) is None:
        raise NotFound(f"no repository {scope.repo_id[:64]!r}", code="no_such_repo")


async def repositories(db: AsyncSession, limit: int = 500) -> list[tuple[str, str]]:
    """The repositories a secret may be scoped to: (id, owner/name or name), by name."""
    rows = (await db.exec(select(Repo).order_by(col(Repo.full_name), col(Repo.name)).limit(limit))).all()
    return [(repo.id, repo.full_name or repo.name) for repo in rows]


async def list_secrets(db: AsyncSession, scope: Scope) -> list[SecretInfo]:
    """The scope's secrets by name, with who changed each last and when."""
    await check_scope(db, scope)
    rows = (await db.exec(select(Secret, User).join(User, col(User.id) == col(Secret.updated_by))
                          .where(Secret.scope_key == scope.key).order_by(col(Secret.name)))).all()
    return [_info(secret, user) for secret, user in rows]


async def set_secret(db: AsyncSession, cipher: Cipher, scope: Scope, name: str, value: str, actor: User) -> SecretInfo:
    """Create or replace one secret (audited ``set``)."""
    names.check_name(name)
    names.check_value(name, value)
    await check_scope(db, scope)
    (info,) = await _write(db, cipher, scope, {name: value}, actor, "set")
    return info


async def import_dotenv(db: AsyncSession, cipher: Cipher, scope: Scope, text: str, actor: User) -> list[SecretInfo]:
    """Create or replace every secret of a pasted ``.env`` (audited ``import``, one row per name);
    all or nothing: one bad line and none is written."""
    values = dotenv.parse(text)
    if not values:
        raise dotenv.DotenvError("the .env text holds no NAME=value line")
    await check_scope(db, scope)
    return await _write(db, cipher, scope, values, actor, "import")


async def delete_secret(db: AsyncSession, scope: Scope, name: str, actor: User) -> None:
    """Delete one secret (audited ``delete``); 404 when the scope has none of that name."""
    names.check_name(name)
    await check_scope(db, scope)
    row = (await db.exec(select(Secret).where(Secret.scope_key == scope.key, Secret.name == name))).first()
    if row is None:
        raise NotFound(f"no secret {name} in this scope", code="no_such_secret")
    await db.delete(row)
    db.add(SecretAudit(scope_key=scope.key, repo_id=scope.repo_id, name=name, action="delete", user_id=actor.id))
    await db.flush()
    log.info("secrets.deleted", scope=scope.key, name=name, user_id=actor.id)


async def audit_log(db: AsyncSession, scope: Scope | None = None, limit: int = AUDIT_LIMIT) -> list[AuditEntry]:
    """The latest changes, newest first: of one scope, or of every scope (``None``)."""
    query = select(SecretAudit, User).join(User, col(User.id) == col(SecretAudit.user_id))
    if scope is not None:
        await check_scope(db, scope)
        query = query.where(SecretAudit.scope_key == scope.key)
    rows = (await db.exec(query.order_by(col(SecretAudit.created_at).desc(), col(SecretAudit.id).desc())
                          .limit(limit))).all()
    return [AuditEntry(name=entry.name, scope=Scope(entry.repo_id).kind, repo_id=entry.repo_id,
                       action=cast(Action, entry.action), user_id=user.id, user_name=user.name,
                       at=entry.created_at) for entry, user in rows]


async def secrets_for_session(context: AppContext, session_id: str) -> dict[str, str]:
    """The environment a sandbox of the session gets: global secrets, its repository's on top.

    Read at each sandbox start, so a changed secret reaches the session's next sandbox. Every
    value is added to this process's redactor first. A value that does not decrypt stops the
    start with an error naming it (a sandbox silently missing a credential is worse)."""
    async with context.db.session() as db:
        session = await db.get(SessionRow, session_id)
        if session is None:
            raise NotFound(f"no session {session_id[:64]!r}", code="no_such_session")
        scopes = (GLOBAL.key, Scope(session.repo_id).key)
        rows = (await db.exec(select(Secret).where(col(Secret.scope_key).in_(scopes)))).all()
    values: dict[str, str] = {}
    redactor = process_redactor()
    # Global first, so the repository's value of a name replaces it.
    for row in sorted(rows, key=lambda r: (r.scope_key != GLOBAL_KEY, r.name)):
        try:
            values[row.name] = context.cipher.decrypt(row.value, row_associated_data(row))
        except DecryptionError as error:
            raise SecretUnreadable(
                f"the secret {row.name} ({row.scope_key}) does not decrypt: {error}. Was the encryption key "
                "changed without keeping the old one in OPENINSPECT_ENCRYPTION_PREVIOUS_KEYS? Set it again "
                "on the settings page to replace it") from None
        redactor.add(row.name, values[row.name])
    return values


async def _write(db: AsyncSession, cipher: Cipher, scope: Scope, values: dict[str, str], actor: User,
                 action: Action) -> list[SecretInfo]:
    existing = {row.name: row for row in (await db.exec(select(Secret).where(Secret.scope_key == scope.key))).all()}
    names.check_count(len(existing.keys() | values.keys()))
    now = utcnow()
    redactor = process_redactor()
    written: list[Secret] = []
    for name, value in values.items():
        redactor.add(name, value)  # from now on no log line of this process can show it
        row = existing.get(name) or Secret(scope_key=scope.key, repo_id=scope.repo_id, name=name, created_at=now,
                                           value="", key_id="", updated_by=actor.id)
        row.value = cipher.encrypt(value, associated_data(scope, name))
        row.key_id, row.updated_by, row.updated_at = cipher.key_id, actor.id, now
        db.add(row)
        db.add(SecretAudit(scope_key=scope.key, repo_id=scope.repo_id, name=name, action=action, user_id=actor.id,
                           created_at=now))
        written.append(row)
    await db.flush()
    log.info(f"secrets.{action}", scope=scope.key, names=sorted(values), user_id=actor.id)
    return [_info(row, actor) for row in written]


def _info(secret: Secret, user: User) -> SecretInfo:
    return SecretInfo(name=secret.name, scope=Scope(secret.repo_id).kind, repo_id=secret.repo_id,
                      updated_by_id=user.id, updated_by_name=user.name, updated_at=secret.updated_at)


async def count_by_key_id(db: AsyncSession) -> dict[str, int]:
    """How many secrets each encryption key made (the rotation's report)."""
    rows = (await db.exec(select(Secret.key_id, func.count()).group_by(col(Secret.key_id)))).all()
    return {key_id: count for key_id, count in rows}

