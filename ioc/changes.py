"""Messages about KPI and alert changes, as published for the wall and sent over the WebSocket,
and the format of the change topic: one definition of how they are packed into records
(:func:`pack_changes`) and read back (:func:`change_messages`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from ioc.kpis.catalogue import BY_ID, kpi_value
from ioc.kpis.gauges import GAUGE_KPIS
from ioc.kpis.sensors import SENSOR_KPIS, aggregate_value
from ioc.storage.kpi_cells import StoredCell
from ioc.storage.sensor_cells import StoredSensorCell

log = logging.getLogger(__name__)


def local_iso(instant: datetime, utc_offset: timedelta) -> str:
    return instant.astimezone(timezone(utc_offset)).isoformat()


def change_message(cell: StoredCell, utc_offset: timedelta) -> dict[str, Any]:
    """The ``kpi`` message of the feed (docs/feed.md)."""
    kpi = BY_ID[cell.kpi]
    message: dict[str, Any] = {
        "type": "kpi",
        "kpi": cell.kpi,
        "area": cell.area or None,
        "bucket": cell.bucket_size.value,
        "start": local_iso(cell.bucket, utc_offset),
        "value": kpi_value(kpi.kind, cell.num, cell.den),
        "version": cell.version,
    }
    if kpi.kind.value == "ratio":
        message["numerator"] = cell.num
        message["denominator"] = cell.den
    return message


def sensor_change_messages(cell: StoredSensorCell, utc_offset: timedelta) -> list[dict[str, Any]]:
    """One ``kpi`` message per sensor KPI for a province, area or station cell of one
    metric (a station's carries ``station`` and no area)."""
    messages: list[dict[str, Any]] = [{
        "type": "kpi",
        "kpi": kpi,
        "area": cell.key.area or None,
        "metric": cell.key.metric,
        "bucket": cell.bucket_size.value,
        "start": local_iso(cell.key.bucket, utc_offset),
        "value": aggregate_value(kpi, cell.agg),
        "version": cell.version,
    } for kpi in SENSOR_KPIS]
    if cell.key.station_id:
        for message in messages:
            message["station"] = cell.key.station_id
    return messages


GAUGE_BUCKET = "now"
"""The ``bucket`` of a gauge's value at an instant (its ``start`` is that instant)."""


def gauge_messages(values: dict[tuple[str, str], int], scopes: list[str], at: datetime,
                   utc_offset: timedelta) -> list[dict[str, Any]]:
    """``kpi`` messages of the gauges at instant ``at``, for every scope (0 where absent)."""
    version = int(at.timestamp() * 1000)
    return [{"type": "kpi", "kpi": kpi, "area": scope or None, "bucket": GAUGE_BUCKET,
             "start": local_iso(at, utc_offset), "value": values.get((kpi, scope), 0),
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
    if changed_at is not None:
        messages = [{**m, "changed_at": changed_at} for m in messages]
    return [json.dumps(list(messages[i:i + CHANGES_PER_RECORD]), separators=(",", ":")).encode()
            for i in range(0, len(messages), CHANGES_PER_RECORD)]


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
