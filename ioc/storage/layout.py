"""Which storage layout a database uses: TimescaleDB or plain PostgreSQL.

The layout is chosen once, when a database is first migrated, and recorded in it:
``auto`` takes TimescaleDB when the extension is installed and preloaded, plain PostgreSQL
otherwise. Later runs keep the recorded layout, so a database never changes shape under
running workers; asking for the other one explicitly is an error that says so.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

import psycopg

RequestedLayout = Literal["auto", "timescaledb", "postgres"]


class Layout(StrEnum):
    TIMESCALEDB = "timescaledb"
    POSTGRES = "postgres"


class LayoutError(RuntimeError):
    """The database cannot have, or does not have, the layout asked for."""


FIRST_LAYOUT_VERSION = 5
"""Migrations from this version on may differ by layout; a database migrated past it before
layouts were recorded is plain PostgreSQL."""


def timescaledb_missing(conn: psycopg.Connection) -> str | None:
    """Why TimescaleDB cannot be used on this server, or None when it can."""
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone():
        return None
    if not conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone():
        return "the timescaledb extension is not installed on this PostgreSQL server"
    row = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()
    preloaded = {lib.strip() for lib in (row[0] if row else "").split(",")}
    if "timescaledb" not in preloaded:
        return "timescaledb is installed but not in shared_preload_libraries"
    return None


def recorded(conn: psycopg.Connection) -> Layout | None:
    """The layout recorded in this database, if any."""
    exists = conn.execute("SELECT to_regclass('storage_layout') IS NOT NULL").fetchone()
    if not (exists and exists[0]):
        return None
    row = conn.execute("SELECT layout FROM storage_layout").fetchone()
    return Layout(row[0]) if row else None


def resolve(conn: psycopg.Connection, requested: RequestedLayout,
            applied_versions: set[int]) -> Layout:
    """The layout to migrate with; records it on first use. Call under the migration lock."""
    conn.execute("CREATE TABLE IF NOT EXISTS storage_layout ("
                 " singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),"
                 " layout text NOT NULL CHECK (layout IN ('timescaledb', 'postgres')),"
                 " chosen_at timestamptz NOT NULL DEFAULT now())")
    stored = recorded(conn)
    if stored is None and any(v >= FIRST_LAYOUT_VERSION for v in applied_versions):
        stored = Layout.POSTGRES  # migrated before layouts were recorded
        conn.execute("INSERT INTO storage_layout (layout) VALUES (%s)", (stored.value,))
    if stored is not None:
        if requested != "auto" and requested != stored.value:
            raise LayoutError(
                f"this database was laid out for {stored.value}; IOC_STORAGE_LAYOUT={requested}"
                " cannot change that (use a new database, or set it to auto)")
        return stored
    missing = timescaledb_missing(conn)
    if requested == "timescaledb" and missing:
        raise LayoutError(f"IOC_STORAGE_LAYOUT=timescaledb, but {missing}")
    chosen = Layout.POSTGRES if requested == "postgres" or missing else Layout.TIMESCALEDB
    conn.execute("INSERT INTO storage_layout (layout) VALUES (%s)", (chosen.value,))
    return chosen


def layout_of(database_url: str) -> Layout:
    """The layout recorded in a migrated database."""
    with psycopg.connect(database_url) as conn:
        stored = recorded(conn)
    if stored is None:
        raise LayoutError("the database has not been migrated: run `ioc migrate`")
    return stored
