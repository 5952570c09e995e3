"""File replay: a history of CloudEvents (NDJSON or CSV) into the events topic, for backfills.

NDJSON: one CloudEvent per line, published byte for byte. CSV: a header row; columns
``id``, ``source``, ``type``, ``time`` (``specversion`` optional, default "1.0"), and either a
``data`` column holding the JSON object or one ``data.<field>`` column per field (``amount_vnd``
and ``value`` are read as numbers, empty cells are left out).

Every record is published as it is: a line that is not a valid event still goes to the
topic, and the stream worker dead-letters it with its reason, so nothing is dropped silently
and the reasons are the same on every path. The checkpoint holds the file's fingerprint and
how many records were acked; a restart with the same file resumes after them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from tqdm import tqdm

from connectors.checkpoint import Checkpoint
from connectors.metrics import CONNECTOR_EVENTS
from connectors.publisher import event_key

log = logging.getLogger(__name__)

Format = Literal["ndjson", "csv"]


class RawPublisher(Protocol):
    def publish_raw(self, records: Any, *, timeout_s: float = 30.0) -> list[tuple[int, int]]: ...


@dataclass(frozen=True, slots=True)
class ReplayResult:
    published: int
    """Records published by this run."""
    skipped: int
    """Records already published by an earlier run (from the checkpoint)."""
    unreadable: int
    """Of those published, records that are not a JSON object: the worker dead-letters them."""


def fingerprint(path: Path) -> str:
    """Identifies the file's contents well enough to refuse resuming on a different file."""
    digest = hashlib.sha256()
    with open(path, "rb") as src:
        digest.update(src.read(1 << 20))
    return f"{path.stat().st_size}:{digest.hexdigest()}"


def format_of(path: Path, given: str | None) -> Format:
    if given in ("ndjson", "csv"):
        return given  # type: ignore[return-value]
    return "csv" if path.suffix.lower() == ".csv" else "ndjson"


NUMERIC_FIELDS = frozenset({"amount_vnd", "value"})
"""Data fields docs/contract/events.md defines as numbers; every other cell stays a string (ids such as
"000123" must not turn into numbers)."""


def _cell(name: str, value: str) -> Any:
    if name not in NUMERIC_FIELDS:
        return value
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    return parsed if isinstance(parsed, int | float) and not isinstance(parsed, bool) else value


def csv_event(row: dict[str, str]) -> dict[str, Any]:
    """One CSV row as a CloudEvent (pure)."""
    event: dict[str, Any] = {"specversion": row.get("specversion") or "1.0"}
    for name in ("id", "source", "type", "time", "datacontenttype"):
        if row.get(name):
            event[name] = row[name]
    if row.get("data"):
        try:
            event["data"] = json.loads(row["data"])
        except ValueError:
            event["data"] = row["data"]  # kept as sent: the worker rejects it with the reason
    else:
        event["data"] = {k[5:]: _cell(k[5:], v) for k, v in row.items()
                         if k and k.startswith("data.") and v not in (None, "")}
    return event


def records_of(path: Path, fmt: Format) -> Iterator[bytes]:
    """The file's records, as the bytes to publish."""
    if fmt == "ndjson":
        with open(path, "rb") as src:
            for line in src:
                stripped = line.strip()
                if stripped:
                    yield stripped
        return
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as text:
        for row in csv.DictReader(text):
            yield json.dumps(csv_event(row), ensure_ascii=False, separators=(",", ":"),
                             default=str).encode("utf-8", errors="surrogateescape")


def _key(raw: bytes) -> tuple[bytes | None, bool]:
    try:
        decoded = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None, False
    return (event_key(decoded), True) if isinstance(decoded, dict) else (None, False)


def count_records(path: Path, fmt: Format) -> int:
    if fmt == "ndjson":
        with open(path, "rb") as src:
            return sum(1 for line in src if line.strip())
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as text:
        return sum(1 for _ in csv.DictReader(text))


def replay(path: Path, fmt: Format, publisher: RawPublisher, checkpoint: Checkpoint, *,
           chunk: int = 1000, progress: bool = True) -> ReplayResult:
    """Publish the file's records from where the checkpoint left off."""
    print_ = fingerprint(path)
    state = checkpoint.load()
    done = 0
    if state:
        if state.get("file") == str(path.resolve()) and state.get("fingerprint") != print_:
            raise ValueError(f"{path} changed since the checkpoint {checkpoint.path} was written; "
                             "remove the checkpoint to replay it from the start")
        if state.get("fingerprint") == print_:
            done = int(state.get("records", 0))
    total = count_records(path, fmt)
    published = unreadable = 0
    pending: list[tuple[bytes | None, bytes]] = []

    def flush() -> None:
        nonlocal published, done
        publisher.publish_raw(pending, timeout_s=120)
        CONNECTOR_EVENTS.labels("replay", "published", "").inc(len(pending))
        published += len(pending)
        done += len(pending)
        checkpoint.save({"file": str(path.resolve()), "fingerprint": print_, "records": done})
        bar.update(len(pending))
        pending.clear()

    with tqdm(total=total, initial=min(done, total), unit="ev", desc=f"replay {path.name}",
              disable=not progress, mininterval=0.5) as bar:
        for index, raw in enumerate(records_of(path, fmt)):
            if index < done:
                continue
            key, readable = _key(raw)
            unreadable += not readable
            pending.append((key, raw))
            if len(pending) >= chunk:
                flush()
        if pending:
            flush()
    skipped = min(done - published, total)
    log.info("replay finished", extra={"file": str(path), "published": published,
                                       "skipped": skipped, "unreadable": unreadable})
    return ReplayResult(published, skipped, unreadable)


def sample_csv(events: list[dict[str, Any]]) -> str:
    """Events as CSV with ``data.<field>`` columns (used by tests and docs)."""
    fields = sorted({f"data.{k}" for e in events for k in e["data"]})
    out = io.StringIO()
    writer = csv.DictWriter(out, ["id", "source", "type", "time", *fields])
    writer.writeheader()
    for e in events:
        writer.writerow({"id": e["id"], "source": e["source"], "type": e["type"], "time": e["time"],
                         **{f"data.{k}": v for k, v in e["data"].items()}})
    return out.getvalue()
