"""Messages about KPI and alert changes, as published for the wall and sent over the WebSocket,
and the format of the change topic: one definition of how they are packed into records
(:func:`pack_changes`) and read back (:func:`change_messages`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from ioc.kpis.catalogue import BY_ID, Kind, kpi_value
from ioc.kpis.gauges import GAUGE_KPIS
from ioc.kpis.sensors import SENSOR_KPIS, aggregate_value
from ioc.kpis.service_index import as_float, score
from ioc.storage.kpi_cells import StoredCell
from ioc.storage.sensor_cells import StoredSensorCell

log = logging.getLogger(__name__)


def local_iso(instant: datetime, utc_offset: timedelta) -> str:
    return instant.astimezone(timezone(utc_offset)).isoformat()


_bucket_iso = lru_cache(maxsize=4096)(local_iso)
""":func:`local_iso` of bucket starts: a batch's thousands of cells share a few starts."""


def change_message(cell: StoredCell, utc_offset: timedelta) -> dict[str, Any]:
    """The ``kpi`` message of the feed (docs/feed.md)."""
    kpi = BY_ID[cell.kpi]
    message: dict[str, Any] = {
        "type": "kpi",
        "kpi": cell.kpi,
        "area": cell.area or None,
        "bucket": str(cell.bucket_size),
        "start": _bucket_iso(cell.bucket, utc_offset),
        "value": kpi_value(kpi.kind, cell.num, cell.den),
        "version": cell.version,
    }
    if kpi.kind is Kind.RATIO:
        message["numerator"] = cell.num
        message["denominator"] = cell.den
    return message


_json_text = lru_cache(maxsize=4096)(json.dumps)
"""Compact JSON of a string a batch's messages repeat (KPI ids, area codes, instants)."""


def change_message_text(cell: StoredCell, utc_offset: timedelta, changed_at: str) -> str:
    """:func:`change_message` with ``changed_at``, as compact JSON text, written directly:
    a batch at 114 units publishes thousands of them, and building each as a dict for
    ``json.dumps`` was a tenth of the worker's time. ``tests/unit/test_changes.py`` holds it
    equal to the dict."""
    kpi = BY_ID[cell.kpi]
    value = kpi_value(kpi.kind, cell.num, cell.den)
    text = (f'{{"type":"kpi","kpi":{_json_text(cell.kpi)},'
            f'"area":{_json_text(cell.area) if cell.area else "null"},'
            f'"bucket":"{cell.bucket_size!s}",'
            f'"start":{_json_text(_bucket_iso(cell.bucket, utc_offset))},'
            f'"value":{"null" if value is None else repr(value)},"version":{cell.version:d}')
    if kpi.kind is Kind.RATIO:
        text += f',"numerator":{cell.num:d},"denominator":{cell.den:d}'
    return f'{text},"changed_at":{_json_text(changed_at)}}}'


def sensor_change_messages(cell: StoredSensorCell, utc_offset: timedelta) -> list[dict[str, Any]]:
    """One ``kpi`` message per sensor KPI for a province, area or station cell of one
    metric (a station's carries ``station`` and no area)."""
    messages: list[dict[str, Any]] = [{
        "type": "kpi",
        "kpi": kpi,
        "area": cell.key.area or None,
        "metric": cell.key.metric,
        "bucket": str(cell.bucket_size),
        "start": _bucket_iso(cell.key.bucket, utc_offset),
        "value": aggregate_value(kpi, cell.agg),
        "version": cell.version,
    } for kpi in SENSOR_KPIS]
    if cell.key.station_id:
        for message in messages:
            message["station"] = cell.key.station_id
    return messages


IndicatorRow = tuple[str, str, datetime, int, int, int]
"""A stored indicator cell: (kpi, area, bucket start, numerator, denominator, version)."""


def index_messages(rows: Iterable[IndicatorRow], bucket: str, utc_offset: timedelta,
                   versions: Mapping[tuple[str, datetime], int]) -> list[dict[str, Any]]:
    """``kpi`` messages of the service index and its groups (``index.value``,
    ``index.<group>``) for each (area, bucket start) the indicator cells of ``rows`` cover.
    Values are the doubles nearest the exact ones; the version of each (area, start) is
    ``versions``' (0 where absent), which the batch that changed it raised
    (ioc.storage.kpi_cells.bump_index_versions)."""
    grouped: dict[tuple[str, datetime], dict[str, tuple[int, int]]] = {}
    for kpi, area, start, num, den, _version in rows:
        grouped.setdefault((area, start), {})[kpi] = (num, den)
    messages = []
    for (area, start), counts in grouped.items():
        for kpi, value in score(counts).values().items():
            messages.append({"type": "kpi", "kpi": kpi, "area": area or None, "bucket": bucket,
                             "start": _bucket_iso(start, utc_offset), "value": as_float(value),
                             "version": versions.get((area, start), 0)})
    return messages


GAUGE_BUCKET = "now"
"""The ``bucket`` of a gauge's value at an instant (its ``start`` is that instant)."""


def gauge_messages(values: dict[tuple[str, str], int], scopes: list[str], at: datetime,
                   utc_offset: timedelta) -> list[dict[str, Any]]:
    """``kpi`` messages of the gauges at instant ``at``, for every scope (0 where absent)."""
    version = int(at.timestamp() * 1000)
    start = local_iso(at, utc_offset)
    return [{"type": "kpi", "kpi": kpi, "area": scope or None, "bucket": GAUGE_BUCKET,
             "start": start, "value": values.get((kpi, scope), 0),
             "version": version}
            for kpi in GAUGE_KPIS for scope in scopes]


def change_key(message: dict[str, Any]) -> str:
    """Identity of the value a message carries; the feed keeps only the latest per key.
    A gauge has one current value per scope, so its instant is not part of the key."""
    start = "" if message["bucket"] == GAUGE_BUCKET else message["start"]
    return (f"{message['kpi']}|{message['area'] or ''}|{message.get('metric', '')}"
            f"|{message['bucket']}|{start}|{message.get('station', '')}")


CHANGES_PER_RECORD = 500
"""A change record carries a JSON array of up to this many ``kpi`` messages (under 200 KB).
A batch of events changes thousands of cells; one Kafka record per cell made publishing
the worker's largest cost after validation. Consumers order by each message's version,
not by the record's partition or offset, so records need no key."""


def pack_changes(messages: Sequence[dict[str, Any]], changed_at: str | None = None) -> list[bytes]:
    """Change messages packed into the values of change-topic records (JSON arrays); each
    message gets ``changed_at`` (when its value was committed) when one is given."""
    return pack_texts([message_text(m, changed_at) for m in messages])


def message_text(message: dict[str, Any], changed_at: str | None = None) -> str:
    """One message as compact JSON text, with ``changed_at`` when one is given."""
    if changed_at is not None:
        message = {**message, "changed_at": changed_at}
    return json.dumps(message, separators=(",", ":"))


def pack_texts(texts: Sequence[str]) -> list[bytes]:
    """Messages already written as JSON text (:func:`change_message_text`), packed as
    :func:`pack_changes` packs them."""
    return [f"[{','.join(texts[i:i + CHANGES_PER_RECORD])}]".encode()
            for i in range(0, len(texts), CHANGES_PER_RECORD)]


def change_messages(value: bytes | None) -> list[dict[str, Any]]:
    """The messages (``kpi``, ``alert``) of one change record (a JSON array of them); an unreadable record
    is logged and skipped: it came from our own worker, so it is a bug, not bad input."""
    try:
        decoded = json.loads(value or b"")
    except ValueError:
        decoded = None
    if isinstance(decoded, list) and all(isinstance(m, dict) for m in decoded):
        return decoded
    log.warning("unreadable change record skipped", extra={"record_bytes": len(value or b"")})
    return []
