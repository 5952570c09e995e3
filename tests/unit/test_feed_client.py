"""The per-client buffer of the live feed: latest value per key, versions, stuck clients."""

import asyncio
import json

from api.fanout import Hub, Subscription
from api.feed_client import ClientSession


def kpi(value: int, version: int, kpi_id: str = "dossier.received", area: str | None = None) -> dict:
    return {"type": "kpi", "kpi": kpi_id, "area": area, "bucket": "1d",
            "start": "2026-11-22T00:00:00+07:00", "value": value, "version": version}


async def sent_at_least(sent: list[dict], count: int) -> None:
    while len(sent) < count:
        await asyncio.sleep(0.001)


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_keeps_only_the_latest_value_per_key_and_sends_snapshot_first() -> None:
    sent: list[dict] = []

    async def send(text: str) -> None:
        message = json.loads(text)
        sent.extend(message["messages"] if message["type"] == "batch" else [message])

    async def scenario() -> None:
        client = ClientSession(send, buffer_limit=100, stuck_timeout_s=1, heartbeat_s=60)
        client.offer(kpi(5, 5))
        client.offer(kpi(1, 1, "payment.count"))
        client.offer(kpi(7, 7))
        client.snapshot({"type": "snapshot", "values": [kpi(6, 6), kpi(0, 0, "payment.count")]})
        client.offer(kpi(4, 4))  # older than the snapshot: dropped
        task = asyncio.create_task(client.run_sender())
        await asyncio.sleep(0.05)
        client.offer(kpi(8, 8))
        await asyncio.sleep(0.05)
        client.close("test")
        await task

    run(scenario())
    assert [m["type"] for m in sent] == ["snapshot", "kpi", "kpi", "kpi"]
    assert [(m["kpi"], m["value"]) for m in sent[1:]] == [
        ("dossier.received", 7), ("payment.count", 1), ("dossier.received", 8)]


def test_a_snapshot_or_an_answer_does_not_wait_out_the_flush_interval() -> None:
    sent: list[dict] = []

    async def send(text: str) -> None:
        sent.append(json.loads(text))

    async def scenario() -> None:
        # values coalesce for an hour between frames; anything else goes at once
        client = ClientSession(send, buffer_limit=100, stuck_timeout_s=1, heartbeat_s=3600,
                               flush_interval_s=3600)
        task = asyncio.create_task(client.run_sender())
        client.offer(kpi(1, 1))
        await asyncio.wait_for(sent_at_least(sent, 1), 5)  # the first value; the sender now waits its hour
        client.offer(kpi(2, 2))
        client.snapshot({"type": "snapshot", "values": [kpi(3, 3)]})
        await asyncio.wait_for(sent_at_least(sent, 2), 5)
        client.push({"type": "pong"})
        await asyncio.wait_for(sent_at_least(sent, 3), 5)
        client.offer(kpi(4, 4))
        await asyncio.sleep(0.05)
        assert len(sent) == 3  # a value still waits for the interval
        client.close("test")
        await asyncio.wait_for(task, 5)

    run(scenario())
    assert [(m["type"], m.get("value")) for m in sent] == [("kpi", 1), ("snapshot", None), ("pong", None)]


def test_subscription_filters_kpis_and_areas() -> None:
    sub = Subscription(kpis=frozenset({"dossier.received"}), areas=frozenset({"288"}))
    assert sub.wants(kpi(1, 1, area="288"))
    assert not sub.wants(kpi(1, 1, area="290"))
    assert not sub.wants(kpi(1, 1, "payment.count", "288"))
    assert Subscription(areas=frozenset({""})).wants(kpi(1, 1))


def test_a_stuck_client_is_closed_while_others_receive() -> None:
    fast: list[str] = []

    async def stuck_send(text: str) -> None:
        await asyncio.sleep(3600)

    async def fast_send(text: str) -> None:
        fast.append(text)

    async def scenario() -> tuple[str | None, str | None]:
        hub = Hub()
        slow = ClientSession(stuck_send, buffer_limit=100, stuck_timeout_s=0.1, heartbeat_s=60)
        quick = ClientSession(fast_send, buffer_limit=100, stuck_timeout_s=0.1, heartbeat_s=60)
        hub.add(slow)
        hub.add(quick)
        tasks = [asyncio.create_task(c.run_sender()) for c in (slow, quick)]
        for version in range(1, 20):
            hub.publish(kpi(version, version))
            await asyncio.sleep(0.02)
        quick.close("done")
        await asyncio.gather(*tasks)
        return slow.closed_reason, quick.closed_reason

    slow_reason, quick_reason = run(scenario())  # type: ignore[misc]
    assert slow_reason == "stuck" and quick_reason == "done"
    assert json.loads(fast[-1])["value"] == 19


def test_buffer_overflow_closes_the_client() -> None:
    async def send(text: str) -> None:
        return None

    async def scenario() -> str | None:
        client = ClientSession(send, buffer_limit=3, stuck_timeout_s=1, heartbeat_s=60)
        for area in ("288", "290", "291", "292"):
            client.offer(kpi(1, 1, area=area))
        return client.closed_reason

    assert run(scenario()) == "buffer_overflow"


def test_change_records_pack_messages_and_the_feed_unpacks_them_in_order() -> None:
    from ioc.changes import CHANGES_PER_RECORD, change_messages
    from streams.publishing import change_records

    messages = [kpi(i, i + 1, area=f"d{i % 12}") for i in range(CHANGES_PER_RECORD * 2 + 7)]
    records = change_records("ioc.kpi.changes", messages)
    assert [len(change_messages(r.value)) for r in records] == [CHANGES_PER_RECORD,
                                                                CHANGES_PER_RECORD, 7]
    assert [m for r in records for m in change_messages(r.value)] == messages
    assert all(r.topic == "ioc.kpi.changes" and r.key is None for r in records)
    assert change_records("ioc.kpi.changes", []) == []


def test_an_unreadable_change_record_yields_nothing() -> None:
    from ioc.changes import change_messages

    assert change_messages(b"{not json") == []
    assert change_messages(b'{"type": "kpi"}') == []  # an object, not an array
    assert change_messages(None) == []


def test_the_hub_counts_connections_per_token() -> None:
    async def scenario() -> list[int]:
        async def send(text: str) -> None:
            return None

        hub = Hub()
        clients = [ClientSession(send, buffer_limit=10, stuck_timeout_s=1, heartbeat_s=60)
                   for _ in range(3)]
        hub.add(clients[0], b"a")
        hub.add(clients[1], b"a")
        hub.add(clients[2], b"b")
        counts = [hub.connections_of(b"a"), hub.connections_of(b"b")]
        hub.remove(clients[0])
        hub.remove(clients[2])
        hub.remove(clients[2])  # twice: no harm
        return [*counts, hub.connections_of(b"a"), hub.connections_of(b"b"), len(hub)]

    assert run(scenario()) == [2, 1, 1, 0, 1]


def test_a_burst_reaches_clients_as_the_newest_value_per_key_in_one_shared_frame() -> None:
    from api.fanout import BatchFrames, Shared, latest_per_key

    burst = [Shared(kpi(1, 1)), Shared(kpi(9, 9, "payment.count")), Shared(kpi(3, 3)), Shared(kpi(2, 2))]
    newest = latest_per_key(burst)
    assert [(m["kpi"], m["version"]) for m in newest] == [("dossier.received", 3), ("payment.count", 9)]
    frames = BatchFrames(limit=2)
    first, _ = frames.frame(list(newest))
    assert frames.frame(list(newest))[0] is first  # made once for every client with the same values
    assert [m["value"] for m in json.loads(first)["messages"]] == [3, 9]
    other = frames.frame([newest[1]])
    frames.frame([newest[0]])  # a third distinct frame: the cache starts over, still correct
    assert frames.frame([newest[1]]) == other


def test_alert_messages_reach_every_client_whatever_it_subscribed_to() -> None:
    sent: list[dict] = []

    async def send(text: str) -> None:
        sent.append(json.loads(text))

    async def scenario() -> None:
        hub = Hub()
        client = ClientSession(send, buffer_limit=10, stuck_timeout_s=1, heartbeat_s=60)
        client.subscription = Subscription(kpis=frozenset({"payment.count"}))
        hub.add(client)
        task = asyncio.create_task(client.run_sender())
        hub.broadcast({"type": "alert", "id": 4, "state": "firing"})
        hub.publish_many([kpi(1, 1)])  # not subscribed: not sent
        await asyncio.sleep(0.05)
        client.close("done")
        await task

    run(scenario())
    assert sent == [{"type": "alert", "id": 4, "state": "firing"}]


def test_station_values_go_only_to_clients_that_ask_for_stations() -> None:
    station = {**kpi(5, 1, "sensor.avg"), "metric": "pm2_5", "station": "HD-01"}
    area = {**kpi(4, 1, "sensor.avg", "288"), "metric": "pm2_5"}
    assert not Subscription().wants(station) and Subscription().wants(area)
    assert Subscription(stations=None).wants(station)
    assert Subscription(stations=frozenset({"HD-01"})).wants(station)
    assert not Subscription(stations=frozenset({"HD-02"})).wants(station)
    assert not Subscription(stations=None, buckets=frozenset({"1h"})).wants(station)  # it is 1d


def test_after_a_new_subscription_its_snapshot_goes_first_and_old_values_never() -> None:
    sent: list[dict] = []
    sending, release = asyncio.Event(), asyncio.Event()

    async def send(text: str) -> None:
        message = json.loads(text)
        sent.extend(message["messages"] if message["type"] == "batch" else [message])
        if len(sent) == 1:
            sending.set()
            await release.wait()  # the first frame's send takes a while

    async def scenario() -> None:
        client = ClientSession(send, buffer_limit=100, stuck_timeout_s=5, heartbeat_s=3600,
                               flush_interval_s=3600)
        task = asyncio.create_task(client.run_sender())
        client.offer(kpi(5, 5))
        await asyncio.wait_for(sending.wait(), 5)  # version 5 is being sent...
        client.snapshot({"type": "snapshot", "values": [kpi(9, 9)]})  # ...as a snapshot with 9 is queued
        release.set()
        await asyncio.wait_for(sent_at_least(sent, 2), 5)
        client.offer(kpi(7, 7))  # older than the snapshot's 9: never sent
        client.push({"type": "pong"})
        await asyncio.wait_for(sent_at_least(sent, 3), 5)
        client.offer(kpi(20, 20, area="288"))  # waits out the flush interval...
        client.resubscribe(Subscription(kpis=frozenset({"payment.count"})))  # ...and is no longer wanted
        client.offer(kpi(1, 11, "payment.count"))  # wanted: waits for its snapshot
        client.push({"type": "alert", "id": 1})  # so does anything else
        await asyncio.sleep(0.05)
        assert len(sent) == 3
        client.snapshot({"type": "snapshot", "values": [kpi(0, 10, "payment.count")]})
        await asyncio.wait_for(sent_at_least(sent, 6), 5)
        client.close("test")
        await asyncio.wait_for(task, 5)

    run(scenario())
    assert [(m["type"], m.get("kpi"), m.get("version")) for m in sent] == [
        ("kpi", "dossier.received", 5), ("snapshot", None, None), ("pong", None, None),
        ("snapshot", None, None), ("alert", None, None), ("kpi", "payment.count", 11)]
