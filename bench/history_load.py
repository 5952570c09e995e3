"""Loading generated history into storage with COPY, and bringing it to its production state.

Days are generated in a thread (or read back from a cache of a previous layout's run) while
the main thread COPYs the previous day, so PostgreSQL and the generator overlap. On plain
PostgreSQL the day partitions of the 1-minute tables are created first (the worker only
creates those of the lateness window); on TimescaleDB, after loading, the layout's policies
are set as the worker sets them (``ioc.storage.lifecycle.maintain_for``) and the chunks
older than the policy's ``compress_after`` are compressed at once rather than waiting for
the job, so what is measured is what production holds. Both layouts are ANALYZEd (what
autovacuum would do after such a load).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from tqdm import tqdm

from bench.history_data import KPI_COLUMNS, SENSOR_COLUMNS, TABLES, DayRows, HistoryGenerator
from ioc.settings import Settings
from ioc.storage.layout import Layout, layout_of
from ioc.storage.lifecycle import maintain_for
from ioc.storage.timescale import COMPRESSED, policies_for

CHUNK = 8 << 20
"""Bytes per COPY write."""


@dataclass
class LoadResult:
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    events: int = 0
    readings: int = 0
    unit_minutes: int = 0
    active_unit_minutes: int = 0
    load_s: float = 0.0
    compress_s: float = 0.0
    analyze_s: float = 0.0
    bytes: dict[str, int] = field(default_factory=dict)
    compressed_chunks: int = 0


@dataclass
class CachedDay:
    """A day's COPY text per table, from memory or from a previous layout's cache files."""

    start: datetime
    texts: dict[str, bytes]
    counts: tuple[int, int, int, int]
    """Events, readings, unit-minutes, unit-minutes with events."""


def _days(gen: HistoryGenerator, cache: Path | None) -> Iterator[CachedDay]:
    """Each day of the window: read from ``cache`` when a previous layout wrote it, else
    generated (and written there for the next layout)."""
    for start in gen.day_starts():
        stem = f"{int(start.timestamp())}"
        done = cache / f"{stem}.done" if cache else None
        if cache is not None and done is not None and done.exists():
            e, r, u, a = (int(x) for x in done.read_text().split())
            yield CachedDay(start, {t: (cache / f"{stem}.{t}").read_bytes() for t in TABLES},
                            (e, r, u, a))
            continue
        rows: DayRows = gen.day(start)
        texts = {t: rows.text(t) for t in TABLES}
        counts = (rows.events, rows.readings, rows.unit_minutes, rows.active_unit_minutes)
        if cache is not None and done is not None:
            for table, text in texts.items():
                (cache / f"{stem}.{table}").write_bytes(text)
            done.write_text(" ".join(str(c) for c in counts))
        yield CachedDay(start, texts, counts)


def _ahead(days: Iterator[CachedDay]) -> Iterator[CachedDay]:
    """The days produced in a thread, one ahead of the consumer."""
    q: queue.Queue[CachedDay | BaseException | None] = queue.Queue(maxsize=1)

    def produce() -> None:
        try:
            for day in days:
                q.put(day)
            q.put(None)
        except BaseException as exc:  # handed to the consumer, re-raised there
            q.put(exc)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    while True:
        item = q.get()
        if item is None:
            break
        if isinstance(item, BaseException):
            raise item
        yield item
    thread.join()


def create_day_partitions(conn: psycopg.Connection, gen: HistoryGenerator) -> int:
    """Plain PostgreSQL: a partition of each 1-minute table for every UTC day of the window."""
    day = gen.start.astimezone(UTC).date()
    last = gen.end.astimezone(UTC).date()
    made = 0
    while day <= last:
        for parent in ("kpi_1m", "sensor_1m"):
            conn.execute("SELECT ioc_ensure_day_partition(%s, %s)", (parent, day))
            made += 1
        day += timedelta(days=1)
    return made


def copy_text(conn: psycopg.Connection, table: str, text: bytes) -> None:
    columns = KPI_COLUMNS if table.startswith("kpi") else SENSOR_COLUMNS
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for i in range(0, len(text), CHUNK):
            copy.write(text[i:i + CHUNK])


def load_history(settings: Settings, gen: HistoryGenerator, cache: Path | None) -> LoadResult:
    """COPY every day of ``gen`` into the database of ``settings``; then compress (TimescaleDB)
    and ANALYZE. Prints progress."""
    result = LoadResult()
    layout = layout_of(settings.database_url)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        if layout is Layout.POSTGRES:
            print(f"history: {create_day_partitions(conn, gen)} day partitions created", flush=True)
        t0 = time.perf_counter()
        days = gen.day_starts()
        bar = tqdm(total=len(days), unit="day", desc=f"history: COPY ({layout.value})",
                   mininterval=5)
        for day in _ahead(_days(gen, cache)):
            with conn.transaction():
                for table in TABLES:
                    copy_text(conn, table, day.texts[table])
                    result.rows[table] += day.texts[table].count(b"\n")
            result.events += day.counts[0]
            result.readings += day.counts[1]
            result.unit_minutes += day.counts[2]
            result.active_unit_minutes += day.counts[3]
            bar.update(1)
            bar.set_postfix(rows=f"{sum(result.rows.values()):,}")
        bar.close()
        result.load_s = time.perf_counter() - t0
        print(f"history: loaded {sum(result.rows.values()):,} rows in {result.load_s:.0f} s", flush=True)
        if layout is Layout.TIMESCALEDB:
            result.compressed_chunks, result.compress_s = _compress(conn, settings)
        t0 = time.perf_counter()
        for table in TABLES:
            conn.execute(f"ANALYZE {table}")
        result.analyze_s = time.perf_counter() - t0
        result.bytes = {t: table_bytes(conn, t, layout) for t in TABLES}
    return result


def _compress(conn: psycopg.Connection, settings: Settings) -> tuple[int, float]:
    """Compress what the layout's compression policy would (chunks older than its
    ``compress_after``), then set the policies as the worker does. In that order: a policy
    job starts at once and would race the explicit compression for the same chunks."""
    after = policies_for(timedelta(seconds=settings.lateness_limit_s),
                         timedelta(days=settings.minute_retention_days)).compress_after
    t0 = time.perf_counter()
    chunks = 0
    for table in COMPRESSED:
        names = [r[0] for r in conn.execute(
            "SELECT c::text FROM show_chunks(%s::regclass, older_than => %s) c", (table, after))]
        for name in tqdm(names, desc=f"history: compress {table}", unit="chunk", mininterval=5):
            try:
                conn.execute("SELECT compress_chunk(%s::regclass, if_not_compressed => true)", (name,))
            except psycopg.errors.DuplicateObject:  # compressed meanwhile by a policy job
                continue
            chunks += 1
    seconds = time.perf_counter() - t0
    maintain_for(settings, datetime.now(UTC))
    print(f"history: compressed {chunks} chunks older than {after.days} days (the policy's "
          f"compress_after) in {seconds:.0f} s; policies set", flush=True)
    return chunks, seconds


def table_bytes(conn: psycopg.Connection, table: str, layout: Layout) -> int:
    """On-disk size with indexes (a hypertable's chunks, a partitioned table's partitions)."""
    if layout is Layout.TIMESCALEDB:
        row = conn.execute("SELECT hypertable_size(%s::regclass)", (table,)).fetchone()
    else:
        row = conn.execute(
            "SELECT pg_total_relation_size(%s::regclass) + coalesce((SELECT"
            " sum(pg_total_relation_size(inhrelid)) FROM pg_inherits"
            " WHERE inhparent = %s::regclass), 0)", (table, table)).fetchone()
    return int(row[0] or 0) if row else 0
