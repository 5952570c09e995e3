"""Plain PostgreSQL layout: day partitions of the 1-minute tables, created ahead of the events
and dropped by retention."""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, timedelta

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

PARTITIONED = ("kpi_1m", "sensor_1m")
AHEAD_DAYS = 2
_NAME = re.compile(r"^(?P<parent>\w+)_p(?P<day>\d{8})$")


def days_needed(now: datetime, lateness: timedelta) -> list[date]:
    """Every UTC day an accepted event can fall in (lateness limit back, a little ahead)."""
    first = (now - lateness - timedelta(days=1)).astimezone(UTC).date()
    last = (now + timedelta(days=AHEAD_DAYS)).astimezone(UTC).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def maintain(database_url: str, now: datetime, lateness: timedelta,
             retention: timedelta) -> tuple[list[str], list[str]]:
    """Create the partitions events need; drop those wholly older than the retention.
    Returns (created, dropped)."""
    created: list[str] = []
    dropped: list[str] = []
    cutoff = (now - retention).astimezone(UTC).date()
    with psycopg.connect(database_url, autocommit=True) as conn:
        existing = {row[0] for row in conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = ANY(%s)",
            (list(PARTITIONED),))}
        for parent in PARTITIONED:
            for day in days_needed(now, lateness):
                name = f"{parent}_p{day:%Y%m%d}"
                if name not in existing and day >= cutoff:
                    conn.execute("SELECT ioc_ensure_day_partition(%s, %s)", (parent, day))
                    created.append(name)
        for name in sorted(existing):
            match = _NAME.match(name)
            if match and match["parent"] in PARTITIONED:
                day = datetime.strptime(match["day"], "%Y%m%d").date()
                if day + timedelta(days=1) <= cutoff:
                    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
                    dropped.append(name)
    if created or dropped:
        log.info("partitions maintained", extra={"partitions_created": len(created),
                                                 "partitions_dropped": ",".join(dropped)})
    return created, dropped
