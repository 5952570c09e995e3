"""Binary COPY into per-connection staging tables, for batched upserts.

psycopg dumps a row of a binary COPY in C, about three times cheaper in the worker's CPU than
the same values sent as arrays for ``unnest``. Staging tables are temporary, emptied at
every commit, and created on first use in each session.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection, sql


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, type)

    @property
    def types(self) -> list[str]:
        return [t for _, t in self.columns]


async def copy_rows(conn: AsyncConnection, stage: Stage, rows: Iterable[Sequence[Any]]) -> None:
    """Empty-on-commit staging table ``stage`` filled with ``rows`` (inside a transaction)."""
    await conn.execute(sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} ({}) ON COMMIT DELETE ROWS")
                       .format(sql.Identifier(stage.name), sql.SQL(", ").join(
                           sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t))
                           for c, t in stage.columns)))
    async with conn.cursor() as cur, cur.copy(sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)")
                        .format(sql.Identifier(stage.name))) as copy:
        copy.set_types(stage.types)
        for row in rows:
            await copy.write_row(row)
