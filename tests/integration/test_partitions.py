"""Day partitions of the 1-minute tables on plain PostgreSQL: an existing table is converted
with its data, partitions are created ahead, and retention drops whole old days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from ioc.storage.layout import Layout, LayoutError, layout_of
from ioc.storage.migrate import bundled_migrations, migrate
from ioc.storage.partitions import days_needed, maintain
from tests.integration.conftest import Services

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def partitions(conn: psycopg.Connection, parent: str) -> list[str]:
    return sorted(row[0] for row in conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s", (parent,)))


def test_conversion_creation_ahead_and_retention(services: Services) -> None:
    url = services.create_database("p_partitions")
    before = [m for m in bundled_migrations() if m.version < 5]
    migrate(url, before, layout="postgres")
    old, recent = NOW - timedelta(days=40), NOW - timedelta(hours=1)
    with psycopg.connect(url, autocommit=True) as conn:
        for bucket, num in ((old, 3), (recent, 5)):
            # written before migration 010 renamed the column
            conn.execute("INSERT INTO kpi_1m (kpi, district, dim, dim_value, bucket, num, den)"
                         " VALUES ('dossier.received', '', '', '', %s, %s, 0)", (bucket, num))
        conn.execute("INSERT INTO sensor_1m (metric, district, station_id, bucket, readings, total,"
                     " low, high) VALUES ('pm2_5', '', '', %s, 2, 81.2, 40.1, 41.1)", (recent,))

    assert migrate(url, layout="postgres") == [m.version for m in bundled_migrations()
                                                if m.version >= 5 and m.layout in (None, Layout.POSTGRES)]
    assert layout_of(url) is Layout.POSTGRES
    with pytest.raises(LayoutError, match="laid out for postgres"):
        migrate(url, layout="timescaledb")
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT relkind FROM pg_class WHERE relname = 'kpi_1m'").fetchone() == ("p",)
        assert partitions(conn, "kpi_1m") == ["kpi_1m_p20261013", "kpi_1m_p20261122"]
        assert conn.execute("SELECT sum(num) FROM kpi_1m").fetchone() == (8,)
        assert conn.execute("SELECT total FROM sensor_1m").fetchone()[0] == Decimal("81.2")

    created, dropped = maintain(url, NOW, timedelta(days=7), timedelta(days=35))
    assert dropped == ["kpi_1m_p20261013"]
    assert "kpi_1m_p20261122" not in created and "sensor_1m_p20261123" in created
    needed = days_needed(NOW, timedelta(days=7))
    assert needed[0] <= (NOW - timedelta(days=7)).date() and needed[-1] >= (NOW + timedelta(days=1)).date()
    with psycopg.connect(url) as conn:
        names = set(partitions(conn, "kpi_1m")) | set(partitions(conn, "sensor_1m"))
        assert {f"{t}_p{d:%Y%m%d}" for t in ("kpi_1m", "sensor_1m") for d in needed} <= names
        assert conn.execute("SELECT sum(num) FROM kpi_1m").fetchone() == (5,)
    assert maintain(url, NOW, timedelta(days=7), timedelta(days=35)) == ([], [])  # idempotent
