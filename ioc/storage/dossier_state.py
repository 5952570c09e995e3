"""Dossier and feedback facts in PostgreSQL, merged with the same minima as
``ioc.kpis.gauges``; gauges computed from them at any instant, and the items behind them.

Two tables of one shape: ``dossier_state`` (keyed by dossier_id, with the service) and
``feedback_state`` (keyed by feedback_id)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from psycopg import AsyncConnection, sql

from ioc.kpis.gauges import DUE_SOON, DossierFacts
from ioc.storage.staging import Stage, copy_rows

Kind = Literal["dossier", "feedback"]
State = Literal["open", "overdue", "due_soon"]


@dataclass(frozen=True, slots=True)
class _Table:
    name: str
    key: str
    stage: Stage
    service: bool
    """Whether rows carry a service_code (dossiers do)."""


def _stage(name: str, key: str, service: bool) -> Stage:
    columns = [(key, "text"), ("received_at", "timestamptz"), ("area", "text"),
               ("due_at", "timestamptz"), ("agency_code", "text")]
    if service:
        columns.append(("service_code", "text"))
    return Stage(name, (*columns, ("closed_at", "timestamptz")))


TABLES: dict[Kind, _Table] = {
    "dossier": _Table("dossier_state", "dossier_id", _stage("stage_dossier2", "dossier_id", True),
                      True),
    "feedback": _Table("feedback_state", "feedback_id",
                       _stage("stage_feedback", "feedback_id", False), False),
}


def _row(item: str, f: DossierFacts, service: bool) -> tuple[Any, ...]:
    r = f.receipt
    values: tuple[Any, ...] = (item, r.at if r else None, r.area if r else None,
                               r.due_at if r else None, r.agency if r else None)
    if service:
        values += (r.service if r else None,)
    return (*values, f.closed_at)


async def merge_facts(conn: AsyncConnection, facts: Mapping[str, DossierFacts],
                      kind: Kind = "dossier") -> None:
    """Merge a batch's facts (inside the batch transaction), order-independently.

    The incoming receipt wins when it is the smaller (time, area, due date, agency,
    service), as in ``DossierFacts.merge``; every SET expression sees the old row, so they
    agree. A row merged before agencies were kept (null agency) is ordered as "" would be."""
    if not facts:
        return
    table = TABLES[kind]
    await copy_rows(conn, table.stage, (_row(item, f, table.service) for item, f in facts.items()))
    receipt = ["received_at", "area", "due_at", "agency_code"] + (
        ["service_code"] if table.service else [])

    def tup(alias: str) -> sql.Composable:
        # Text compares in code-point order (COLLATE "C"), as Python's min() does, whatever
        # the database's own collation.
        return sql.SQL("({})").format(sql.SQL(", ").join(
            sql.SQL("coalesce({}.{}, '') COLLATE \"C\"").format(sql.Identifier(alias), sql.Identifier(c))
            if c in ("agency_code", "service_code")
            else sql.SQL("{}.{} COLLATE \"C\"").format(sql.Identifier(alias), sql.Identifier(c))
            if c == "area"
            else sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(c))
            for c in receipt))

    earlier = sql.SQL("(EXCLUDED.received_at IS NOT NULL AND (t.received_at IS NULL OR {} < {}))"
                      ).format(tup("excluded"), tup("t"))
    columns = [table.key, *receipt, "closed_at"]
    await conn.execute(sql.SQL(
        "INSERT INTO {table} AS t ({cols}) SELECT {cols} FROM {stage} ORDER BY {key}"
        " ON CONFLICT ({key}) DO UPDATE SET {sets}, closed_at = LEAST(t.closed_at, EXCLUDED.closed_at)"
    ).format(
        table=sql.Identifier(table.name), stage=sql.Identifier(table.stage.name),
        key=sql.Identifier(table.key),
        cols=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        sets=sql.SQL(", ").join(
            sql.SQL("{c} = CASE WHEN {earlier} THEN EXCLUDED.{c} ELSE t.{c} END").format(
                c=sql.Identifier(c), earlier=earlier)
            for c in receipt)))


async def gauge_samples(conn: AsyncConnection, instants: list[datetime], area: str | None,
                        kind: Kind = "dossier") -> dict[datetime, tuple[int, int, int]]:
    """(open, overdue, due within 24 h) at each instant, for one area or (None) the
    province."""
    if not instants:
        return {}
    cur = await conn.execute(sql.SQL(
        "SELECT s.t, count(d.received_at), count(d.received_at) FILTER (WHERE d.due_at < s.t),"
        " count(d.received_at) FILTER (WHERE d.due_at > s.t AND d.due_at <= s.t + %s)"
        " FROM unnest(%s::timestamptz[]) AS s(t)"
        " LEFT JOIN {} d ON d.received_at <= s.t"
        "  AND (d.closed_at IS NULL OR d.closed_at > s.t)"
        "  AND (%s::text IS NULL OR d.area = %s::text)"
        " GROUP BY s.t").format(sql.Identifier(TABLES[kind].name)),
        (DUE_SOON, instants, area, area),
    )
    return {row[0]: (row[1], row[2], row[3]) for row in await cur.fetchall()}


async def gauges_now(conn: AsyncConnection, t: datetime) -> dict[tuple[str, str], int]:
    """Every province and area dossier and feedback gauge at instant ``t`` (absent means 0)."""
    out: dict[tuple[str, str], int] = {}
    for kind in TABLES:
        cur = await conn.execute(sql.SQL(
            "SELECT area, count(*), count(*) FILTER (WHERE due_at < %s),"
            " count(*) FILTER (WHERE due_at > %s AND due_at <= %s)"
            " FROM {} WHERE received_at <= %s AND (closed_at IS NULL OR closed_at > %s)"
            " GROUP BY ROLLUP (area)").format(sql.Identifier(TABLES[kind].name)),
            (t, t, t + DUE_SOON, t, t),
        )
        for area, open_, overdue, soon in await cur.fetchall():
            scope = area or ""
            out[(f"{kind}.open", scope)] = open_
            out[(f"{kind}.overdue_open", scope)] = overdue
            if kind == "dossier":
                out[("dossier.due_soon", scope)] = soon
    return out


@dataclass(frozen=True, slots=True)
class Item:
    """One dossier or feedback item behind a gauge."""

    item_id: str
    service_code: str | None
    agency_code: str | None
    area: str
    received_at: datetime
    due_at: datetime


async def items_at(conn: AsyncConnection, kind: Kind, state: State, t: datetime, *,
                   area: str | None = None, agency_code: str | None = None,
                   limit: int = 100, offset: int = 0) -> tuple[int, list[Item]]:
    """(total, one page) of the items open, overdue or due soon at instant ``t``, most
    overdue (earliest due date, then id in code-point order) first."""
    table = TABLES[kind]
    due = {"open": sql.SQL("TRUE"), "overdue": sql.SQL("due_at < %(t)s"),
           "due_soon": sql.SQL("due_at > %(t)s AND due_at <= %(t)s + %(soon)s")}[state]
    where = sql.SQL(
        "received_at <= %(t)s AND (closed_at IS NULL OR closed_at > %(t)s) AND {due}"
        " AND (%(area)s::text IS NULL OR area = %(area)s::text)"
        " AND (%(agency)s::text IS NULL OR agency_code = %(agency)s::text)").format(due=due)
    params = {"t": t, "soon": DUE_SOON, "area": area, "agency": agency_code,
              "limit": limit, "offset": offset}
    cur = await conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE {}").format(
        sql.Identifier(table.name), where), params)
    row = await cur.fetchone()
    total = int(row[0]) if row else 0
    service = sql.SQL("service_code") if table.service else sql.SQL("NULL::text")
    cur = await conn.execute(sql.SQL(
        "SELECT {key}, {service}, agency_code, area, received_at, due_at FROM {table}"
        " WHERE {where} ORDER BY due_at, {key} COLLATE \"C\" LIMIT %(limit)s OFFSET %(offset)s").format(
            key=sql.Identifier(table.key), service=service, table=sql.Identifier(table.name),
            where=where), params)
    return total, [Item(*r) for r in await cur.fetchall()]
