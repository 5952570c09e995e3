"""Turning stored cells into the shapes of docs/contract/api.md. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ioc.changes import local_iso
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
