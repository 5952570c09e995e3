"""The monthly report built from read results (pure): KPI lines from month sums and targets,
alert rows named by scope, scorecard rows as rankings with the index's five groups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from ioc.geography import HISTORIC, load_geography
from ioc.kpis.catalogue import Kind, KpiDef
from ioc.kpis.service_index import Score
from ioc.report.build import alert_lines, build_report, kpi_lines, reported_kpis, scope_label
from ioc.report.model import Ranking, month_period
from ioc.report.rankings import index_groups, ranking_of
from ioc.report.reads import MonthSum
from ioc.scorecard import ScoreRow
from ioc.targets import Target, Targets

GEO = load_geography(HISTORIC)
CATALOGUE = (
    KpiDef("dossier.received", "Hồ sơ tiếp nhận", "Dossiers received", "dossiers", Kind.COUNTER),
    KpiDef("dossier.open", "Hồ sơ đang giải quyết", "Open dossiers", "dossiers", Kind.GAUGE),
    KpiDef("dossier.online_rate", "Tỷ lệ hồ sơ trực tuyến", "Online dossier rate", "%", Kind.RATIO),
    KpiDef("sensor.avg", "Giá trị trung bình", "Sensor mean", "metric unit", Kind.AGGREGATE),
    KpiDef("dossier.on_time_rate", "Tỷ lệ đúng hạn", "On-time rate", "%", Kind.RATIO),
)
TARGETS = Targets({"dossier.online_rate": Target("dossier.online_rate", 89, True),
                   "dossier.received": Target("dossier.received", None, True)})


def test_ratios_then_counters_no_gauges_nor_sensor_aggregates() -> None:
    assert [k.id for k in reported_kpis(CATALOGUE)] == [
        "dossier.online_rate", "dossier.on_time_rate", "dossier.received"]


def test_kpi_lines_carry_month_sums_and_targets_and_zero_without_cells() -> None:
    lines = kpi_lines({"dossier.online_rate": MonthSum("dossier.online_rate", 178, 200),
                       "dossier.received": MonthSum("dossier.received", 200, 0)}, TARGETS, CATALOGUE)
    online, on_time, received = lines
    assert (online.value, online.target, online.met) == (Fraction(89), Fraction(89), True)
    assert (on_time.numerator, on_time.denominator, on_time.value, on_time.target) == (0, 0, None, None)
    assert (received.is_ratio, received.value, received.met) == (False, 200, None)


def row(**changes: Any) -> dict[str, Any]:
    return {"id": 7, "rule_name": "Đúng hạn thấp", "kpi": "dossier.on_time_rate", "scope": "294",
            "severity": "critical", "state": "resolved", "value": 90.125,
            "fired_at": datetime(2026, 11, 3, 2, tzinfo=UTC),
            "resolved_at": datetime(2026, 11, 3, 3, tzinfo=UTC), **changes}


def test_alert_scopes_are_named() -> None:
    assert scope_label("294", GEO) == "294 Huyện Thanh Hà"
    assert scope_label("", GEO) == "Toàn tỉnh / Province"
    assert scope_label("station:ST1", GEO) == "Trạm / Station ST1"
    assert scope_label("999", GEO) == "999"
    (line,) = alert_lines([row(value=None, resolved_at=None)], GEO)
    assert (line.scope, line.value, line.resolved_at, line.rule) == (
        "294 Huyện Thanh Hà", None, None, "Đúng hạn thấp")


def test_the_report_counts_the_alerts_it_left_out() -> None:
    report = build_report(geography=GEO, period=month_period("2026-11", timedelta(hours=7)),
                          generated_at=datetime(2026, 12, 1, tzinfo=UTC), areas=Ranking((), ()),
                          agencies=Ranking((), ()), sums={}, targets=TARGETS,
                          alerts=[row(id=1), row(id=2)], alerts_total=5, catalogue=CATALOGUE)
    assert [a.id for a in report.alerts] == [1, 2]
    assert report.alerts_left_out == 3
    assert (report.province_name, report.province_code) == (GEO.province_name, GEO.province_code)


def test_scorecard_rows_become_a_ranking_in_the_groups_order() -> None:
    groups = index_groups()
    assert [g.points for g in groups] == [18, 20, 22, 22, 18]
    assert all(g.name_vi and g.name_en for g in groups)
    points: dict[str, Fraction | None] = {g.key: None for g in groups}
    points["progress"] = Fraction(100)
    ranking = ranking_of([ScoreRow("288", "Thành phố Hải Dương", 1, Score(Fraction(100), points)),
                          ScoreRow("290", "Thành phố Chí Linh", 2, Score(None, dict(points)))])
    (only,) = ranking.rows
    assert (only.rank, only.code, only.name, only.index) == (1, "288", "Thành phố Hải Dương", 100)
    assert only.groups == (None, Fraction(100), None, None, None)
