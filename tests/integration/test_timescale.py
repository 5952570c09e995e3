"""The TimescaleDB layout: hypertables, compression and retention policies that follow the
settings, writes into compressed chunks, and the layout recorded once per database. Skipped,
saying why, when the embedded PostgreSQL has no TimescaleDB."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ioc.embedded.processes import wait_until
from ioc.kpis.buckets import Bucket
from ioc.kpis.counters import CellKey
from ioc.settings import Settings
from ioc.storage.kpi_cells import add_cells
from ioc.storage.layout import Layout, LayoutError, layout_of
from ioc.storage.lifecycle import maintain_for
from ioc.storage.migrate import bundled_migrations, migrate
from tests.integration.conftest import Services, skip_without_timescaledb

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(second=0, microsecond=0)


@pytest.fixture(scope="module")
def url(services: Services) -> str:
    skip_without_timescaledb(services)
    database_url = services.create_database("p_timescale")
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


def job_stats(conn: psycopg.Connection, jobs_: list[int]) -> dict[int, tuple[int, int, str]]:
    """{job: (total_runs, total_successes, job_status)} for the given jobs."""
    rows = conn.execute(
        "SELECT job_id, coalesce(total_runs, 0), coalesce(total_successes, 0), job_status"
        " FROM timescaledb_information.job_stats WHERE job_id = ANY(%s)", (jobs_,)).fetchall()
    return {job: (runs, successes, status) for job, runs, successes, status in rows}


def wait_first_runs(url: str) -> None:
    """Wait until the scheduler has run every policy once: a new job runs at once, and one
    running beside a test's own ``CALL run_job`` on the same chunk can deadlock with it.
    The next scheduled runs are then hours away."""
    def settled() -> bool:
        with psycopg.connect(url) as conn:
            ids = [row[0] for row in conn.execute(
                "SELECT job_id FROM timescaledb_information.jobs"
                " WHERE proc_name IN ('policy_retention', 'policy_compression')")]
            stats = job_stats(conn, ids)
        return len(stats) == 6 and all(runs >= 1 and status != "Running"
                                       for runs, _, status in stats.values())

    wait_until(settled, timeout_s=120, what="the policies' first scheduled runs", interval_s=0.2)


def test_jobs_compress_and_drop_chunks_and_writes_still_add_up(url: str) -> None:
    settings = Settings(database_url=url, minute_retention_days=35, lateness_limit_s=7 * 86400)
    maintain_for(settings, NOW)
    wait_first_runs(url)
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


def test_an_existing_database_converts_and_the_scheduler_runs_its_policies(
        services: Services) -> None:
    """The TimescaleDB twin of test_partitions: tables that already hold data become
    hypertables with it, and TimescaleDB's own job scheduler (not a test calling run_job)
    runs the retention and compression policies, again and again on their schedule."""
    skip_without_timescaledb(services)
    url = services.create_database("p_timescale_jobs")
    migrate(url, [m for m in bundled_migrations(Layout.TIMESCALEDB) if m.version < 5],
            layout="timescaledb")
    old, compressible, recent = cell(40 * 1440), cell(10 * 1440), cell(5)
    with psycopg.connect(url, autocommit=True) as conn:
        for key, num in ((old, 3), (compressible, 4), (recent, 5)):
            # written before migration 010 renamed the column
            conn.execute("INSERT INTO kpi_1m (kpi, district, dim, dim_value, bucket, num, den)"
                         " VALUES (%s, %s, '', '', %s, %s, 0)", (key.kpi, key.area, key.bucket, num))
    assert 5 in migrate(url, layout="timescaledb") and layout_of(url) is Layout.TIMESCALEDB
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT sum(num) FROM kpi_1m").fetchone() == (12,)
        assert conn.execute("SELECT count(*) FROM timescaledb_information.chunks"
                            " WHERE hypertable_name = 'kpi_1m'").fetchone() == (3,)
    maintain_for(Settings(database_url=url, minute_retention_days=35,
                          lateness_limit_s=7 * 86400), NOW)
    with psycopg.connect(url, autocommit=True) as conn:
        scheduled = conn.execute(
            "SELECT job_id, hypertable_name, scheduled, schedule_interval"
            " FROM timescaledb_information.jobs"
            " WHERE proc_name IN ('policy_retention', 'policy_compression')").fetchall()
        # As the product leaves them: every policy scheduled, at least daily.
        assert len(scheduled) == 6
        assert all(on and every <= timedelta(days=1) for _, _, on, every in scheduled), scheduled
        mine = [job for job, table, *_ in scheduled if table == "kpi_1m"]
        for job in mine:  # the schedule made short, so the test need not wait a day
            conn.execute("SELECT alter_job(%s, schedule_interval => interval '1 second',"
                         " next_start => now())", (job,))

    def ran_twice() -> bool:
        with psycopg.connect(url) as conn:
            stats = job_stats(conn, mine)
        # A retention run and a compression run that meet on the same old chunk can
        # deadlock; the scheduler retries the loser, so failures are allowed, not needed.
        return len(stats) == 2 and all(successes >= 2 for _, successes, _ in stats.values())

    wait_until(ran_twice, timeout_s=120, what="TimescaleDB's scheduler running the policies",
               interval_s=0.5)
    with psycopg.connect(url) as conn:
        assert dict(conn.execute("SELECT bucket, num FROM kpi_1m").fetchall()) == {
            compressible.bucket: 4, recent.bucket: 5}  # the 40-day chunk was dropped
        assert chunk_compressed(conn, compressible.bucket)
        assert not chunk_compressed(conn, recent.bucket)
