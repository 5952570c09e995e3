"""TimescaleDB layout: the retention and compression policies, kept in line with settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import psycopg

log = logging.getLogger(__name__)

RETAINED = ("kpi_1m", "sensor_1m")
"""Hypertables whose chunks are dropped after the minute retention (rollups are kept)."""
COMPRESSED = ("kpi_1m", "sensor_1m", "kpi_1h", "sensor_1h")


@dataclass(frozen=True, slots=True)
class Policies:
    retention: timedelta
    """1-minute chunks wholly older than this are dropped."""
    compress_after: timedelta
    """Chunks wholly older than this are compressed; beyond the lateness limit, so late
    events do not land in compressed chunks (TimescaleDB would accept them, more slowly)."""


def policies_for(lateness: timedelta, retention: timedelta) -> Policies:
    return Policies(retention=retention, compress_after=lateness + timedelta(days=1))


def _ensure_job(conn: psycopg.Connection, table: str, proc: str, key: str,
                value: timedelta) -> bool:
    """One policy job per table with ``config[key] == value``; returns whether it changed."""
    rows = conn.execute(
        "SELECT job_id, (config ->> %s)::interval FROM timescaledb_information.jobs"
        " WHERE proc_name = %s AND hypertable_name = %s", (key, proc, table)).fetchall()
    if len(rows) == 1 and rows[0][1] == value:
        return False
    for job_id, _ in rows:
        conn.execute("SELECT delete_job(%s)", (job_id,))
    if proc == "policy_retention":
        conn.execute("SELECT add_retention_policy(%s, drop_after => %s)", (table, value))
    else:
        conn.execute("SELECT add_compression_policy(%s, compress_after => %s)", (table, value))
    return True


def apply_policies(database_url: str, policies: Policies) -> list[str]:
    """Create or update the retention and compression jobs; returns the tables changed."""
    changed: list[str] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        for table in RETAINED:
            if _ensure_job(conn, table, "policy_retention", "drop_after", policies.retention):
                changed.append(f"{table}:retention")
        for table in COMPRESSED:
            if _ensure_job(conn, table, "policy_compression", "compress_after",
                           policies.compress_after):
                changed.append(f"{table}:compression")
    if changed:
        log.info("timescaledb policies set", extra={
            "policies": ",".join(changed), "retention_days": policies.retention.days,
            "compress_after_days": policies.compress_after.days})
    return changed
