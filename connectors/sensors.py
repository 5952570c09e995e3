"""Sensor networks over MQTT: readings into sensor.reading events.

``ioc connect sensors`` subscribes to ``IOC_MQTT_TOPIC`` (default ``sensors/#``) with QoS 1 in
a persistent session (fixed client id, clean_session off), so the MQTT broker keeps what
arrives while the connector is down. A station publishes one JSON message per measurement
round:

    {"station_id": "HD-AQ-288-01", "area": "288", "ts": "<RFC 3339>",
     "readings": {"pm2_5": 35.2, "pm10": 51.0, "temperature_c": 29.1}}

Each reading becomes one ``sensor.reading`` with id ``<station_id>:<metric>:<ts>``.

Durability does not depend on the MQTT broker redelivering unacknowledged messages (not
every broker does): each message is appended to a local spool file before the broker's
PUBACK is sent (paho sends it when ``on_message`` returns; the append is flushed to the OS,
so it survives the connector's death, not the machine's), and a publishing thread sends the
spool to Kafka in order, saving the spool offset it reached only after the acks. After a
crash it resumes from that offset; what it re-sends carries the same event ids, which the
stream worker counts once. A large, fully published spool starts afresh; offset 0 is saved
before the file is emptied, so a crash in between re-sends rather than skips. A message that cannot be
mapped goes to the dead-letter topic with the reason.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from kafka.errors import KafkaError
from paho.mqtt.enums import CallbackAPIVersion

from connectors.checkpoint import Checkpoint
from connectors.metrics import (
    CONNECTOR_ERRORS,
    SPOOL_BACKLOG_BYTES,
    SPOOL_BACKLOG_MESSAGES,
    error_kind,
)
from connectors.publisher import EventPublisher
from ioc.events import to_cloudevent, with_v1_area

log = logging.getLogger(__name__)


def reading_events(payload: bytes, source: str) -> list[dict[str, Any]] | str:
    """One station message as sensor.reading events, or why it cannot be mapped. Pure; each
    event is validated downstream like any other."""
    try:
        message = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return "the message is not UTF-8 JSON"
    if not isinstance(message, dict):
        return "the message must be a JSON object"
    message = with_v1_area(message)
    missing = [f for f in ("station_id", "area", "ts", "readings") if message.get(f) in (None, "")]
    if missing:
        return f"the message lacks {', '.join(missing)}"
    readings = message["readings"]
    if not isinstance(readings, dict) or not readings:
        return "'readings' must be a non-empty object of metric: value"
    station, ts = str(message["station_id"]), str(message["ts"])
    return [to_cloudevent(source=source, event_id=f"{station}:{metric}:{ts}", type_="sensor.reading",
                          time=ts, data={"station_id": station, "area": message["area"],
                                         "metric": metric, "value": value})
            for metric, value in readings.items()]


class Spool:
    """An append-only file of received messages (one base64 line each) and the offset up to
    which they are published."""

    def __init__(self, path: Path, checkpoint: Checkpoint, *,
                 compact_after_bytes: int = 64 * 1024 * 1024) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._checkpoint = checkpoint
        self._compact_after = compact_after_bytes
        self._lock = threading.Lock()
        self._file = open(path, "ab")  # noqa: SIM115 - held while running
        self.arrived = threading.Event()

    @property
    def published_offset(self) -> int:
        return int(self._checkpoint.load().get("offset", 0))

    def backlog(self) -> tuple[int, int]:
        """Bytes and messages received but not yet acknowledged by the broker (a line still
        being written is counted in the bytes, not the messages)."""
        size, messages = 0, 0
        with open(self._path, "rb") as src:  # append-only: read beside the writer, unlocked
            src.seek(self.published_offset)
            while chunk := src.read(1 << 20):
                size += len(chunk)
                messages += chunk.count(b"\n")
        return size, messages

    def export_backlog(self) -> None:
        """Serve the backlog in ioc_sensor_spool_backlog_bytes/_messages, read when scraped."""
        SPOOL_BACKLOG_BYTES.set_function(lambda: self.backlog()[0])
        SPOOL_BACKLOG_MESSAGES.set_function(lambda: self.backlog()[1])

    def append(self, payload: bytes) -> None:
        with self._lock:
            self._file.write(base64.b64encode(payload) + b"\n")
            self._file.flush()  # in the OS before the PUBACK: survives the process dying
        self.arrived.set()

    def read_from(self, offset: int, limit: int) -> tuple[list[bytes], int]:
        """Up to ``limit`` whole messages after ``offset``; returns them and the next offset."""
        out: list[bytes] = []
        with open(self._path, "rb") as src:
            src.seek(offset)
            while len(out) < limit:
                line = src.readline()
                if not line.endswith(b"\n"):
                    break  # nothing more, or a line still being written
                out.append(base64.b64decode(line))
                offset += len(line)
        return out, offset

    def mark_published(self, offset: int) -> None:
        """Record that the messages before ``offset`` are acked by the broker (call only after
        the acks). Once all are and the file is large, it starts afresh: the checkpoint says
        offset 0 before the file is emptied, so a crash in between re-sends the old messages
        (duplicates the worker ignores) instead of skipping the new ones."""
        with self._lock:
            if offset >= os.path.getsize(self._path) and offset > self._compact_after:
                self._checkpoint.save({"offset": 0})
                self._file.truncate(0)
                return
            self._checkpoint.save({"offset": offset})

    def close(self) -> None:
        self._file.close()


@dataclass(slots=True)
class SensorStats:
    messages: int = 0
    published: int = 0
    dead_lettered: int = 0


class SensorConnector:
    def __init__(self, publisher: EventPublisher, spool: Spool, source: str) -> None:
        self._publisher = publisher
        self._spool = spool
        self._source = source
        self.stats = SensorStats()

    def on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._spool.append(bytes(message.payload))

    def publish_pending(self, limit: int = 500) -> int:
        """Publish spooled messages after the saved offset; returns how many were handled."""
        start = self._spool.published_offset
        payloads, end = self._spool.read_from(start, limit)
        if not payloads:
            return 0
        events: list[dict[str, Any]] = []
        bad: list[tuple[bytes, str, str]] = []
        for payload in payloads:
            mapped = reading_events(payload, self._source)
            if isinstance(mapped, str):
                bad.append((payload, "unmappable_message", mapped))
            else:
                events.extend(mapped)
        self._publisher.send_mapped(events, bad, connector="sensors")
        self._spool.mark_published(end)
        self.stats.messages += len(payloads)
        self.stats.published += len(events)
        self.stats.dead_lettered += len(bad)
        return len(payloads)

    def run_publisher(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                handled = self.publish_pending()
            except KafkaError as exc:
                CONNECTOR_ERRORS.labels("sensors", error_kind(exc)).inc()
                log.warning("broker did not ack sensor events; retrying", extra={"error": repr(exc)})
                stop.wait(1.0)
                continue
            if not handled:
                self._spool.arrived.wait(0.5)
                self._spool.arrived.clear()


def mqtt_client(client_id: str, username: str, password: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    if username:
        client.username_pw_set(username, password or None)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


def run_sensors(publisher: EventPublisher, spool: Spool, *, source: str, host: str, port: int,
                topic: str, client_id: str, username: str, password: str,
                stop: threading.Event) -> SensorStats:
    connector = SensorConnector(publisher, spool, source)
    spool.export_backlog()
    client = mqtt_client(client_id, username, password)
    client.on_message = connector.on_message

    def on_connect(c: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        log.info("connected to the MQTT broker", extra={"host": host, "port": port, "topic": topic,
                                                          "reason": str(reason)})
        c.subscribe(topic, qos=1)

    def on_disconnect(c: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:  # not our own disconnect at shutdown: paho reconnects
            CONNECTOR_ERRORS.labels("sensors", "source").inc()
            log.warning("MQTT broker connection lost; reconnecting", extra={"reason": str(reason)})

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.connect(host, port, keepalive=30)
    client.loop_start()
    sender = threading.Thread(target=connector.run_publisher, args=(stop,), name="sensor-publisher")
    sender.start()
    try:
        stop.wait()
    finally:
        client.loop_stop()
        client.disconnect()
        sender.join(30)
        try:
            connector.publish_pending(limit=1_000_000)  # what arrived before the disconnect
        except KafkaError as exc:  # kept in the spool for the next start
            log.warning("spooled readings left for the next start", extra={"error": repr(exc)})
        spool.close()
    return connector.stats


def station_messages(events: list[dict[str, Any]]) -> Iterator[tuple[str, bytes]]:
    """Simulated sensor.reading events grouped into station messages (topic, payload)."""
    rounds: dict[tuple[str, str, str], dict[str, Any]] = {}
    for e in events:
        if e["type"] != "sensor.reading":
            continue
        d = e["data"]
        rounds.setdefault((d["station_id"], d["area"], e["time"]), {})[d["metric"]] = d["value"]
    for (station, area, ts), readings in rounds.items():
        yield (f"sensors/{area}/{station}",
               json.dumps({"station_id": station, "area": area, "ts": ts,
                           "readings": readings}).encode())
