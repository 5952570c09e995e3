"""Dossier facts in PostgreSQL, merged with the same minima as ``ioc.kpis.gauges``, and
gauges computed from them at any instant."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from psycopg import AsyncConnection

from ioc.kpis.gauges import DossierFacts
from ioc.storage.staging import Stage, copy_rows

STAGE = Stage("stage_dossier", (("dossier_id", "text"), ("received_at", "timestamptz"),
                                ("area", "text"), ("due_at", "timestamptz"),
                                ("closed_at", "timestamptz")))

# The incoming receipt wins when it is the smaller (time, area, due date), as in
# DossierFacts.merge. Every SET expression sees the old row, so the three agree.
_EARLIER = ("(EXCLUDED.received_at IS NOT NULL AND (t.received_at IS NULL OR"
            " (EXCLUDED.received_at, EXCLUDED.area, EXCLUDED.due_at)"
            " < (t.received_at, t.area, t.due_at)))")


async def merge_facts(conn: AsyncConnection, facts: Mapping[str, DossierFacts]) -> None:
    """Merge a batch's facts (inside the batch transaction), order-independently."""
    if not facts:
        return
    await copy_rows(conn, STAGE, (
        (dossier_id, f.receipt.at if f.receipt else None, f.receipt.area if f.receipt else None,
         f.receipt.due_at if f.receipt else None, f.closed_at)
        for dossier_id, f in facts.items()))
    await conn.execute(
        "INSERT INTO dossier_state AS t (dossier_id, received_at, area, due_at, closed_at)"
        " SELECT dossier_id, received_at, area, due_at, closed_at FROM stage_dossier"
        " ORDER BY dossier_id"
        " ON CONFLICT (dossier_id) DO UPDATE SET"
        f" received_at = CASE WHEN {_EARLIER} THEN EXCLUDED.received_at ELSE t.received_at END,"
        f" area = CASE WHEN {_EARLIER} THEN EXCLUDED.area ELSE t.area END,"
        f" due_at = CASE WHEN {_EARLIER} THEN EXCLUDED.due_at ELSE t.due_at END,"
        " closed_at = LEAST(t.closed_at, EXCLUDED.closed_at)")


async def gauge_samples(conn: AsyncConnection, instants: list[datetime], area: str | None,
                        ) -> dict[datetime, tuple[int, int]]:
    """(open, overdue) at each instant, for one area or (None) the province."""
    if not instants:
        return {}
    cur = await conn.execute(
        "SELECT s.t, count(d.dossier_id), count(d.dossier_id) FILTER (WHERE d.due_at < s.t)"
        " FROM unnest(%s::timestamptz[]) AS s(t)"
        " LEFT JOIN dossier_state d ON d.received_at <= s.t"
        "  AND (d.closed_at IS NULL OR d.closed_at > s.t)"
        "  AND (%s::text IS NULL OR d.area = %s::text)"
        " GROUP BY s.t",
        (instants, area, area),
    )
    return {row[0]: (row[1], row[2]) for row in await cur.fetchall()}


async def gauges_now(conn: AsyncConnection, t: datetime) -> dict[tuple[str, str], int]:
    """Every province and area gauge at instant ``t`` (absent means 0)."""
    cur = await conn.execute(
        "SELECT area, count(*), count(*) FILTER (WHERE due_at < %s) FROM dossier_state"
        " WHERE received_at <= %s AND (closed_at IS NULL OR closed_at > %s)"
        " GROUP BY ROLLUP (area)",
        (t, t, t),
    )
    out: dict[tuple[str, str], int] = {}
    for area, open_, overdue in await cur.fetchall():
        scope = area or ""
        out[("dossier.open", scope)] = open_
        out[("dossier.overdue_open", scope)] = overdue
    return out
