"""``ioc bench history`` on a small window: what was COPYed is what the API serves back, and
the figures are printed.

Two days of Hai Phong (province 31, 114 units) on plain PostgreSQL, five requests per kind.
After the load, on the benchmark's own stack: every table holds exactly the rows generated;
the API's 1d (and 1h) values of a counter, a ratio and a sensor aggregate, for the province
and for the busiest unit, equal the sums of the 1-minute cells under them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from bench.history import kinds, run_history_bench, summary_lines
from bench.history_data import TABLES, HistoryGenerator
from bench.history_load import LoadResult
from bench.stack import BenchStack

pytestmark = pytest.mark.integration


def _minute_sums(conn: psycopg.Connection, table: str, where: str, args: tuple[str, ...],
                 width: str, columns: str) -> dict[str, tuple[int, ...]]:
    """Sums of the 1-minute cells per bucket of ``width`` (local, via ioc_bucket)."""
    rows = conn.execute(
        f"SELECT ioc_bucket(%s, bucket), {columns} FROM {table} WHERE {where}"
        " GROUP BY 1 ORDER BY 1", (timedelta(**{width: 1}), *args)).fetchall()
    return {r[0].astimezone(UTC).isoformat(): tuple(int(x) for x in r[1:]) for r in rows}


def _api(stack: BenchStack, kpi: str, gen: HistoryGenerator, bucket: str,
         **params: str) -> dict[str, tuple[int, ...]]:
    tz = gen.geography.tz
    response = httpx.get(
        f"{stack.api_url}/api/v1/kpis/{kpi}/series",
        params={"bucket": bucket, "start": gen.start.astimezone(tz).isoformat(),
                "end": gen.end.astimezone(tz).isoformat(), **params},
        headers={"Authorization": f"Bearer {stack.tokens['leader']}"}, timeout=30)
    assert response.status_code == 200, response.text
    out: dict[str, tuple[int, ...]] = {}
    for p in response.json()["points"]:
        start = datetime.fromisoformat(p["start"]).astimezone(UTC).isoformat()
        if "readings" in p:
            out[start] = (p["readings"],)
        elif "numerator" in p:
            out[start] = (p["numerator"], p["denominator"])
        else:
            out[start] = (p["value"],)
    return out


def test_history_bench_serves_back_what_it_loaded(capsys: pytest.CaptureFixture[str]) -> None:
    checked: list[str] = []

    def check(stack: BenchStack, gen: HistoryGenerator, load: LoadResult) -> None:
        with psycopg.connect(stack.settings.database_url) as conn:
            for table in TABLES:
                count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
                assert count is not None and count[0] == load.rows[table] > 0, table
            busiest = conn.execute(
                "SELECT area FROM kpi_1d WHERE kpi = 'dossier.received' AND area <> '' AND dim = ''"
                " GROUP BY area ORDER BY sum(num) DESC LIMIT 1").fetchone()
            station_area = conn.execute(
                "SELECT area FROM sensor_1d WHERE metric = 'pm2_5' AND area <> '' LIMIT 1").fetchone()
            assert busiest is not None and station_area is not None
            for width, bucket in (("days", "1d"), ("hours", "1h")):
                for area in ("", busiest[0]):
                    scope = {"area": area} if area else {}
                    for kpi, columns in (("dossier.received", "sum(num)"),
                                         ("dossier.on_time_rate", "sum(num), sum(den)")):
                        expected = _minute_sums(
                            conn, "kpi_1m", "kpi = %s AND area = %s AND dim = ''",
                            (kpi, area), width, columns)
                        assert expected and _api(stack, kpi, gen, bucket, **scope) == expected
                        checked.append(f"{kpi} {bucket} {area or 'province'}")
                for area in ("", station_area[0]):
                    scope = {"area": area} if area else {}
                    expected = _minute_sums(
                        conn, "sensor_1m", "metric = 'pm2_5' AND area = %s AND station_id = ''",
                        (area,), width, "sum(readings)")
                    assert expected and _api(stack, "sensor.avg", gen, bucket, metric="pm2_5",
                                             **scope) == expected
                    checked.append(f"sensor.avg {bucket} {area or 'province'}")

    results = run_history_bench(["postgres"], days=2, province="31", requests=5, clients=2,
                                after_load=check)
    assert len(checked) == 12
    (result,) = results
    assert result.load.rows["kpi_1m"] > result.load.rows["kpi_1h"] > result.load.rows["kpi_1d"]
    assert 0 < result.load.active_unit_minutes < result.load.unit_minutes
    names = [name for name, _, _ in kinds()]
    assert set(names) < set(result.timings)
    assert all(len(result.timings[n]) == 5 for n in names)
    printed = "\n".join(summary_lines(results))
    for name in [*names, "wall subscribe → snapshot", "ws connect → first snapshot", "kpi_1m"]:
        line = next(line for line in printed.splitlines() if name in line)
        assert "PASS" in line or "FAIL" in line or "rows" in line
    out = capsys.readouterr().out
    assert "history: loaded" in out and "history: measuring 5 requests per kind" in out
