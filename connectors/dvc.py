"""The administrative-procedure system's adapter: polls its change journal, publishes
dossier.* and feedback.* (the system's module for citizens' petitions).

``ioc connect dvc`` reads ``GET <IOC_DVC_URL>/api/v1/dossier-changes?after=<seq>`` page by
page (see connectors/fake_dvc.py for the contract), maps each change to a CloudEvent,
publishes the page, waits for the broker's acks and only then saves the last ``seq`` as its
checkpoint. A change it cannot map goes to the dead-letter topic with the reason. Statuses:
received, resolved, withdrawn, rated (a citizen's rating of a dossier), feedback_received and
feedback_resolved (keyed by ``feedback_id``). Event ids are ``<dossier_id>:<status>`` and
``feedback:<feedback_id>:received|resolved``, so a page re-sent after a crash is recognised downstream as
duplicates: nothing lost, nothing counted twice. An unreachable or failing system is retried
with backoff; the checkpoint does not move until a page is published.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
from kafka.errors import KafkaError

from connectors.checkpoint import Checkpoint
from connectors.metrics import CONNECTOR_ERRORS, error_kind
from connectors.publisher import EventPublisher
from ioc.events import to_cloudevent, with_v1_area

log = logging.getLogger(__name__)

_TYPES = {"received": "dossier.received", "resolved": "dossier.resolved",
          "withdrawn": "dossier.withdrawn", "rated": "dossier.rated",
          "feedback_received": "feedback.received", "feedback_resolved": "feedback.resolved"}
_FIELDS = {
    "received": ("service_code", "agency_code", "area", "channel", "service_level", "due_at"),
    "resolved": ("service_code", "agency_code", "area", "due_at"),
    "withdrawn": ("area",),
    "rated": ("agency_code", "area", "satisfied"),
    "feedback_received": ("agency_code", "area", "due_at"),
    "feedback_resolved": ("agency_code", "area", "due_at"),
}
_OPTIONAL = {
    "received": ("digitized", "synced_national", "fee_vnd", "fee_paid_online"),
    "resolved": ("result_digitized",),
    "feedback_resolved": ("satisfied",),
}
"""Fields passed on when the system gives them (the service index's, docs/contract/events.md)."""


@dataclass(frozen=True, slots=True)
class Unmappable:
    code: str
    reason: str


def change_to_event(change: Any, source: str) -> dict[str, Any] | Unmappable:
    """One change record as a CloudEvent, or why it cannot be one. Pure. Field values are
    passed on as they are: the stream worker validates them like any other event."""
    if not isinstance(change, dict):
        return Unmappable("unmappable_change", "a change must be a JSON object")
    status = change.get("status")
    if status not in _TYPES:
        return Unmappable("unknown_status",
                          f"status {status!r} is not one of {', '.join(sorted(_TYPES))}")
    change = with_v1_area(change)
    item = "feedback_id" if status.startswith("feedback_") else "dossier_id"
    missing = [f for f in (item, "changed_at", *_FIELDS[status]) if change.get(f) in (None, "")]
    if missing:
        return Unmappable("unmappable_change", f"change lacks {', '.join(missing)}")
    data = {item: change[item], **{f: change[f] for f in _FIELDS[status]},
            **{f: change[f] for f in _OPTIONAL.get(status, ()) if f in change}}
    # A feedback item's id may equal a dossier's: its events' ids say which it is.
    event_id = (f"feedback:{change[item]}:{status.removeprefix('feedback_')}"
                if item == "feedback_id" else f"{change[item]}:{status}")
    return to_cloudevent(source=source, event_id=event_id, type_=_TYPES[status],
                         time=change["changed_at"], data=data)


@dataclass(slots=True)
class PollStats:
    pages: int = 0
    published: int = 0
    dead_lettered: int = 0
    errors: int = 0
    last_seq: int = 0


class DvcPoller:
    def __init__(self, base_url: str, token: str, source: str, publisher: EventPublisher,
                 checkpoint: Checkpoint, *, page_size: int = 500, poll_interval_s: float = 2.0,
                 max_backoff_s: float = 30.0) -> None:
        self._url = base_url.rstrip("/") + "/api/v1/dossier-changes"
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._source = source
        self._publisher = publisher
        self._checkpoint = checkpoint
        self._page_size = page_size
        self._interval = poll_interval_s
        self._max_backoff = max_backoff_s
        self.stats = PollStats(last_seq=int(checkpoint.load().get("seq", 0)))

    def poll_once(self, http: httpx.Client) -> int:
        """Fetch, publish and checkpoint one page; returns how many changes it held."""
        answer = http.get(self._url, params={"after": self.stats.last_seq, "limit": self._page_size},
                          headers=self._headers)
        answer.raise_for_status()
        body = answer.json()
        changes = body.get("changes") if isinstance(body, dict) else None
        if not isinstance(changes, list):
            raise ValueError("the answer has no 'changes' array")
        events: list[dict[str, Any]] = []
        bad: list[tuple[bytes, str, str]] = []
        last = self.stats.last_seq
        for change in changes:
            seq = change.get("seq") if isinstance(change, dict) else None
            if not isinstance(seq, int) or seq <= last:
                raise ValueError(f"change sequence numbers must increase; got {seq!r} after {last}")
            last = seq
            mapped = change_to_event(change, self._source)
            if isinstance(mapped, Unmappable):
                bad.append((json.dumps(change, ensure_ascii=False).encode(), mapped.code, mapped.reason))
            else:
                events.append(mapped)
        self._publisher.send_mapped(events, bad, connector="dvc")
        if changes:
            self._checkpoint.save({"seq": last})
        self.stats.pages += 1
        self.stats.published += len(events)
        self.stats.dead_lettered += len(bad)
        self.stats.last_seq = last
        return len(changes)

    def run(self, stop: threading.Event) -> PollStats:
        backoff = 0.0
        last_report = time.monotonic()
        with httpx.Client(timeout=30) as http:
            while not stop.is_set():
                try:
                    got = self.poll_once(http)
                    backoff = 0.0
                except (httpx.HTTPError, ValueError, KafkaError) as exc:
                    self.stats.errors += 1
                    CONNECTOR_ERRORS.labels("dvc", error_kind(exc)).inc()
                    backoff = min(self._max_backoff, max(0.5, backoff * 2))
                    log.warning("administrative-procedure system poll failed; retrying",
                                extra={"error": str(exc), "retry_in_s": backoff})
                    stop.wait(backoff)
                    continue
                if time.monotonic() - last_report > 30:
                    log.info("dvc connector", extra={"published": self.stats.published,
                                                     "dead_lettered": self.stats.dead_lettered,
                                                     "seq": self.stats.last_seq})
                    last_report = time.monotonic()
                if got < self._page_size:
                    stop.wait(self._interval)
        return self.stats
