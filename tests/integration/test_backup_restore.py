"""Backup and restore as docs/operations.md says: `pg_dump --format=custom` of a pipeline's
database after it processed a stream, `pg_restore` into a fresh PostgreSQL server, an API on
the restored database: every KPI series it serves is identical to the original's (and to
the independent recomputation). On TimescaleDB the restore is wrapped in
timescaledb_pre_restore()/timescaledb_post_restore()."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest

from ioc.embedded.postgres import EmbeddedPostgres, pg_bin_dir
from ioc.embedded.processes import free_port, http_ok, wait_until
from ioc.geography import HISTORIC, load_geography
from ioc.storage.offsets import all_positions
from tests.generator import generate_stream
from tests.integration.conftest import (
    LAYOUTS,
    Pipeline,
    Services,
    layout_pipeline,
)
from tests.integration.kpi_check import api_cells, api_sensor_values
from tests.reference_kpis import accepted_events, expected_cells, expected_sensor_values

pytestmark = pytest.mark.integration

REF = load_geography(HISTORIC)
NOW = datetime.now(UTC)
STREAM = generate_stream(47, NOW, 6_000)


@pytest.fixture(scope="module", params=LAYOUTS)
def pipeline(services: Services, request: pytest.FixtureRequest) -> Iterator[Pipeline]:
    with layout_pipeline(services, "p_backup", request.param) as pipe:
        pipe.publish(STREAM)
        pipe.wait_processed()
        yield pipe


def restore(dump: str, url: str, timescaledb: bool) -> None:
    """The commands of docs/operations.md, "Backups and restore"."""
    if timescaledb:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            conn.execute("SELECT timescaledb_pre_restore()")
    subprocess.run([str(pg_bin_dir() / "pg_restore"), "--no-owner", "--exit-on-error",
                    f"--dbname={url}", dump], check=True, capture_output=True, timeout=600)
    if timescaledb:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SELECT timescaledb_post_restore()")


def test_a_restore_into_a_fresh_server_serves_identical_kpis(
        pipeline: Pipeline, services: Services) -> None:
    dump = str(pipeline.root / "ioc.dump")
    subprocess.run([str(pg_bin_dir() / "pg_dump"), "--format=custom", f"--file={dump}",
                    pipeline.settings.database_url], check=True, capture_output=True, timeout=600)

    fresh = EmbeddedPostgres(pipeline.root / "restored-pg", free_port(),
                             pipeline.root / "restored-pg.log")
    fresh.start()
    try:
        restore(dump, fresh.url, timescaledb="timescaledb" in pipeline.name)
        port = free_port()
        proc = pipeline.spawn("api-restored", "api", "--port", str(port),
                              env={"IOC_DATABASE_URL": fresh.url})
        restored = dataclasses.replace(pipeline, api_url=f"http://127.0.0.1:{port}", procs={})
        wait_until(lambda: http_ok(f"{restored.api_url}/readyz"), timeout_s=60,
                   what="the API on the restored database", alive=lambda: proc.poll() is None)

        original = api_cells(pipeline, NOW)
        expected = dict(expected_cells(accepted_events(STREAM, set(REF.area_codes), NOW)))
        assert original == expected  # the original was exact before the backup
        assert api_cells(restored, NOW) == original  # the same tokens work: keys are restored
        sensors = expected_sensor_values(accepted_events(STREAM, set(REF.area_codes), NOW))
        metrics = sorted({k[1] for k in sensors})
        stations = sorted({k[3] for k in sensors if k[3]})
        assert (api_sensor_values(restored, NOW, metrics, stations)
                == api_sensor_values(pipeline, NOW, metrics, stations) == sensors)
        with psycopg.connect(fresh.url) as conn, psycopg.connect(pipeline.settings.database_url) as old:
            assert all_positions(conn) == all_positions(old)
    finally:
        if "api-restored" in pipeline.procs:
            pipeline.stop("api-restored")
        fresh.stop()
