"""End to end through the real broker, a real Faust worker and PostgreSQL: every KPI series,
every district, every bucket size equals the independent reference computation, on both
storage layouts (plain PostgreSQL, and TimescaleDB when the server has it)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from kafka import KafkaConsumer

from ioc.kpis.catalogue import CATALOGUE, Kind
from ioc.reference import load_reference
from tests.generator import generate_stream
from tests.integration.conftest import (
    Pipeline,
    Services,
    running_pipeline,
    skip_without_timescaledb,
)
from tests.integration.kpi_check import SCOPES, api_cells, api_sensor_values
from tests.reference_kpis import (
    TZ,
    accepted_events,
    expected_breakdowns,
    expected_cells,
    expected_gauges,
    expected_sensor_values,
    expected_silent,
    rejected_count,
)

pytestmark = pytest.mark.integration

REF = load_reference()
NOW = datetime.now(UTC)
STREAM = generate_stream(11, NOW, 4000)


@pytest.fixture(scope="module", params=["postgres", "timescaledb"])
def pipeline(services: Services, request: pytest.FixtureRequest) -> Iterator[Pipeline]:
    if request.param == "timescaledb":
        skip_without_timescaledb(services)
    with running_pipeline(services, f"p_exact_{request.param}", layout=request.param) as pipe:
        yield pipe


@pytest.fixture(scope="module")
def processed(pipeline: Pipeline) -> Pipeline:
    pipeline.publish(STREAM)
    pipeline.wait_processed()
    return pipeline


def reference() -> dict[tuple[str, str, str, datetime], list[int]]:
    return dict(expected_cells(accepted_events(STREAM, set(REF.district_codes), NOW)))


def test_every_series_equals_the_reference(processed: Pipeline) -> None:
    expected = reference()
    got = api_cells(processed, NOW)
    assert len(expected) > 5000
    missing = {k: v for k, v in expected.items() if got.get(k) != v}
    extra = {k: v for k, v in got.items() if k not in expected}
    assert not missing, list(missing.items())[:5]
    assert not extra, list(extra.items())[:5]


def test_rollups_equal_the_minute_cells_bucketed_in_sql(processed: Pipeline) -> None:
    """kpi_1h and kpi_1d, written in the batch transaction, equal kpi_1m grouped by
    ioc_bucket (time_bucket on TimescaleDB, date_bin on plain PostgreSQL)."""
    with psycopg.connect(processed.settings.database_url) as conn:
        for table, width in (("kpi_1h", "1 hour"), ("kpi_1d", "1 day")):
            rolled = conn.execute(
                "SELECT kpi, district, dim, dim_value, ioc_bucket(%s, bucket), sum(num), sum(den)"
                " FROM kpi_1m GROUP BY 1, 2, 3, 4, 5", (width,)).fetchall()
            stored = conn.execute(
                f"SELECT kpi, district, dim, dim_value, bucket, num, den FROM {table}").fetchall()
            assert len(stored) > 1000 and sorted(rolled) == sorted(stored), table
            local = [row[4].astimezone(TZ) for row in stored]
            assert all(t.minute == 0 and (table == "kpi_1h" or t.hour == 0) for t in local)


def test_sensor_aggregates_equal_the_reference(processed: Pipeline) -> None:
    expected = expected_sensor_values(accepted_events(STREAM, set(REF.district_codes), NOW))
    stations = sorted({k[3] for k in expected if k[3]})
    metrics = sorted({k[1] for k in expected})
    got = api_sensor_values(processed, NOW, metrics, stations)
    assert len(expected) > 2000 and len(stations) == 6
    assert got == expected


def gauges_reference(events: list[dict], t: datetime) -> dict[tuple[str, str], int]:
    return {**expected_gauges(events, t), **expected_silent(events, t)}


def test_gauges_equal_the_reference(processed: Pipeline) -> None:
    events = accepted_events(STREAM, set(REF.district_codes), NOW)
    end = (NOW - timedelta(hours=2)).isoformat()  # every sample instant lies in the past
    checked = 0
    for kpi in ("dossier.open", "dossier.overdue_open", "sensor.stations_silent"):
        for scope in SCOPES:
            for bucket, start in (("1h", NOW - timedelta(days=4)), ("1m", NOW - timedelta(hours=4)),
                                  ("1d", NOW - timedelta(days=5))):
                params = {"bucket": bucket, "start": start.isoformat(), "end": end}
                if scope:
                    params["district"] = scope
                for p in processed.get(f"/api/v1/kpis/{kpi}/series", **params)["points"]:
                    at = datetime.fromisoformat(p["at"])
                    assert p["value"] == gauges_reference(events, at).get((kpi, scope or ""), 0), p
                    checked += 1
            body = processed.get(f"/api/v1/kpis/{kpi}/current", **({"district": scope} if scope else {}))
            at = datetime.fromisoformat(body["as_of"])
            assert body["value"] == gauges_reference(events, at).get((kpi, scope or ""), 0)
    assert checked > 8000


def test_breakdowns_equal_the_reference(processed: Pipeline) -> None:
    expected = expected_breakdowns(accepted_events(STREAM, set(REF.district_codes), NOW))
    start, end = (NOW - timedelta(days=4)).isoformat(), (NOW + timedelta(hours=1)).isoformat()
    got = {}
    for kpi, dim, value in sorted({(k[0], k[2], k[3]) for k in expected}):
        for scope in (None, "288"):
            for bucket in ("1h", "1d"):
                params = {"bucket": bucket, "start": start, "end": end, dim: value}
                if scope:
                    params["district"] = scope
                body = processed.get(f"/api/v1/kpis/{kpi}/series", **params)
                assert body["breakdown"] == {dim: value}
                for p in body["points"]:
                    start_at = datetime.fromisoformat(p["start"])
                    got[(kpi, scope or "", dim, value, bucket, start_at)] = p["value"]
    want = {k: v for k, v in expected.items() if k[1] in ("", "288") and k[4] in ("1h", "1d")}
    assert got == want and len(want) > 500
    headers = {"Authorization": f"Bearer {processed.tokens['operator']}"}
    base = f"{processed.api_url}/api/v1/kpis"
    assert httpx.get(f"{base}/payment.count/series", headers=headers,
                     params={"channel": "online"}).status_code == 422
    assert httpx.get(f"{base}/dossier.received/series", headers=headers,
                     params={"channel": "online", "agency_code": "A1"}).status_code == 422


def test_sensor_kpis_need_a_metric(processed: Pipeline) -> None:
    headers = {"Authorization": f"Bearer {processed.tokens['operator']}"}
    base = f"{processed.api_url}/api/v1/kpis"
    assert httpx.get(f"{base}/sensor.avg/current", headers=headers).status_code == 422
    assert httpx.get(f"{base}/sensor.avg/current", headers=headers,
                     params={"metric": "pm2_5", "district": "288", "station_id": "ST1"}).status_code == 422
    assert httpx.get(f"{base}/payment.count/current", headers=headers,
                     params={"metric": "pm2_5"}).status_code == 422
    body = processed.get("/api/v1/kpis/sensor.readings/current", metric="pm2_5", station_id="ST1")
    assert body["station_id"] == "ST1" and isinstance(body["value"], int)


def test_current_is_todays_total(processed: Pipeline) -> None:
    expected = reference()
    today = datetime.now(UTC).astimezone(TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    for kpi in CATALOGUE:
        if kpi.kind in (Kind.AGGREGATE, Kind.GAUGE):
            continue
        for scope in SCOPES:
            params = {"district": scope} if scope else {}
            body = processed.get(f"/api/v1/kpis/{kpi.id}/current", **params)
            num, den = expected.get((kpi.id, scope or "", "1d", today), [0, 0])
            if kpi.kind is Kind.RATIO:
                assert (body["numerator"], body["denominator"]) == (num, den)
                assert body["value"] == (num * 100 / den if den else None)
            else:
                assert body["value"] == num


def test_rejected_events_reach_the_dead_letter_topic_with_reasons(processed: Pipeline) -> None:
    consumer = KafkaConsumer(processed.settings.deadletter_topic,
                             bootstrap_servers=processed.settings.kafka_bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=3000)
    letters = list(consumer)
    consumer.close()
    assert len(letters) == rejected_count(STREAM, set(REF.district_codes), NOW) > 120
    originals = set(STREAM)
    for letter in letters:
        headers = dict(letter.headers)
        assert headers["ioc-reason"] and headers["ioc-reason-code"]
        assert letter.value in originals  # the original bytes, untouched


def test_worker_metrics_count_every_outcome(processed: Pipeline) -> None:
    text = httpx.get(processed.metrics_url, timeout=5).text
    totals = {"accepted": 0.0, "duplicate": 0.0, "rejected": 0.0}
    for line in text.splitlines():
        if line.startswith("ioc_events_total{"):
            for outcome in totals:
                if f'outcome="{outcome}"' in line:
                    totals[outcome] += float(line.rsplit(" ", 1)[1])
    accepted = len(accepted_events(STREAM, set(REF.district_codes), NOW))
    assert totals["accepted"] == accepted
    assert totals["rejected"] == rejected_count(STREAM, set(REF.district_codes), NOW)
    assert sum(totals.values()) == len(STREAM)


def test_replaying_the_same_events_changes_nothing(processed: Pipeline) -> None:
    before = api_cells(processed, NOW)
    processed.publish(STREAM)
    processed.wait_processed()
    assert api_cells(processed, NOW) == before


def test_reads_need_a_reader_token(processed: Pipeline) -> None:
    url = f"{processed.api_url}/api/v1/kpis"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401
    integrator = {"Authorization": f"Bearer {processed.tokens['integrator']}"}
    assert httpx.get(url, headers=integrator).status_code == 403
    for role in ("operator", "leader", "admin"):
        assert len(processed.get("/api/v1/kpis", token_role=role)) == len(CATALOGUE)
    bad = httpx.get(f"{processed.api_url}/api/v1/kpis/nope/current",
                    headers={"Authorization": f"Bearer {processed.tokens['operator']}"})
    assert bad.status_code == 404
