"""What the batch processor needs from Kafka: publish records and wait for the broker's acks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ioc.changes import change_key


@dataclass(frozen=True, slots=True)
class OutRecord:
    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


def change_records(topic: str, messages: Sequence[dict[str, Any]]) -> list[OutRecord]:
    """KPI change messages as records of the change topic, keyed by what they carry."""
    return [OutRecord(topic, change_key(m).encode(), json.dumps(m, separators=(",", ":")).encode())
            for m in messages]


class Publisher(Protocol):
    async def publish(self, records: Sequence[OutRecord]) -> None:
        """Send all records; return once the broker acknowledged every one."""
        ...
