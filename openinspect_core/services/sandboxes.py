"""Sandbox rows: the one place their status changes, each change a guarded transition.

A sandbox moves ``spawning -> connected -> ready -> stopping -> stopped | failed``
(any live status may end at once; nothing leaves an ended one). Every change is
one ``UPDATE ... WHERE status IN (allowed predecessors)``, so two writers racing
(an exit report and a staleness timer, say) have exactly one winner, and the
loser learns it from the ``False`` it gets back. Callers commit.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.models import LIVE_SANDBOX_STATUSES, Sandbox, SandboxStatus, utcnow
from openinspect_core.services import transitions

S = SandboxStatus
ALLOWED_FROM: dict[SandboxStatus, tuple[SandboxStatus, ...]] = {
    S.SPAWNING: (),
    S.CONNECTED: (S.SPAWNING,),
    S.READY: (S.SPAWNING, S.CONNECTED),
    S.STOPPING: LIVE_SANDBOX_STATUSES,
    S.STOPPED: (*LIVE_SANDBOX_STATUSES, S.STOPPING),
    S.FAILED: (*LIVE_SANDBOX_STATUSES, S.STOPPING),
}
WATCHED_STATUSES: tuple[SandboxStatus, ...] = (*LIVE_SANDBOX_STATUSES, S.STOPPING)
"""Sandboxes that may still be running somewhere (a stopping one has not been seen to end yet)."""


def can_move(before: SandboxStatus, after: SandboxStatus) -> bool:
    return before in ALLOWED_FROM[after]


async def create(db: AsyncSession, *, session_id: str, backend: str, token_hash: str) -> Sandbox:
    sandbox = Sandbox(session_id=session_id, backend=backend, auth_token_hash=token_hash)
    db.add(sandbox)
    await db.flush()
    return sandbox


async def move(db: AsyncSession, sandbox: Sandbox, after: SandboxStatus, **values: object) -> bool:
    """Move ``sandbox`` to ``after`` if its stored status allows it; False when it did not (or it is gone)."""
    return await transitions.move(db, sandbox, ALLOWED_FROM[after], after, **values)


async def end(db: AsyncSession, sandbox: Sandbox, *, failed: bool, exit_code: int | None,
              failure_reason: str | None) -> bool:
    """stopped (asked for) or failed; the first reason given is kept."""
    values: dict[str, object] = {"exit_code": exit_code, "stopped_at": utcnow()}
    if failed and sandbox.failure_reason is None:
        values["failure_reason"] = failure_reason
    return await move(db, sandbox, S.FAILED if failed else S.STOPPED, **values)


async def by_token_hash(db: AsyncSession, token_hash: str) -> Sandbox | None:
    return (await db.exec(select(Sandbox).where(Sandbox.auth_token_hash == token_hash))).first()


async def newest_watched(db: AsyncSession, session_id: str) -> Sandbox | None:
    """The session's newest sandbox that may still run (live or stopping)."""
    return (await db.exec(
        select(Sandbox).where(Sandbox.session_id == session_id, col(Sandbox.status).in_(WATCHED_STATUSES))
        .order_by(col(Sandbox.created_at).desc()).limit(1))).first()


async def all_in(db: AsyncSession, statuses: tuple[SandboxStatus, ...]) -> list[Sandbox]:
    return list((await db.exec(select(Sandbox).where(col(Sandbox.status).in_(statuses)))).all())


async def is_current(db: AsyncSession, session_id: str, sandbox_id: str) -> bool:
    """Whether ``sandbox_id`` is the session's newest sandbox (an older one no longer moves the session)."""
    newest = (await db.exec(select(Sandbox.id).where(Sandbox.session_id == session_id)
                            .order_by(col(Sandbox.created_at).desc()).limit(1))).first()
    return newest == sandbox_id


async def claim_sequence(db: AsyncSession, sandbox_id: str, seq: int) -> tuple[bool, int]:
    """Take ``seq`` if it is the sandbox's next event; return (claimed, last stored sequence).

    Also its liveness: any stored frame counts as contact.
    """
    result = await db.exec(
        sa.update(Sandbox)
        .where(col(Sandbox.id) == sandbox_id, col(Sandbox.last_acked_seq) == seq - 1)
        .values(last_acked_seq=seq, last_heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:
        return True, seq
    last = (await db.exec(select(Sandbox.last_acked_seq).where(Sandbox.id == sandbox_id))).one()
    return False, last
