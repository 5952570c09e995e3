"""What one worker's throughput is made of, measured on the embedded broker.

``ioc bench pipeline`` measures the whole worker. This splits it: how fast can records merely
reach a Faust agent in batches (``stream.take_events``) doing nothing with them, how fast does
a bare aiokafka consumer read them, and how fast is our pure per-batch logic (validation,
deduplication keys, KPI cells) without any I/O. Run:

    ioc bench faust-floor --events 200000

Each consumer runs in its own process, as the worker does, and reads the same N simulated
events published up front.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def faust_agent(bootstrap: str, topic: str, partitions: int, total: int, batch: int,
                poll_records: int | None) -> None:
    import faust
    from faust.streams import Stream

    extra: dict[str, Any] = {} if poll_records is None else {"broker_max_poll_records": poll_records}
    app = faust.App(
        f"floor-{os.getpid()}", broker=f"kafka://{bootstrap}", store="memory://",
        web_enabled=False, topic_allow_declare=False, topic_disable_leader=True,
        broker_session_timeout=10.0, broker_heartbeat_interval=3.0,
        consumer_auto_offset_reset="earliest", stream_buffer_maxsize=max(4096, batch * 2),
        datadir=tempfile.mkdtemp(prefix="floor-faust-"), **extra)
    source = app.topic(topic, key_serializer="raw", value_serializer="raw", partitions=partitions)
    seen = 0
    first = 0.0

    @app.agent(source)
    async def count(stream: faust.StreamT[bytes]) -> None:
        nonlocal seen, first
        assert isinstance(stream, Stream)
        async for events in stream.take_events(batch, within=0.2):
            if not first:
                first = time.perf_counter()
            seen += len(events)
            if seen >= total:
                print(f"RESULT {seen / (time.perf_counter() - first):.0f}", flush=True)
                os._exit(0)

    sys.argv = [sys.argv[0], "worker", "-l", "warn", "--without-web"]
    app.main()


def aiokafka_consumer(bootstrap: str, topic: str, total: int, batch: int) -> None:
    from aiokafka import AIOKafkaConsumer

    async def run() -> None:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"floor-{os.getpid()}",
                                    auto_offset_reset="earliest", session_timeout_ms=10000,
                                    max_poll_records=batch)
        await consumer.start()
        seen, first = 0, 0.0
        try:
            while seen < total:
                got = await consumer.getmany(timeout_ms=200, max_records=batch)
                for records in got.values():
                    if records and not first:
                        first = time.perf_counter()
                    seen += len(records)
        finally:
            await consumer.stop()
        print(f"RESULT {seen / (time.perf_counter() - first):.0f}", flush=True)

    asyncio.run(run())


def pure_logic(values: list[bytes], batch: int) -> float:
    """Validation, dedup keys, KPI cells of every record, in batches, no I/O."""
    from ioc.events import Rules
    from ioc.geography import geography_of
    from ioc.intake import RawRecord, triage
    from ioc.kpis.counters import event_cells
    from ioc.settings import Settings

    geography = geography_of(Settings())
    rules = Rules(geography=geography, lateness_limit=timedelta(days=7),
                  future_tolerance=timedelta(minutes=5))
    now = datetime.now(UTC)
    start = time.perf_counter()
    for i in range(0, len(values), batch):
        records = [RawRecord("t", 0, i + j, v, None) for j, v in enumerate(values[i:i + batch])]
        out = triage(records, rules, now)
        event_cells(out.accepted, geography.utc_offset)
    return len(values) / (time.perf_counter() - start)


TOPIC, PARTITIONS = "floor.events", 6


def run_faust_floor(events: int, batch: int) -> None:
    """Publish ``events`` simulated events on the embedded broker, then print each floor."""
    from bench.measure import simulated_records
    from connectors.publisher import EventPublisher
    from ioc.embedded.services import embedded_services
    from ioc.settings import Settings
    from ioc.topics import ensure_topics

    root = Path(tempfile.mkdtemp(prefix="ioc-floor-"))
    with embedded_services(root, log_dir=root) as services:
        broker = services.broker
        settings = Settings(kafka_bootstrap=broker.bootstrap, topic_prefix="floor", data_dir=root,
                            event_partitions=PARTITIONS)
        ensure_topics(settings)
        print(f"floor: generating and publishing {events:,} simulated events…", flush=True)
        records = simulated_records(events, 1, datetime.now(UTC))
        publisher = EventPublisher(settings, client_id="floor")
        publisher.publish_raw(records, timeout_s=300)
        publisher.close()
        rate = pure_logic([v for _, v in records], batch)
        print(f"pure logic (validate, dedup keys, KPI cells), no I/O   {rate:>9,.0f} events/s",
              flush=True)
        runs = [("bare aiokafka consumer (getmany)", ["--role", "aiokafka"]),
                ("Faust agent, take_events, does nothing", ["--role", "faust"]),
                ("same, broker_max_poll_records=5000", ["--role", "faust", "--poll-records", "5000"])]
        for label, extra in runs:
            out = subprocess.run(
                [sys.executable, "-m", "bench.faust_floor", "--events", str(events), "--batch", str(batch),
                 "--bootstrap", broker.bootstrap, *extra],
                capture_output=True, text=True, timeout=900)
            found = [line.split("RESULT", 1)[1] for line in (out.stdout + out.stderr).splitlines()
                     if "RESULT " in line]
            shown = f"{float(found[0]):>9,.0f} events/s" if found else \
                f"failed: {out.stderr.strip().splitlines()[-1:]}"
            print(f"{label:<55} {shown}", flush=True)


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.faust_floor``: the floors, or (hidden ``--role``) one consumer of them."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", help=argparse.SUPPRESS)
    parser.add_argument("--poll-records", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "faust":
        faust_agent(args.bootstrap, TOPIC, PARTITIONS, args.events, args.batch, args.poll_records)
    elif args.role == "aiokafka":
        aiokafka_consumer(args.bootstrap, TOPIC, args.events, args.batch)
    else:
        run_faust_floor(args.events, args.batch)


if __name__ == "__main__":
    main()
