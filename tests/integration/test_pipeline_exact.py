"""End to end through the real broker, a real Faust worker and PostgreSQL: every KPI series,
every area, every bucket size equals the independent reference computation, on both
storage layouts (plain PostgreSQL, and TimescaleDB when the server has it); and the two
layouts, fed the same stream, answer every read identically."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from ioc.geography import HISTORIC, load_geography
from ioc.kpis.catalogue import CATALOGUE, Kind
from tests.generator import generate_stream
from tests.integration.conftest import (
    LAYOUTS,
    Pipeline,
    Services,
    layout_pipeline,
    skip_without_timescaledb,
)
from tests.integration.kpi_check import SCOPES, api_cells, api_sensor_values
from tests.reference_index import as_double, expected_items, expected_scorecard
from tests.reference_kpis import (
    TZ,
    V1_BY_AGENCY,
    accepted_events,
    expected_breakdowns,
    expected_cells,
    expected_gauges,
    expected_sensor_values,
    expected_silent,
    rejected_count,
)

pytestmark = pytest.mark.integration

REF = load_geography(HISTORIC)
NOW = datetime.now(UTC)
STREAM = generate_stream(11, NOW, 4000)
ANSWERS: dict[str, dict[str, object]] = {}
"""What the API answered, per layout and read, for comparing the layouts at the end."""


def remember(pipe: Pipeline, read: str, answer: object) -> None:
    ANSWERS.setdefault(pipe.name.removeprefix("p_exact_"), {})[read] = answer


@pytest.fixture(scope="module", params=LAYOUTS)
def pipeline(services: Services, request: pytest.FixtureRequest) -> Iterator[Pipeline]:
    with layout_pipeline(services, "p_exact", request.param) as pipe:
        yield pipe


@pytest.fixture(scope="module")
def processed(pipeline: Pipeline) -> Pipeline:
    pipeline.publish(STREAM)
    pipeline.wait_processed()
    return pipeline


def reference() -> dict[tuple[str, str, str, datetime], list[int]]:
    return dict(expected_cells(accepted_events(STREAM, set(REF.area_codes), NOW)))


def test_every_series_equals_the_reference(processed: Pipeline) -> None:
    expected = reference()
    got = api_cells(processed, NOW)
    remember(processed, "series 1m, 1h, 1d", got)
    assert len(expected) > 5000
    missing = {k: v for k, v in expected.items() if got.get(k) != v}
    extra = {k: v for k, v in got.items() if k not in expected}
    assert not missing, list(missing.items())[:5]
    assert not extra, list(extra.items())[:5]


def test_rollups_equal_the_minute_cells_bucketed_in_sql(processed: Pipeline) -> None:
    """kpi_1h and kpi_1d, written in the batch transaction, equal kpi_1m grouped by
    ioc_bucket (time_bucket on TimescaleDB, date_bin on plain PostgreSQL); kpi_1d also holds
    version 2's breakdowns by agency, which exist per day only (their exactness is
    test_breakdowns_equal_the_reference's and the scorecards')."""
    with psycopg.connect(processed.settings.database_url) as conn:
        for table, width in (("kpi_1h", "1 hour"), ("kpi_1d", "1 day")):
            rolled = conn.execute(
                "SELECT kpi, area, dim, dim_value, ioc_bucket(%s, bucket), sum(num), sum(den)"
                " FROM kpi_1m GROUP BY 1, 2, 3, 4, 5", (width,)).fetchall()
            stored = conn.execute(
                f"SELECT kpi, area, dim, dim_value, bucket, num, den FROM {table}"
                " WHERE dim <> 'agency_code' OR kpi = ANY(%s)", (list(V1_BY_AGENCY),)).fetchall()
            (day_only,) = conn.execute(
                f"SELECT count(*) FROM {table} WHERE dim = 'agency_code' AND NOT kpi = ANY(%s)",
                (list(V1_BY_AGENCY),)).fetchone() or (0,)
            assert (day_only > 100) if table == "kpi_1d" else (day_only == 0), (table, day_only)
            assert len(stored) > 500 and sorted(rolled) == sorted(stored), table
            local = [row[4].astimezone(TZ) for row in stored]
            assert all(t.minute == 0 and (table == "kpi_1h" or t.hour == 0) for t in local)


def test_sensor_aggregates_equal_the_reference(processed: Pipeline) -> None:
    expected = expected_sensor_values(accepted_events(STREAM, set(REF.area_codes), NOW))
    stations = sorted({k[3] for k in expected if k[3]})
    metrics = sorted({k[1] for k in expected})
    got = api_sensor_values(processed, NOW, metrics, stations)
    remember(processed, "sensor series", got)
    assert len(expected) > 2000 and len(stations) == 6
    assert got == expected


GAUGES = ("dossier.open", "dossier.overdue_open", "dossier.due_soon", "feedback.open",
          "feedback.overdue_open", "sensor.stations_silent")


def gauges_reference(events: list[dict], t: datetime) -> dict[tuple[str, str], int]:
    return {**expected_gauges(events, t), **expected_silent(events, t)}


def test_gauges_equal_the_reference(processed: Pipeline) -> None:
    events = accepted_events(STREAM, set(REF.area_codes), NOW)
    end = (NOW - timedelta(hours=2)).isoformat()  # every sample instant lies in the past
    seen: dict[tuple[str, str, str, str], int] = {}
    for kpi in GAUGES:
        for scope in SCOPES:
            for bucket, start in (("1h", NOW - timedelta(days=4)), ("1m", NOW - timedelta(hours=4)),
                                  ("1d", NOW - timedelta(days=5))):
                params = {"bucket": bucket, "start": start.isoformat(), "end": end}
                if scope:
                    params["area"] = scope
                for p in processed.get(f"/api/v1/kpis/{kpi}/series", **params)["points"]:
                    seen[(kpi, scope or "", bucket, p["at"])] = p["value"]
    # A bucket still running when read is sampled at the time of the read: not comparable.
    remember(processed, "gauge series",
             {k: v for k, v in seen.items() if datetime.fromisoformat(k[3]) <= NOW})
    at_instant: dict[str, dict[tuple[str, str], int]] = {}  # the reference, once per instant
    for (kpi, scope, _, at), value in seen.items():
        if at not in at_instant:
            at_instant[at] = gauges_reference(events, datetime.fromisoformat(at))
        want = at_instant[at].get((kpi, scope), 0)
        assert value == want, (kpi, scope, at, value, want)
    for kpi in GAUGES:
        for scope in SCOPES:
            body = processed.get(f"/api/v1/kpis/{kpi}/current", **({"area": scope} if scope else {}))
            at = datetime.fromisoformat(body["as_of"])
            assert body["value"] == gauges_reference(events, at).get((kpi, scope or ""), 0)
    assert len(seen) > 16000
    assert all(any(v for k, v in seen.items() if k[0] == kpi) for kpi in GAUGES)


def test_breakdowns_equal_the_reference(processed: Pipeline) -> None:
    expected = expected_breakdowns(accepted_events(STREAM, set(REF.area_codes), NOW))
    start, end = (NOW - timedelta(days=4)).isoformat(), (NOW + timedelta(hours=1)).isoformat()
    got = {}
    for kpi, dim, value in sorted({(k[0], k[2], k[3]) for k in expected}):
        for bucket in ("1h", "1d"):
            body = processed.get(f"/api/v1/kpis/{kpi}/series", bucket=bucket, start=start,
                                 end=end, **{dim: value})
            assert body["breakdown"] == {dim: value}
            for p in body["points"]:
                start_at = datetime.fromisoformat(p["start"])
                got[(kpi, "", dim, value, bucket, start_at)] = p["value"]
    remember(processed, "breakdowns", got)
    want = {k: v for k, v in expected.items() if k[4] in ("1h", "1d")}
    assert got == want and len(want) > 300
    headers = {"Authorization": f"Bearer {processed.tokens['operator']}"}
    base = f"{processed.api_url}/api/v1/kpis"
    province_wide = httpx.get(f"{base}/dossier.received/series", headers=headers,
                              params={"channel": "online", "area": "288"})
    assert province_wide.status_code == 422 and "province-wide" in province_wide.text
    with psycopg.connect(processed.settings.database_url) as conn:
        for table in ("kpi_1m", "kpi_1h", "kpi_1d"):
            assert conn.execute(f"SELECT count(*) FROM {table} WHERE area <> '' AND dim <> ''"
                                ).fetchone() == (0,), table
    assert httpx.get(f"{base}/payment.count/series", headers=headers,
                     params={"channel": "online"}).status_code == 422
    assert httpx.get(f"{base}/dossier.received/series", headers=headers,
                     params={"channel": "online", "agency_code": "A1"}).status_code == 422


def test_scorecards_equal_the_reference(processed: Pipeline) -> None:
    """/api/v1/scorecard by province, area and agency, for each of the stream's days and
    for this month: every row's scope, rank, index and groups equal the reference's exact
    values (as the nearest doubles); names come from the geography and the agency list."""
    events = accepted_events(STREAM, set(REF.area_codes), NOW)
    today = NOW.astimezone(TZ).date()
    periods = [("day", (today - timedelta(days=n)).isoformat(), today - timedelta(days=n),
                today - timedelta(days=n)) for n in range(4)]
    periods.append(("month", today.isoformat()[:7], today.replace(day=1), today))
    answers = {}
    for period, on, first, last in periods:
        for by in ("province", "area", "agency"):
            body = processed.get("/api/v1/scorecard", period=period, on=on, by=by)
            answers[(period, on, by)] = body
            want = expected_scorecard(events, by, first, last)
            assert body["period"] == period and body["by"] == by
            assert body["start"] == first.isoformat()
            assert [(r["scope"], r["rank"], r["index"], r["groups"]) for r in body["rows"]] == [
                (w["scope"], w["rank"], as_double(w["index"]),  # type: ignore[arg-type]
                 {g: as_double(v) for g, v in w["groups"].items()})  # type: ignore[attr-defined]
                for w in want], (period, on, by)
            assert body["rows"], (period, on, by)
            if by == "area":
                assert all(r["name"] == REF.area_names[r["scope"]] for r in body["rows"])
    remember(processed, "scorecards", answers)
    current = processed.get("/api/v1/scorecard", period="day", by="province")
    assert current == answers[("day", today.isoformat(), "province")]
    headers = {"Authorization": f"Bearer {processed.tokens['operator']}"}
    for bad in ({"period": "day", "on": "2026-02-30"}, {"period": "month", "on": "2026-1"},
                {"by": "district"}, {"period": "week"}):
        assert httpx.get(f"{processed.api_url}/api/v1/scorecard", headers=headers,
                         params=bad).status_code == 422, bad


def test_index_kpis_equal_the_reference(processed: Pipeline) -> None:
    """index.value and each group as KPIs: a day's series point and today's value per
    scope are the scorecard's numbers; the month's days as the console charts them."""
    events = accepted_events(STREAM, set(REF.area_codes), NOW)
    today = NOW.astimezone(TZ).date()
    start, end = (NOW - timedelta(days=4)).isoformat(), (NOW + timedelta(hours=1)).isoformat()
    for scope in SCOPES:
        by = "area" if scope else "province"
        want = {}
        for n in range(4):
            day = today - timedelta(days=n)
            rows = [r for r in expected_scorecard(events, by, day, day) if r["scope"] == (scope or "")]
            if rows:
                want[day.isoformat()] = rows[0]
        for kpi in ("index.value", "index.progress", "index.satisfaction"):
            body = processed.get(f"/api/v1/kpis/{kpi}/series", bucket="1d", start=start, end=end,
                                 **({"area": scope} if scope else {}))
            group = kpi.removeprefix("index.")
            assert {p["start"][:10]: p["value"] for p in body["points"]} == {
                day: as_double(row["index"] if kpi == "index.value" else row["groups"][group])  # type: ignore[index]
                for day, row in want.items()}, (kpi, scope)
        body = processed.get("/api/v1/kpis/index.value/current", **({"area": scope} if scope else {}))
        todays = want.get(today.isoformat())
        assert body["value"] == (as_double(todays["index"]) if todays else None)  # type: ignore[arg-type]
    month = processed.get("/api/v1/scorecard/days", month=today.isoformat()[:7], by="agency",
                          scope="A2")
    for day in month["days"]:
        first = datetime.fromisoformat(day["start"]).date()
        (row,) = [r for r in expected_scorecard(events, "agency", first, first) if r["scope"] == "A2"]
        assert day["index"] == as_double(row["index"])  # type: ignore[arg-type]
    assert month["days"] and month["name"] == "A2"


def test_drill_down_lists_exactly_the_items_behind_the_gauges(processed: Pipeline) -> None:
    """/api/v1/dossiers and /api/v1/feedback at past instants and now, for the province, an
    area and an agency: the same items as the reference, most overdue first, paged; the
    totals equal the gauges."""
    events = accepted_events(STREAM, set(REF.area_codes), NOW)
    instants = [NOW - timedelta(hours=h) for h in (60, 30, 7, 2)]
    checked = 0
    for t in instants:
        for kind, states in (("dossier", ("open", "overdue", "due_soon")),
                             ("feedback", ("open", "overdue"))):
            for state in states:
                for area, agency in ((None, None), ("291", None), (None, "A3"), ("288", "A0")):
                    want = expected_items(events, kind, state, t, area, agency)
                    got: list[tuple[str, str]] = []
                    offset = 0
                    while True:
                        params = {"state": state, "at": t.isoformat(), "limit": 250, "offset": offset}
                        params.update({k: v for k, v in (("area", area), ("agency_code", agency)) if v})
                        body = processed.get(f"/api/v1/{'dossiers' if kind == 'dossier' else 'feedback'}",
                                             **params)
                        items = body["dossiers" if kind == "dossier" else "feedback"]
                        assert body["total"] == len(want)
                        got += [(i[f"{kind}_id"], i["due_at"]) for i in items]
                        offset += 250
                        if offset >= body["total"]:
                            break
                    assert [(i, datetime.fromisoformat(d)) for i, d in got] == want, (kind, state, t)
                    checked += len(want)
                    if area is None and agency is None:
                        gauge = {"open": f"{kind}.open", "overdue": f"{kind}.overdue_open",
                                 "due_soon": "dossier.due_soon"}[state]
                        assert len(want) == gauges_reference(events, t).get((gauge, ""), 0)
    assert checked > 1500
    first = processed.get("/api/v1/dossiers", state="open", limit=1)
    assert first["dossiers"][0]["service_code"] and first["dossiers"][0]["agency_code"]
    headers = {"Authorization": f"Bearer {processed.tokens['operator']}"}
    for bad in ({"state": "closed"}, {"limit": 0}, {"area": "999"}, {"at": "yesterday"}):
        assert httpx.get(f"{processed.api_url}/api/v1/dossiers", headers=headers,
                         params=bad).status_code == 422, bad
    assert httpx.get(f"{processed.api_url}/api/v1/feedback", headers=headers,
                     params={"state": "due_soon"}).status_code == 422


def test_sensor_kpis_need_a_metric(processed: Pipeline) -> None:
    headers = {"Authorization": f"Bearer {processed.tokens['operator']}"}
    base = f"{processed.api_url}/api/v1/kpis"
    assert httpx.get(f"{base}/sensor.avg/current", headers=headers).status_code == 422
    assert httpx.get(f"{base}/sensor.avg/current", headers=headers,
                     params={"metric": "pm2_5", "area": "288", "station_id": "ST1"}).status_code == 422
    assert httpx.get(f"{base}/payment.count/current", headers=headers,
                     params={"metric": "pm2_5"}).status_code == 422
    body = processed.get("/api/v1/kpis/sensor.readings/current", metric="pm2_5", station_id="ST1")
    assert body["station_id"] == "ST1" and isinstance(body["value"], int)


def test_current_is_todays_total(processed: Pipeline) -> None:
    expected = reference()
    today = datetime.now(UTC).astimezone(TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    for kpi in CATALOGUE:
        if kpi.kind in (Kind.AGGREGATE, Kind.GAUGE, Kind.INDEX):
            continue
        for scope in SCOPES:
            params = {"area": scope} if scope else {}
            body = processed.get(f"/api/v1/kpis/{kpi.id}/current", **params)
            num, den = expected.get((kpi.id, scope or "", "1d", today), [0, 0])
            if kpi.kind is Kind.RATIO:
                assert (body["numerator"], body["denominator"]) == (num, den)
                assert body["value"] == (num * 100 / den if den else None)
            else:
                assert body["value"] == num


def test_rejected_events_reach_the_dead_letter_topic_with_reasons(processed: Pipeline) -> None:
    letters = processed.dead_letters()
    assert len(letters) == rejected_count(STREAM, set(REF.area_codes), NOW) >= 100
    originals = set(STREAM)
    for headers, value in letters:
        assert headers["ioc-reason"] and headers["ioc-reason-code"]
        assert value in originals  # the original bytes, untouched


def test_worker_metrics_count_every_outcome(processed: Pipeline) -> None:
    text = httpx.get(processed.metrics_url, timeout=5).text
    totals = {"accepted": 0.0, "duplicate": 0.0, "rejected": 0.0}
    for line in text.splitlines():
        if line.startswith("ioc_events_total{"):
            for outcome in totals:
                if f'outcome="{outcome}"' in line:
                    totals[outcome] += float(line.rsplit(" ", 1)[1])
    accepted = len(accepted_events(STREAM, set(REF.area_codes), NOW))
    assert totals["accepted"] == accepted
    assert totals["rejected"] == rejected_count(STREAM, set(REF.area_codes), NOW)
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


STORED = {"kpi_1m": "kpi, area, dim, dim_value, bucket, num, den",
          "sensor_1m": "metric, area, station_id, bucket, readings, total, low, high"}


def stored(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every cell and rollup row, without its version (which depends on the batching)."""
    with psycopg.connect(url) as conn:
        return {f"{base[:-3]}_{size}": sorted(conn.execute(
            f"SELECT {columns} FROM {base[:-3]}_{size}").fetchall())
            for base, columns in STORED.items() for size in ("1m", "1h", "1d")}


def test_both_layouts_answer_the_same(services: Services) -> None:
    """The same stream, fed to plain PostgreSQL and to TimescaleDB (above): every read the
    tests made through the API (series of every KPI at 1m and the 1h and 1d rollups, sensor
    aggregates, breakdowns, gauges) and every stored cell and rollup row are identical.
    Runs after both layouts' tests (pytest orders a module's tests by fixture parameter)."""
    skip_without_timescaledb(services)
    if set(ANSWERS) != {"postgres", "timescaledb"}:
        why = f"needs both layouts' tests of this module in the same run (ran: {sorted(ANSWERS)})"
        if os.environ.get("IOC_TEST_REQUIRE_TIMESCALEDB"):  # CI: must not skip
            pytest.fail(why)
        pytest.skip(why)
    plain, timescale = ANSWERS["postgres"], ANSWERS["timescaledb"]
    assert set(plain) == set(timescale) and len(plain) == 5, (sorted(plain), sorted(timescale))
    for read, answer in plain.items():
        # (the scorecards: 15 answers of many rows each; the rest: one entry per value)
        assert isinstance(answer, dict) and len(answer) > (10 if read == "scorecards" else 500), read
        other = timescale[read]
        assert isinstance(other, dict)
        differ = {k: (answer.get(k), other.get(k)) for k in answer.keys() | other.keys()
                  if answer.get(k) != other.get(k)}
        assert not differ, (read, len(differ), sorted(differ.items(), key=str)[:5])
    a, b = (stored(services.create_database(f"p_exact_{layout}")) for layout in ("postgres", "timescaledb"))
    assert all(len(rows) > 50 for rows in a.values()), {t: len(r) for t, r in a.items()}
    for table in a:
        assert a[table] == b[table], table
