"""What the batch processor needs from Kafka: publish records and wait for the broker's acks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class OutRecord:
    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


CHANGES_PER_RECORD = 500
"""A change record carries a JSON array of up to this many ``kpi`` messages (under 200 KB).
A batch of events changes thousands of cells; one Kafka record per cell made publishing
the worker's largest cost after validation. Consumers order by each message's version,
not by the record's partition or offset, so records need no key."""


def change_records(topic: str, messages: Sequence[dict[str, Any]],
                   changed_at: str | None = None) -> list[OutRecord]:
    """KPI change messages packed into records of the change topic (JSON arrays); each
    message gets ``changed_at`` (when its value was committed) when one is given."""
    if changed_at is not None:
        messages = [{**m, "changed_at": changed_at} for m in messages]
    return [OutRecord(topic, None, json.dumps(list(messages[i:i + CHANGES_PER_RECORD]),
                                              separators=(",", ":")).encode())
            for i in range(0, len(messages), CHANGES_PER_RECORD)]


class Publisher(Protocol):
    async def publish(self, records: Sequence[OutRecord]) -> None:
        """Send all records; return once the broker acknowledged every one."""
        ...
