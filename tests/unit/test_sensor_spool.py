"""The sensors connector's spool: what is acked to the MQTT broker is on disk, and the
offset of what Kafka acked only moves forward over messages that were there (real files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.checkpoint import Checkpoint
from connectors.sensors import SensorConnector, Spool


class SizeAtSave(Checkpoint):
    """A checkpoint that also notes the spool's size each time it is saved."""

    def __init__(self, path: Path, spool_path: Path) -> None:
        super().__init__(path)
        self.spool_path = spool_path
        self.saves: list[tuple[int, int]] = []

    def save(self, state: dict[str, Any]) -> None:
        self.saves.append((state["offset"], self.spool_path.stat().st_size))
        super().save(state)


class Message:
    def __init__(self, payload: bytes) -> None:
        self.payload = payload


def test_a_message_is_in_the_spool_file_when_on_message_returns(tmp_path: Path) -> None:
    # paho sends the PUBACK of a QoS 1 message right after on_message returns (no manual ack).
    spool = Spool(tmp_path / "s.spool", Checkpoint(tmp_path / "s.json"))
    connector = SensorConnector(publisher=None, spool=spool, source="t")  # type: ignore[arg-type]
    connector.on_message(None, None, Message(b'{"station_id": "S1"}'))  # type: ignore[arg-type]
    reader = Spool(tmp_path / "s.spool", Checkpoint(tmp_path / "s.json"))  # another process's view
    assert reader.read_from(0, 10)[0] == [b'{"station_id": "S1"}']
    spool.close()
    reader.close()


def test_compaction_saves_offset_zero_before_emptying_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.spool"
    checkpoint = SizeAtSave(tmp_path / "s.json", path)
    spool = Spool(path, checkpoint, compact_after_bytes=100)
    for n in range(10):
        spool.append(b'{"n": %d}' % n)
    payloads, end = spool.read_from(0, 4)
    spool.mark_published(end)  # not all published: no compaction
    assert len(payloads) == 4 and spool.published_offset == end and path.stat().st_size > end
    payloads, end = spool.read_from(end, 100)
    assert len(payloads) == 6 and end == path.stat().st_size > 100
    spool.mark_published(end)
    # A crash between the two steps would leave offset 0 over the old messages: re-sent as
    # duplicates, never skipped.
    assert checkpoint.saves[-1] == (0, end)
    assert spool.published_offset == 0 and path.stat().st_size == 0
    spool.append(b'{"n": 10}')
    assert spool.read_from(spool.published_offset, 100)[0] == [b'{"n": 10}']
    spool.close()
