"""The monthly report made of what storage returned (pure: no I/O, no clock).

:mod:`ioc.report.reads` gives month sums and alert rows, the service-index module the
scorecards; this module picks, names and orders them into a
:class:`~ioc.report.model.MonthlyReport`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from fractions import Fraction
from typing import Any

from ioc.alerts.rules import scope_parts
from ioc.geography import Geography
from ioc.kpis.catalogue import CATALOGUE, Kind, KpiDef
from ioc.report.model import AlertLine, KpiLine, MonthlyReport, Period, Ranking
from ioc.report.reads import MonthSum
from ioc.targets import Targets

REPORTED_KINDS = (Kind.RATIO, Kind.COUNTER)
"""KPIs whose month is a sum of days: ratios and counters (a gauge is a value at an instant,
a sensor aggregate is per station and metric; neither goes into the month's table)."""


def reported_kpis(catalogue: Sequence[KpiDef] = CATALOGUE) -> list[KpiDef]:
    """The catalogue's ratios first, then its counters, each in catalogue order."""
    return [k for kind in REPORTED_KINDS for k in catalogue if k.kind is kind]


def kpi_lines(sums: Mapping[str, MonthSum], targets: Targets,
              catalogue: Sequence[KpiDef] = CATALOGUE) -> tuple[KpiLine, ...]:
    """A line per reported KPI: its month's sums (0 / 0 without cells) against its target."""
    lines = []
    for kpi in reported_kpis(catalogue):
        found = sums.get(kpi.id)
        target = targets.value(kpi.id)
        lines.append(KpiLine(
            kpi=kpi.id, name_vi=kpi.name_vi, name_en=kpi.name_en, unit=kpi.unit,
            is_ratio=kpi.kind is Kind.RATIO,
            numerator=found.num if found else 0, denominator=found.den if found else 0,
            target=None if target is None else Fraction(target),
            higher_is_better=targets.higher_is_better(kpi.id)))
    return tuple(lines)


def scope_label(scope: str, geography: Geography) -> str:
    """An alert's scope as the report shows it: the province, an area's code and name, a
    station."""
    area, station = scope_parts(scope)
    if station is not None:
        return f"Trạm / Station {station}"
    if area is not None:
        name = geography.area_name(area)
        return f"{area} {name}" if name else area
    return "Toàn tỉnh / Province"


def alert_lines(rows: Sequence[Mapping[str, Any]], geography: Geography) -> tuple[AlertLine, ...]:
    """Alert rows (:func:`ioc.report.reads.fired_alerts`) as the report lists them."""
    return tuple(AlertLine(
        id=int(row["id"]), rule=str(row["rule_name"]), kpi=str(row["kpi"] or ""),
        scope=scope_label(str(row["scope"]), geography), severity=str(row["severity"]),
        state=str(row["state"]), fired_at=row["fired_at"], resolved_at=row["resolved_at"],
        value=None if row["value"] is None else float(row["value"]),
    ) for row in rows)


def build_report(*, geography: Geography, period: Period, generated_at: datetime,
                 areas: Ranking, agencies: Ranking, sums: Mapping[str, MonthSum],
                 targets: Targets, alerts: Sequence[Mapping[str, Any]], alerts_total: int,
                 catalogue: Sequence[KpiDef] = CATALOGUE) -> MonthlyReport:
    listed = alert_lines(alerts, geography)
    return MonthlyReport(
        province_code=geography.province_code, province_name=geography.province_name,
        period=period, generated_at=generated_at, areas=areas, agencies=agencies,
        kpis=kpi_lines(sums, targets, catalogue), alerts=listed,
        alerts_left_out=max(alerts_total - len(listed), 0))
