"""The audit log: who did what to which alert, rule or key (``audit_log``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from ioc.tokens import Principal


async def audit(conn: AsyncConnection, who: Principal, action: str, obj: str,
                details: Mapping[str, Any]) -> None:
    await conn.execute("INSERT INTO audit_log (actor, role, action, object, details)"
                       " VALUES (%s, %s, %s, %s, %s)",
                       (who.name, who.role.value, action, obj, Jsonb(dict(details))))


async def audit_entries(conn: AsyncConnection, before_id: int | None, limit: int) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT id, at, actor, role, action, object, details FROM audit_log"
                          " WHERE %s::bigint IS NULL OR id < %s ORDER BY id DESC LIMIT %s",
                          (before_id, before_id, limit))
        return [{**r, "at": r["at"].isoformat()} for r in await cur.fetchall()]
