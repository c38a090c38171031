"""The guarded status change every row owner uses: one UPDATE that only a row in an allowed status takes.

``UPDATE ... SET status = after WHERE id = ? AND status IN (allowed)``: of two
writers racing on the same row exactly one wins, and the loser learns it from
the ``False`` it gets back instead of overwriting. The loaded object is kept in
step without being marked dirty (no second UPDATE at flush).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession


async def move(db: AsyncSession, row: Any, allowed_from: Iterable[StrEnum], after: StrEnum,
               **values: object) -> bool:
    """Set ``row.status = after`` (and ``values``) if its stored status is one of ``allowed_from``."""
    table: type[SQLModel] = type(row)
    result = await db.exec(
        sa.update(table)
        .where(col(table.id) == row.id, col(table.status).in_(tuple(allowed_from)))  # type: ignore[attr-defined]
        .values(status=after, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    set_committed_value(row, "status", after)
    for key, value in values.items():
        set_committed_value(row, key, value)
    return True
