"""What the batch processor needs from Kafka: publish records and wait for the broker's acks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ioc.changes import message_text, pack_texts


@dataclass(frozen=True, slots=True)
class OutRecord:
    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


def change_records(topic: str, messages: Sequence[dict[str, Any]],
                   changed_at: str | None = None) -> list[OutRecord]:
    """Change messages as records of the change topic (packed as :func:`ioc.changes.pack_changes`
    packs them)."""
    return change_text_records(topic, [message_text(m, changed_at) for m in messages])


class Publisher(Protocol):
    async def publish(self, records: Sequence[OutRecord]) -> None:
        """Send all records; return once the broker acknowledged every one."""
        ...


def change_text_records(topic: str, texts: Sequence[str]) -> list[OutRecord]:
    """Change messages already written as JSON text, as records of the change topic."""
    return [OutRecord(topic, None, value) for value in pack_texts(texts)]
