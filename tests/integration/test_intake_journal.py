"""Nothing acknowledged is lost when the memory-only broker dies (docs/design.md).

Events acknowledged over HTTP (202) and by a connector's publisher while the worker is
stopped sit only in the broker's memory; the broker is SIGKILLed and a new, empty
incarnation starts on the same port. The worker re-sends the intake journal to it at start,
and every acknowledged event is counted exactly once.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from connectors.publisher import EventPublisher
from ioc.embedded.broker import EmbeddedBroker
from ioc.embedded.processes import wait_until
from ioc.storage import journal
from tests.integration.conftest import Pipeline, Services, own_broker_pipeline

JOURNAL_ON = {"IOC_INTAKE_JOURNAL": "true", "IOC_JOURNAL_PRUNE_INTERVAL_S": "0.5"}


def event(n: int, when: datetime, source: str = "http.journal") -> dict[str, Any]:
    return {"specversion": "1.0", "id": f"j-{n}", "source": source, "type": "dossier.received",
            "time": when.isoformat(),
            "data": {"dossier_id": f"J-{n}", "service_code": "S", "agency_code": "A",
                     "area": "291", "channel": "online", "service_level": "full_online",
                     "due_at": (when + timedelta(days=3)).isoformat()}}


@pytest.fixture()
def own_broker(services: Services) -> Iterator[tuple[Pipeline, EmbeddedBroker]]:
    with own_broker_pipeline(services, "p_journal", env=JOURNAL_ON) as both:
        yield both


def journal_size(pipe: Pipeline) -> int:
    with psycopg.connect(pipe.settings.database_url) as conn:
        return journal.size(conn)


def post_until_accepted(http: httpx.Client, token: str, events: list[dict[str, Any]]) -> None:
    """As an integrator does: retry the whole request until it is acknowledged."""
    def accepted() -> bool:
        answer = http.post("/api/v1/events", content=json.dumps(events),
                           headers={"Authorization": f"Bearer {token}",
                                    "Content-Type": "application/json"})
        assert answer.status_code in (202, 503), answer.text
        return answer.status_code == 202 and answer.json()["accepted"] == len(events)
    wait_until(accepted, timeout_s=120, what="an acknowledged request", interval_s=0.5)


def test_events_acknowledged_before_the_broker_died_are_counted_once(
        own_broker: tuple[Pipeline, EmbeddedBroker]) -> None:
    pipe, broker = own_broker
    now = datetime.now(UTC) - timedelta(minutes=1)
    pipe.stop("worker")  # what is acknowledged now exists only in the broker and the journal
    with httpx.Client(base_url=pipe.api_url, timeout=30) as http:
        post_until_accepted(http, pipe.tokens["integrator"], [event(n, now) for n in range(40)])
        connector = EventPublisher(pipe.settings.model_copy(update={"intake_journal": True}),
                                   client_id="test-journal")
        try:
            connector.publish([event(n, now, source="dvc.journal") for n in range(25)])
        finally:
            connector.close()
        assert journal_size(pipe) == 65

        assert broker.proc is not None
        broker.proc.send_signal(signal.SIGKILL)
        broker.proc.wait()
        broker.start()  # same port, a new empty incarnation
        pipe.follow_new_broker(broker)  # its worker re-sends the journal before it consumes

        # The API carries on with the new incarnation; a retried request is a duplicate.
        post_until_accepted(http, pipe.tokens["integrator"],
                            [event(n, now) for n in range(30, 50)])

        def counted() -> float:
            value = pipe.get("/api/v1/kpis/dossier.received/current", area="291")["value"]
            return float(value or 0)
        wait_until(lambda: counted() >= 75 and journal_size(pipe) == 0, timeout_s=120,
                   what="the journal counted and pruned", interval_s=0.5)
        assert counted() == 75  # 50 over HTTP (10 of the last 20 were duplicates) + 25


def test_an_event_held_back_is_judged_at_its_entry_time(
        own_broker: tuple[Pipeline, EmbeddedBroker]) -> None:
    """Nearly 7 days old when it came in, past the limit when the worker reads it: counted."""
    pipe, _ = own_broker
    entered = datetime.now(UTC) - timedelta(minutes=5)
    when = entered - timedelta(days=7) + timedelta(minutes=2)
    publisher = EventPublisher(pipe.settings, client_id="test-held-back")
    try:
        acks = publisher.publish_raw([(b"J-old", json.dumps(event(900, when, "held.back")).encode())],
                                     received_at=entered)
    finally:
        publisher.close()
    pipe.targets[acks[0][0]] = acks[0][1] + 1
    pipe.wait_processed()
    day = when.astimezone(UTC).date()
    points = pipe.get("/api/v1/kpis/dossier.received/series", bucket="1d", area="291",
                      start=(datetime(day.year, day.month, day.day, tzinfo=UTC)
                             - timedelta(days=1)).isoformat(),
                      end=(datetime(day.year, day.month, day.day, tzinfo=UTC)
                           + timedelta(days=2)).isoformat())["points"]
    assert sum(p["value"] for p in points) == 1
