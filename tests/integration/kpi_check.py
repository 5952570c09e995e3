"""Reading every KPI cell back through the API, for comparison with the reference."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ioc.geography import HISTORIC, Geography, load_geography
from ioc.kpis.catalogue import CATALOGUE, Kind
from tests.integration.conftest import Pipeline
from tests.reference_kpis import accepted_events, expected_cells, expected_sensor_values

HISTORIC_GEOGRAPHY = load_geography(HISTORIC)
SCOPES: list[str | None] = [None, *sorted(HISTORIC_GEOGRAPHY.area_codes)]


def api_cells(pipeline: Pipeline, now: datetime, scopes: list[str | None] = SCOPES,
              ) -> dict[tuple[str, str, str, datetime], list[int]]:
    """Every (KPI, scope, bucket size, start) the API serves, as [numerator, denominator]."""
    got = {}
    start = (now - timedelta(days=4)).isoformat()
    end = (now + timedelta(hours=1)).isoformat()
    for kpi in CATALOGUE:
        if kpi.kind in (Kind.AGGREGATE, Kind.GAUGE, Kind.INDEX):
            continue
        for scope in scopes:
            for bucket in ("1m", "1h", "1d"):
                params = {"bucket": bucket, "start": start, "end": end}
                if scope:
                    params["area"] = scope
                body = pipeline.get(f"/api/v1/kpis/{kpi.id}/series", **params)
                assert body["kpi"] == kpi.id and body["bucket"] == bucket
                for p in body["points"]:
                    if kpi.kind is Kind.RATIO:
                        cell = [p["numerator"], p["denominator"]]
                        num, den = cell
                        assert p["value"] == (num * 100 / den if den else None)
                    else:
                        cell = [p["value"], 0]
                    got[(kpi.id, scope or "", bucket, datetime.fromisoformat(p["start"]))] = cell
    return got


def api_sensor_values(pipeline: Pipeline, now: datetime, metrics: list[str], stations: list[str],
                      scopes: list[str | None] = SCOPES,
                      ) -> dict[tuple[str, str, str, str, str, datetime], float | int]:
    """Every sensor KPI value the API serves for the given metrics: province-wide, per
    area and per station."""
    got = {}
    start = (now - timedelta(days=4)).isoformat()
    end = (now + timedelta(hours=1)).isoformat()
    places = [("", ""), *((d, "") for d in scopes if d), *(("", s) for s in stations)]
    for kpi in ("sensor.avg", "sensor.min", "sensor.max", "sensor.readings"):
        for metric in metrics:
            for area, station in places:
                for bucket in ("1m", "1h", "1d"):
                    params = {"bucket": bucket, "start": start, "end": end, "metric": metric}
                    if area:
                        params["area"] = area
                    if station:
                        params["station_id"] = station
                    body = pipeline.get(f"/api/v1/kpis/{kpi}/series", **params)
                    for p in body["points"]:
                        key = (kpi, metric, area, station, bucket, datetime.fromisoformat(p["start"]))
                        got[key] = p["value"]
    return got


def assert_exact(pipeline: Pipeline, stream: list[dict[str, Any]], now: datetime,
                 geography: Geography = HISTORIC_GEOGRAPHY) -> None:
    """Every counter and ratio cell, and every sensor value, the API serves equals the
    reference's recomputation from the stream's accepted events, and nothing more, for
    the province and each of the geography's units."""
    accepted = accepted_events(stream, set(geography.area_codes), now)
    expected = dict(expected_cells(accepted))
    scopes: list[str | None] = [None, *sorted(geography.area_codes)]
    got = api_cells(pipeline, now, scopes)
    wrong = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
    assert not wrong, list(wrong.items())[:5]
    assert set(got) == set(expected)
    sensors = expected_sensor_values(accepted)
    stations = sorted({k[3] for k in sensors if k[3]})
    assert api_sensor_values(pipeline, now, sorted({k[1] for k in sensors}), stations, scopes) == sensors
