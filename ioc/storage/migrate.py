"""Versioned, idempotent migrations, applied once each, in order.

``NNN_name.sql`` applies to every layout; ``NNN_name.<layout>.sql`` only to that layout
(TimescaleDB or plain PostgreSQL), and a version given per layout must exist for both.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import psycopg

from ioc.storage.alert_rules import seed_default_rules
from ioc.storage.layout import Layout, RequestedLayout, resolve

log = logging.getLogger(__name__)

_LOCK_ID = 0x10C_0001  # advisory lock: one migrator at a time
_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)(?:\.(timescaledb|postgres))?\.sql$")


AFTER: dict[int, Callable[[psycopg.Connection], object]] = {8: seed_default_rules}
"""Data a migration adds, in its transaction (so once: a rule an admin deletes stays deleted)."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str
    layout: Layout | None = None  # None: every layout


def bundled_migrations(layout: Layout = Layout.POSTGRES) -> list[Migration]:
    """The bundled migrations that apply to ``layout``, in version order."""
    found: dict[int, list[Migration]] = {}
    for entry in resources.files("ioc.storage.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.setdefault(int(match[1]), []).append(Migration(
                int(match[1]), match[2], entry.read_text(encoding="utf-8"),
                Layout(match[3]) if match[3] else None))
    chosen: list[Migration] = []
    for version, candidates in sorted(found.items()):
        layouts = sorted(str(m.layout) for m in candidates)
        if layouts not in (["None"], sorted(str(v) for v in Layout)):
            raise RuntimeError(f"migration {version:03d} must be one common file or one per layout")
        chosen.extend(m for m in candidates if m.layout in (None, layout))
    return chosen


def migrate(database_url: str, migrations: list[Migration] | None = None,
            layout: RequestedLayout = "auto") -> list[int]:
    """Apply every migration not applied yet; returns the versions applied now."""
    applied_now: list[int] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version int PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            chosen = resolve(conn, layout, done)
            todo = bundled_migrations(chosen) if migrations is None else migrations
            for migration in todo:
                if migration.layout not in (None, chosen):
                    raise RuntimeError(f"migration {migration.version} is for {migration.layout}")
                if migration.version in done:
                    continue
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    if migration.version in AFTER:
                        AFTER[migration.version](conn)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
                log.info("migration applied", extra={"version": migration.version,
                                                     "migration": migration.name,
                                                     "layout": chosen.value})
                applied_now.append(migration.version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied_now
