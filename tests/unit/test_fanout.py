"""The live feed's fan-out (api/fanout.py): shared messages, batch frames, the hub's matching."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from api.fanout import BatchFrames, Hub, Shared, Subscription, encode, latest_per_key
from api.feed_client import ClientSession


def kpi(value: int, version: int, kpi_id: str = "dossier.received", area: str | None = None,
        bucket: str = "1d", changed_at: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "kpi", "kpi": kpi_id, "area": area, "bucket": bucket,
                               "start": "2026-11-22T00:00:00+07:00", "value": value, "version": version}
    if changed_at is not None:
        message["changed_at"] = changed_at
    return message


class Recorder:
    """A subscriber that keeps what the hub offers it."""

    def __init__(self, subscription: Subscription | None = None) -> None:
        self.subscription = subscription or Subscription()
        self.offered: list[list[Shared]] = []
        self.pushed: list[dict[str, Any]] = []

    def offer_wanted(self, messages: list[Shared]) -> None:
        self.offered.append(messages)

    def push(self, message: dict[str, Any]) -> None:
        self.pushed.append(message)


def test_a_shared_message_knows_its_key_version_and_commit_time_and_encodes_once() -> None:
    message = Shared(kpi(3, 7, changed_at="2026-11-22T08:00:00+07:00"))
    assert message.version == 7
    assert message.key == Shared(kpi(9, 8)).key != Shared(kpi(3, 7, area="288")).key
    assert message.changed == datetime(2026, 11, 22, 1, tzinfo=UTC).timestamp()
    assert Shared(kpi(1, 1)).changed == 0.0
    assert json.loads(message.text()) == kpi(3, 7, changed_at="2026-11-22T08:00:00+07:00")
    assert message.text() is message.text()
    assert encode(message) is message.text()
    assert encode({"type": "pong"}) == '{"type":"pong"}'
    assert Shared({"type": "alert", "id": 1}).key == ""


def test_every_shared_message_has_its_own_serial() -> None:
    first, second = Shared(kpi(1, 1)), Shared(kpi(1, 1))
    assert first == second and first.serial != second.serial


def test_a_batch_frame_carries_the_values_in_order_and_the_oldest_commit_time() -> None:
    values = [Shared(kpi(1, 1, changed_at="2026-11-22T08:00:02+07:00")),
              Shared(kpi(2, 1, "payment.count", changed_at="2026-11-22T08:00:01+07:00")),
              Shared(kpi(3, 1, area="288"))]
    text, oldest = BatchFrames().frame(values)
    assert json.loads(text) == {"type": "batch", "messages": [dict(v) for v in values]}
    assert oldest == values[1].changed
    assert BatchFrames().frame([Shared(kpi(1, 1)), Shared(kpi(2, 2, "payment.count"))])[1] == 0.0


def test_batch_frames_are_told_apart_by_message_not_by_content() -> None:
    frames = BatchFrames()
    one = [Shared(kpi(1, 1)), Shared(kpi(2, 1, "payment.count"))]
    text, _ = frames.frame(one)
    assert frames.frame(list(one))[0] is text
    changed = [Shared({**one[0], "value": 5}), one[1]]  # a new message object, same version
    assert json.loads(frames.frame(changed)[0])["messages"][0]["value"] == 5


def test_latest_per_key_keeps_the_newest_version_in_first_seen_order() -> None:
    burst = [Shared(kpi(1, 1)), Shared(kpi(9, 9, "payment.count")), Shared(kpi(3, 3)),
             Shared(kpi(2, 2))]
    assert [(m["kpi"], m["value"]) for m in latest_per_key(burst)] == [
        ("dossier.received", 3), ("payment.count", 9)]
    assert latest_per_key([]) == []


def test_a_subscription_filters_by_bucket_and_the_province() -> None:
    assert Subscription(buckets=frozenset({"1h"})).wants(kpi(1, 1, bucket="1h"))
    assert not Subscription(buckets=frozenset({"1h"})).wants(kpi(1, 1, bucket="1d"))
    province = Subscription(areas=frozenset({""}))
    assert province.wants(kpi(1, 1)) and not province.wants(kpi(1, 1, area="288"))
    assert Subscription().wants(kpi(1, 1, area="288"))


def test_a_subscription_with_parts_wants_what_any_part_wants() -> None:
    # the wall's: every tile for the province, one KPI for every unit
    wall = Subscription(kpis=frozenset({"dossier.received", "payment.count"}), areas=frozenset({""}),
                        buckets=frozenset({"1d", "now"}),
                        also=(Subscription(kpis=frozenset({"dossier.received"}), buckets=frozenset({"1d"})),))
    assert wall.wants(kpi(1, 1)) and wall.wants(kpi(1, 1, kpi_id="payment.count"))
    assert wall.wants(kpi(1, 1, area="288"))
    assert not wall.wants(kpi(1, 1, kpi_id="payment.count", area="288"))
    assert not wall.wants(kpi(1, 1, area="288", bucket="now"))  # the part's buckets, not the whole's
    assert not wall.wants(kpi(1, 1, kpi_id="dossier.resolved"))
    assert wall.all_kpis() == {"dossier.received", "payment.count"}
    assert wall.all_areas() is None  # a part wants every area
    station = {**kpi(1, 1, kpi_id="sensor.avg"), "station": "HD-01"}
    assert not Subscription(kpis=frozenset(), also=(Subscription(),)).wants(station)  # parts take no station
    narrow = Subscription(kpis=frozenset({"a"}), areas=frozenset({"1"}),
                          also=(Subscription(kpis=frozenset({"b"}), areas=frozenset({"2"})),))
    assert narrow.all_kpis() == {"a", "b"} and narrow.all_areas() == {"1", "2"}
    assert Subscription().all_kpis() is None and Subscription().all_areas() is None


def test_the_hub_offers_each_subscriber_the_newest_values_it_wants_matched_once() -> None:
    hub = Hub()
    everything, paying, other_paying = (Recorder(), Recorder(Subscription(kpis=frozenset({"payment.count"}))),
                                        Recorder(Subscription(kpis=frozenset({"payment.count"}))))
    for subscriber in (everything, paying, other_paying):
        hub.add(subscriber)
    hub.publish_many([kpi(1, 1), kpi(5, 5, "payment.count"), kpi(2, 2), kpi(4, 4, "payment.count")])
    assert [(m["kpi"], m["value"]) for m in everything.offered[0]] == [
        ("dossier.received", 2), ("payment.count", 5)]
    assert [m["value"] for m in paying.offered[0]] == [5]
    assert paying.offered[0] is other_paying.offered[0]  # one match per distinct subscription
    assert all(isinstance(m, Shared) for m in everything.offered[0])


def test_the_hub_broadcasts_to_everyone_and_forgets_who_left() -> None:
    hub = Hub()
    staying, leaving = Recorder(Subscription(kpis=frozenset())), Recorder()
    hub.add(staying, b"t")
    hub.add(leaving, b"t")
    hub.remove(leaving)
    hub.broadcast({"type": "alert", "id": 1})
    hub.publish({"type": "kpi", "kpi": "dossier.received", "area": None, "bucket": "1d",
                 "start": "2026-11-22T00:00:00+07:00", "value": 1, "version": 1})
    assert staying.pushed == [{"type": "alert", "id": 1}] and leaving.pushed == []
    assert staying.offered == [[]] and leaving.offered == []
    assert len(hub) == 1 and hub.connections_of(b"t") == 1


def test_clients_of_one_hub_share_its_batch_frames_and_hubs_do_not_share() -> None:
    texts: dict[int, list[str]] = {0: [], 1: [], 2: []}

    def sender(index: int) -> Any:
        async def send(text: str) -> None:
            texts[index].append(text)
        return send

    async def scenario() -> None:
        hub, other_hub = Hub(), Hub()
        clients = [ClientSession(sender(i), buffer_limit=10, stuck_timeout_s=1, heartbeat_s=60,
                                 frames=h.frames) for i, h in enumerate((hub, hub, other_hub))]
        hub.add(clients[0])
        hub.add(clients[1])
        other_hub.add(clients[2])
        burst = [Shared(kpi(1, 1)), Shared(kpi(2, 1, "payment.count"))]
        hub.publish_many(list(burst))
        other_hub.publish_many(list(burst))
        tasks = [asyncio.create_task(c.run_sender()) for c in clients]
        async with asyncio.timeout(30):
            while not all(texts.values()):
                await asyncio.sleep(0.01)
        for client in clients:
            client.close("done")
        await asyncio.gather(*tasks)

    asyncio.run(scenario())
    assert texts[0][0] is texts[1][0]  # made once for both clients of the hub
    assert texts[2][0] == texts[0][0] and texts[2][0] is not texts[0][0]
    assert [m["value"] for m in json.loads(texts[0][0])["messages"]] == [1, 2]
