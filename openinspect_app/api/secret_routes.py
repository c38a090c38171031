"""REST endpoints for secrets, global (``/api/secrets``) and per repository (``/api/repos/{repo_id}/secrets``).

Values are write-only: they go in (``PUT`` one, ``POST .../import`` a pasted .env) and never
come out — answers carry names, scopes, who changed them and when. Any signed-in person or API
token may manage them (the deployment is already limited to its people); the work and its audit
are :mod:`openinspect_core.secrets.store`'s.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from openinspect_app.api.deps import Me, System
from openinspect_app.api.errors import COMMON_ERRORS, error_responses
from openinspect_app.api.schemas import ID_PATTERN, _In
from openinspect_core.secrets import names, store
from openinspect_core.secrets.store import GLOBAL, Scope

router = APIRouter(responses=error_responses(*COMMON_ERRORS))

# The name's own rules are checked by the service, so a wrong one is told what is wrong with it.
SecretName = Annotated[str, Path(min_length=1, max_length=names.MAX_NAME_CHARS,
                                 description="An environment variable name: `[A-Z_][A-Z0-9_]*`, not reserved.")]
RepoId = Annotated[str, Path(pattern=ID_PATTERN, description="The repository's id (a session's `repo.id`).")]
MAX_DOTENV_CHARS = 1_048_576
CHANGES = error_responses(404, 429)


class SecretValueIn(_In):
    # No length bounds here: the service's refusals (secret_too_short, secret_too_large) say which limit.
    value: str = Field(description=f"The value (write-only: no answer ever shows it); at least "
                                   f"{names.MIN_VALUE_CHARS} characters, at most {names.MAX_VALUE_BYTES // 1024} KiB.")


class DotenvIn(_In):
    dotenv: str = Field(min_length=1, max_length=MAX_DOTENV_CHARS,
                        description="A .env file's text: NAME=value lines (all are imported, or none).")


class PersonOut(BaseModel):
    id: str
    name: str


class SecretOut(BaseModel):
    name: str
    scope: Literal["global", "repository"]
    repo_id: str | None
    updated_by: PersonOut
    updated_at: datetime

    @classmethod
    def of(cls, info: store.SecretInfo) -> SecretOut:
        return cls(name=info.name, scope=info.scope, repo_id=info.repo_id,
                   updated_by=PersonOut(id=info.updated_by_id, name=info.updated_by_name),
                   updated_at=info.updated_at)


class SecretChangeOut(BaseModel):
    name: str
    scope: Literal["global", "repository"]
    repo_id: str | None
    action: Literal["set", "delete", "import"]
    by: PersonOut
    at: datetime

    @classmethod
    def of(cls, entry: store.AuditEntry) -> SecretChangeOut:
        return cls(name=entry.name, scope=entry.scope, repo_id=entry.repo_id, action=entry.action,
                   by=PersonOut(id=entry.user_id, name=entry.user_name), at=entry.at)


async def _list(system: System, scope: Scope) -> list[SecretOut]:
    async with system.context.db.session() as db:
        return [SecretOut.of(info) for info in await store.list_secrets(db, scope)]


async def _set(system: System, me: Me, scope: Scope, name: str, value: str) -> SecretOut:
    async with system.context.work() as work:
        return SecretOut.of(await store.set_secret(work.db, system.context.cipher, scope, name, value, me.user))


async def _import(system: System, me: Me, scope: Scope, text: str) -> list[SecretOut]:
    async with system.context.work() as work:
        found = await store.import_dotenv(work.db, system.context.cipher, scope, text, me.user)
    return [SecretOut.of(info) for info in found]


async def _delete(system: System, me: Me, scope: Scope, name: str) -> Response:
    async with system.context.work() as work:
        await store.delete_secret(work.db, scope, name, me.user)
    return Response(status_code=204)


# -- global ------------------------------------------------------------------------------------------------


@router.get("/secrets")
async def list_global_secrets(system: System, _: Me) -> list[SecretOut]:
    """The global secrets (every session's sandbox gets them): names, never values."""
    return await _list(system, GLOBAL)


@router.get("/secrets/audit", responses=error_responses(404))
async def secret_changes(system: System, _: Me, repo_id: str | None = Query(None, pattern=ID_PATTERN),
                         limit: int = Query(store.AUDIT_LIMIT, ge=1, le=500)) -> list[SecretChangeOut]:
    """Who set, imported or deleted which secret and when, newest first: of one repository
    (``repo_id``) or of every scope."""
    async with system.context.db.session() as db:
        found = await store.audit_log(db, None if repo_id is None else Scope(repo_id), limit)
    return [SecretChangeOut.of(entry) for entry in found]


@router.put("/secrets/{name}", responses=CHANGES)
async def set_global_secret(name: SecretName, body: SecretValueIn, system: System, me: Me) -> SecretOut:
    """Create or replace a global secret."""
    return await _set(system, me, GLOBAL, name, body.value)


@router.delete("/secrets/{name}", status_code=204, response_class=Response, responses=error_responses(404))
async def delete_global_secret(name: SecretName, system: System, me: Me) -> Response:
    return await _delete(system, me, GLOBAL, name)


@router.post("/secrets/import", responses=CHANGES)
async def import_global_secrets(body: DotenvIn, system: System, me: Me) -> list[SecretOut]:
    """Create or replace every secret of a pasted .env (all of them, or none: the error names the line)."""
    return await _import(system, me, GLOBAL, body.dotenv)


# -- one repository ----------------------------------------------------------------------------------------


@router.get("/repos/{repo_id}/secrets", responses=error_responses(404))
async def list_repo_secrets(repo_id: RepoId, system: System, _: Me) -> list[SecretOut]:
    """The repository's secrets (they override global ones of the same name): names, never values."""
    return await _list(system, Scope(repo_id))


@router.put("/repos/{repo_id}/secrets/{name}", responses=CHANGES)
async def set_repo_secret(repo_id: RepoId, name: SecretName, body: SecretValueIn, system: System,
                          me: Me) -> SecretOut:
    return await _set(system, me, Scope(repo_id), name, body.value)


@router.delete("/repos/{repo_id}/secrets/{name}", status_code=204, response_class=Response,
               responses=error_responses(404))
async def delete_repo_secret(repo_id: RepoId, name: SecretName, system: System, me: Me) -> Response:
    return await _delete(system, me, Scope(repo_id), name)


@router.post("/repos/{repo_id}/secrets/import", responses=CHANGES)
async def import_repo_secrets(repo_id: RepoId, body: DotenvIn, system: System, me: Me) -> list[SecretOut]:
    return await _import(system, me, Scope(repo_id), body.dotenv)
