"""Migration 010 (issue 14): a database written before the rename, with its KPI cells,
sensor aggregates, dossier and station state kept per ``district`` and alert rules scoped
to 'districts', reads back whole after ``ioc migrate``, on both storage layouts (on
TimescaleDB with a compressed chunk among them)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from ioc.alerts.rules import RuleSpec
from ioc.kpis.buckets import Bucket
from ioc.storage import kpi_reads, partitions
from ioc.storage.alert_rules import load_rules
from ioc.storage.layout import Layout, RequestedLayout
from ioc.storage.migrate import bundled_migrations, migrate
from tests.integration.conftest import LAYOUTS, Services, skip_without_timescaledb

pytestmark = pytest.mark.integration

TABLES = ["kpi_1m", "kpi_1h", "kpi_1d", "sensor_1m", "sensor_1h", "sensor_1d", "dossier_state",
          "station_readings"]
OLD = (datetime.now(UTC) - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
V1_RULE = {"name": "v1 rule", "kpi": "dossier.on_time_rate", "bucket": "1d", "scope": "districts",
           "districts": ["288", "290"], "comparison": "below", "threshold": 90}


def columns(conn: psycopg.Connection, table: str) -> set[str]:
    rows = conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s",
                        (table,)).fetchall()
    return {r[0] for r in rows}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_data_written_per_district_reads_back_per_area(services: Services, layout: RequestedLayout) -> None:
    if layout == "timescaledb":
        skip_without_timescaledb(services)
    url = services.create_database(f"p_area_mig_{layout}")
    before = [m for m in bundled_migrations(Layout(layout)) if m.version < 10]
    migrate(url, before, layout=layout)
    if layout == "postgres":  # the day partitions, as the worker keeps them
        partitions.maintain(url, OLD, timedelta(days=7), timedelta(days=400))
    with psycopg.connect(url, autocommit=True) as conn:
        assert all("district" in columns(conn, t) for t in TABLES)
        for table, bucket in (("kpi_1m", OLD), ("kpi_1d", OLD - timedelta(days=1))):
            conn.execute(f"INSERT INTO {table} (kpi, district, dim, dim_value, bucket, num, den)"
                         " VALUES ('dossier.received', '288', '', '', %s, 7, 0),"
                         " ('dossier.received', '', '', '', %s, 9, 0)", (bucket, bucket))
        conn.execute("INSERT INTO alert_rules (name, spec) VALUES (%s, %s)",
                     (V1_RULE["name"], Jsonb(V1_RULE)))
        if layout == "timescaledb":
            conn.execute("SELECT compress_chunk(c) FROM show_chunks('kpi_1m') c")
            compressed = conn.execute("SELECT count(*) FROM timescaledb_information.chunks"
                                      " WHERE hypertable_name = 'kpi_1m' AND is_compressed").fetchone()
            assert compressed and compressed[0] == 1

    assert 10 in migrate(url, layout=layout)

    with psycopg.connect(url, autocommit=True) as conn:
        for table in TABLES:
            assert "area" in columns(conn, table) and "district" not in columns(conn, table), table

    async def read() -> tuple[list[int], list[int], list[RuleSpec]]:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            minute = await kpi_reads.series(conn, kpi="dossier.received", bucket=Bucket.MINUTE,
                                            area="288", start=OLD, end=OLD + timedelta(minutes=1))
            day = await kpi_reads.series(conn, kpi="dossier.received", bucket=Bucket.DAY, area="",
                                         start=OLD - timedelta(days=2), end=OLD)
            rules = await load_rules(conn)
        return [r.num for r in minute], [r.num for r in day], [r.rule.spec for r in rules]

    minute, day, specs = asyncio.run(read())
    assert minute == [7] and day == [9]
    v1 = next(s for s in specs if s.name == "v1 rule")
    assert v1.scope == "areas" and v1.areas == ["288", "290"]
