"""Every row of every table: what "nothing changed" is checked against (an UPDATE changes no count)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel

from openinspect_core.db import Database


async def every_row(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    rows = {}
    async with database.session() as db:
        for table in SQLModel.metadata.sorted_tables:
            result = await db.exec(sa.select(table))  # type: ignore[call-overload]
            rows[table.name] = sorted(map(tuple, result.all()), key=repr)
    return rows
