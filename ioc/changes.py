"""Messages about KPI changes, as published for the wall and sent over the WebSocket."""

from __future__ import annotations

import json
import logging
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
        "district": cell.district or None,
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
    """One ``kpi`` message per sensor KPI for a province, district or station cell of one
    metric (a station's carries ``station`` and no district)."""
    messages: list[dict[str, Any]] = [{
        "type": "kpi",
        "kpi": kpi,
        "district": cell.key.district or None,
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
    return [{"type": "kpi", "kpi": kpi, "district": scope or None, "bucket": GAUGE_BUCKET,
             "start": local_iso(at, utc_offset), "value": values.get((kpi, scope), 0),
             "version": version}
            for kpi in GAUGE_KPIS for scope in scopes]


def change_key(message: dict[str, Any]) -> str:
    """Identity of the value a message carries; the feed keeps only the latest per key.
    A gauge has one current value per scope, so its instant is not part of the key."""
    start = "" if message["bucket"] == GAUGE_BUCKET else message["start"]
    return (f"{message['kpi']}|{message['district'] or ''}|{message.get('metric', '')}"
            f"|{message['bucket']}|{start}|{message.get('station', '')}")


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
