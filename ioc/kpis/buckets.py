"""Bucket arithmetic: 1m, 1h aligned to the hour, 1d from local midnight (half-open)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum


class Bucket(StrEnum):
    MINUTE = "1m"
    HOUR = "1h"
    DAY = "1d"

    @classmethod
    def of_text(cls, text: str) -> Bucket:
        """The size a stored text names: a dict lookup, cheaper than ``Bucket(text)`` for
        the thousands of rows a batch reads back."""
        return _BY_TEXT[text]

    @property
    def seconds(self) -> int:
        return {"1m": 60, "1h": 3600, "1d": 86400}[self.value]


_BY_TEXT = {size.value: size for size in Bucket}


def bucket_start(instant: datetime, bucket: Bucket, utc_offset: timedelta) -> datetime:
    """Start (UTC) of the bucket holding ``instant``; days run local midnight to midnight."""
    if instant.tzinfo is None:
        raise ValueError("bucket_start needs a timezone-aware instant")
    offset = int(utc_offset.total_seconds())
    epoch = int(instant.timestamp() // 1)  # whole seconds; sub-second never crosses a boundary
    local = epoch + offset
    start = local - local % bucket.seconds - offset
    return datetime.fromtimestamp(start, UTC)


def bucket_range(
    start: datetime, end: datetime, bucket: Bucket, utc_offset: timedelta
) -> tuple[datetime, datetime]:
    """Align [start, end) outward to whole buckets."""
    first = bucket_start(start, bucket, utc_offset)
    last = bucket_start(end, bucket, utc_offset)
    if last < end:
        last += timedelta(seconds=bucket.seconds)
    return first, last
