"""Turning stored cells into the shapes of docs/contract/api.md. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from ioc.changes import index_messages, local_iso
from ioc.kpis.catalogue import Kind, KpiDef, kpi_value
from ioc.storage.kpi_reads import CellRow


def point(kpi: KpiDef, row: CellRow, utc_offset: timedelta) -> dict[str, Any]:
    out: dict[str, Any] = {"start": local_iso(row.bucket, utc_offset),
                           "value": kpi_value(kpi.kind, row.num, row.den)}
    if kpi.kind is Kind.RATIO:
        out["numerator"] = row.num
        out["denominator"] = row.den
    return out


def day_value(kpi: KpiDef, row: CellRow | None) -> tuple[float | int | None, int, int]:
    num, den = (row.num, row.den) if row is not None else (0, 0)
    return kpi_value(kpi.kind, num, den), num, den


def snapshot_values(kpis: list[KpiDef], scopes: list[str], rows: list[CellRow],
                    day_start: datetime, utc_offset: timedelta) -> list[dict[str, Any]]:
    """Today's value of every (KPI, scope) asked for: zero or null where nothing happened yet."""
    by_key = {(r.kpi, r.area): r for r in rows}
    start = local_iso(day_start, utc_offset)  # once: a wall's snapshot has thousands of values
    values = []
    for kpi in kpis:
        for scope in scopes:
            row = by_key.get((kpi.id, scope))
            value, num, den = day_value(kpi, row)
            item: dict[str, Any] = {
                "type": "kpi", "kpi": kpi.id, "area": scope or None, "bucket": "1d",
                "start": start, "value": value,
                "version": row.version if row else 0,
            }
            if kpi.kind is Kind.RATIO:
                item["numerator"] = num
                item["denominator"] = den
            values.append(item)
    return values


def index_points(kpi: KpiDef, rows: list[CellRow], bucket: str, utc_offset: timedelta,
                 ) -> list[dict[str, Any]]:
    """The points of an index KPI (``index.value``, ``index.<group>``) from its scope's
    indicator cells, ordered by start; a bucket with no indicator cell has no point."""
    found = [m for m in index_messages(rows, bucket, utc_offset, {}) if m["kpi"] == kpi.id]
    return [{"start": m["start"], "value": m["value"]}
            for m in sorted(found, key=lambda m: datetime.fromisoformat(m["start"]))]


def index_snapshot_values(kpis: list[KpiDef], scopes: list[str], rows: list[CellRow],
                          versions: Mapping[tuple[str, datetime], int], day_start: datetime,
                          utc_offset: timedelta) -> list[dict[str, Any]]:
    """Today's index values of every (index KPI, scope) asked for: null where no indicator
    has data yet."""
    wanted = {k.id for k in kpis}
    in_scope = set(scopes)
    found = {(m["kpi"], m["area"] or ""): m
             for m in index_messages([r for r in rows if r.area in in_scope], "1d", utc_offset,
                                     versions)
             if m["kpi"] in wanted}
    start = local_iso(day_start, utc_offset)
    return [found.get((kpi.id, scope)) or {"type": "kpi", "kpi": kpi.id, "area": scope or None,
                                           "bucket": "1d", "start": start, "value": None,
                                           "version": 0}
            for kpi in kpis for scope in scopes]
