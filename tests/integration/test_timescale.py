"""The TimescaleDB layout: hypertables, compression and retention policies that follow the
settings, writes into compressed chunks, and the layout recorded once per database. Skipped,
saying why, when the embedded PostgreSQL has no TimescaleDB."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ioc.kpis.buckets import Bucket
from ioc.kpis.counters import CellKey
from ioc.settings import Settings
from ioc.storage.kpi_cells import add_cells
from ioc.storage.layout import Layout, LayoutError, layout_of
from ioc.storage.lifecycle import maintain_for
from ioc.storage.migrate import migrate
from tests.integration.conftest import Services, skip_without_timescaledb

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(second=0, microsecond=0)


@pytest.fixture(scope="module")
def url(services: Services) -> str:
    skip_without_timescaledb(services)
    database_url = services.database_url("p_timescale")
    migrate(database_url, layout="auto")
    return database_url


def jobs(conn: psycopg.Connection) -> dict[tuple[str, str], timedelta]:
    rows = conn.execute(
        "SELECT hypertable_name, proc_name, coalesce(config ->> 'drop_after',"
        " config ->> 'compress_after')::interval FROM timescaledb_information.jobs"
        " WHERE proc_name IN ('policy_retention', 'policy_compression')").fetchall()
    return {(table, proc): interval for table, proc, interval in rows}


def test_auto_takes_timescaledb_and_records_it(url: str) -> None:
    assert layout_of(url) is Layout.TIMESCALEDB
    with psycopg.connect(url) as conn:
        tables = dict(conn.execute(
            "SELECT hypertable_name, compression_enabled"
            " FROM timescaledb_information.hypertables").fetchall())
        dims = dict(conn.execute(
            "SELECT hypertable_name, time_interval FROM timescaledb_information.dimensions"
            " WHERE column_name = 'bucket'").fetchall())
    assert tables == {"kpi_1m": True, "sensor_1m": True, "kpi_1h": True, "sensor_1h": True,
                      "kpi_1d": False, "sensor_1d": False}
    assert dims["kpi_1m"] == timedelta(days=1) and dims["kpi_1h"] == timedelta(days=7)
    with pytest.raises(LayoutError, match="laid out for timescaledb"):
        migrate(url, layout="postgres")
    assert migrate(url, layout="timescaledb") == []  # the same layout: nothing to do


def test_policies_follow_the_settings(url: str) -> None:
    settings = Settings(database_url=url, minute_retention_days=35, lateness_limit_s=7 * 86400)
    done = maintain_for(settings, NOW)
    assert done.layout is Layout.TIMESCALEDB and done.created == [] and done.dropped == []
    with psycopg.connect(url) as conn:
        assert jobs(conn) == {
            ("kpi_1m", "policy_retention"): timedelta(days=35),
            ("sensor_1m", "policy_retention"): timedelta(days=35),
            **{(t, "policy_compression"): timedelta(days=8)
               for t in ("kpi_1m", "sensor_1m", "kpi_1h", "sensor_1h")},
        }
    assert maintain_for(settings, NOW).policies_changed == []  # idempotent
    longer = settings.model_copy(update={"minute_retention_days": 60, "lateness_limit_s": 3 * 86400})
    assert sorted(maintain_for(longer, NOW).policies_changed) == sorted(
        ["kpi_1m:retention", "sensor_1m:retention", "kpi_1m:compression",
         "sensor_1m:compression", "kpi_1h:compression", "sensor_1h:compression"])
    with psycopg.connect(url) as conn:
        current = jobs(conn)
    assert current[("kpi_1m", "policy_retention")] == timedelta(days=60)
    assert current[("kpi_1h", "policy_compression")] == timedelta(days=4)
    assert len(current) == 6
    maintain_for(settings, NOW)


def cell(minutes_ago: float) -> CellKey:
    return CellKey("dossier.received", "288", "", "", NOW - timedelta(minutes=minutes_ago))


def add(url: str, cells: dict[CellKey, tuple[int, int]]) -> dict[datetime, tuple[int, int]]:
    """Add through the worker's own write path; returns {bucket: (num, version)}."""
    async def run() -> dict[datetime, tuple[int, int]]:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            stored = await add_cells(conn, {Bucket.MINUTE: cells})
            await conn.commit()
        return {s.bucket: (s.num, s.version) for s in stored}
    return asyncio.run(run())


def chunk_compressed(conn: psycopg.Connection, at: datetime) -> bool:
    row = conn.execute(
        "SELECT is_compressed FROM timescaledb_information.chunks WHERE hypertable_name = 'kpi_1m'"
        " AND range_start <= %s AND %s < range_end", (at, at)).fetchone()
    assert row is not None
    return bool(row[0])


def test_jobs_compress_and_drop_chunks_and_writes_still_add_up(url: str) -> None:
    settings = Settings(database_url=url, minute_retention_days=35, lateness_limit_s=7 * 86400)
    maintain_for(settings, NOW)
    old, compressible, recent = cell(40 * 1440), cell(10 * 1440), cell(5)
    assert add(url, {old: (3, 0), compressible: (4, 0), recent: (5, 0)}) == {
        old.bucket: (3, 1), compressible.bucket: (4, 1), recent.bucket: (5, 1)}
    with psycopg.connect(url, autocommit=True) as conn:
        for proc in ("policy_retention", "policy_compression"):
            for (job,) in conn.execute(
                    "SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = %s"
                    " AND hypertable_name = 'kpi_1m'", (proc,)).fetchall():
                conn.execute("CALL run_job(%s)", (job,))
        rows = dict(conn.execute(
            "SELECT bucket, num FROM kpi_1m WHERE kpi = 'dossier.received'").fetchall())
        assert rows == {compressible.bucket: 4, recent.bucket: 5}  # the 40-day chunk is gone
        assert chunk_compressed(conn, compressible.bucket)
        assert not chunk_compressed(conn, recent.bucket)
    # A write into a compressed chunk (as with a longer lateness limit) still adds up.
    assert add(url, {compressible: (2, 0), recent: (1, 0)}) == {
        compressible.bucket: (6, 2), recent.bucket: (6, 2)}
    with psycopg.connect(url) as conn:
        assert dict(conn.execute(
            "SELECT bucket, num FROM kpi_1m WHERE kpi = 'dossier.received'").fetchall()) == {
            compressible.bucket: 6, recent.bucket: 6}
