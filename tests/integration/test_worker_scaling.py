"""Scaling past one worker: three `ioc worker` processes in one consumer group share the six
event partitions; under load one is SIGKILLed and a fourth is added. The KPIs stay exactly
the independent recomputation (offsets commit with the KPIs, in PostgreSQL, so a partition
that changes hands mid-stream resumes where its last owner's transaction ended). Every
worker exports the consumer lag of every partition, and it drains to zero."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest

from ioc.embedded.processes import free_port, http_ok, wait_until
from tests.generator import generate_stream
from tests.integration.conftest import Pipeline, Services, running_pipeline
from tests.integration.kpi_check import assert_exact

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
STREAM = generate_stream(31, NOW, 24_000)
CHUNK = 200
PARTITIONS = 6
ENV = {"IOC_EVENT_PARTITIONS": str(PARTITIONS),
       # joins on the embedded broker wait about half the session timeout: keep it short
       "IOC_BROKER_SESSION_TIMEOUT_S": "6", "IOC_WORKER_LAG_INTERVAL_S": "1"}


@pytest.fixture(scope="module")
def pipeline(services: Services) -> Iterator[Pipeline]:
    with running_pipeline(services, "p_scaling", env=ENV) as pipe:
        assert pipe.settings.event_partitions == PARTITIONS  # the topic was created with six
        yield pipe


def metrics_text(url: str) -> str:
    try:
        return httpx.get(url, timeout=5).text
    except httpx.HTTPError:
        return ""


def batches(url: str) -> float:
    """Batches this worker process has processed (0 before its first)."""
    found = re.search(r"^ioc_worker_batch_records_count (\S+)$", metrics_text(url), re.M)
    return float(found.group(1)) if found else 0.0


def add_worker(pipeline: Pipeline, name: str) -> str:
    """Another `ioc worker` with the same IOC_WORKER_ID (the same consumer group), with its
    own metrics port; returns its /metrics URL once it answers."""
    port = free_port()
    proc = pipeline.spawn(name, "worker", env={"IOC_WORKER_METRICS_PORT": str(port)})
    url = f"http://127.0.0.1:{port}/metrics"
    wait_until(lambda: http_ok(url), timeout_s=90, what=name, alive=lambda: proc.poll() is None)
    return url


def publish_until(pipeline: Pipeline, chunks: Iterator[list[bytes]],
                  done: Callable[[], bool], what: str) -> None:
    """Publish chunk after chunk (load), each waited for, until ``done``: the stream is only
    ever published once, in order, whatever the timing."""
    for chunk in chunks:
        pipeline.publish(chunk)
        pipeline.wait_processed(timeout_s=300)
        deadline = time.monotonic() + 2  # a rebalance in progress: give it a moment per chunk
        while not done() and time.monotonic() < deadline:
            time.sleep(0.1)
        if done():
            return
    raise AssertionError(f"the stream ended before {what}")


def test_three_workers_one_killed_one_added_stay_exact(pipeline: Pipeline) -> None:
    chunks = iter([STREAM[i:i + CHUNK] for i in range(0, len(STREAM), CHUNK)])
    urls = {"worker": pipeline.metrics_url,
            "worker-b": add_worker(pipeline, "worker-b"),
            "worker-c": add_worker(pipeline, "worker-c")}

    # all three own partitions and process batches (the group has rebalanced to three)
    publish_until(pipeline, chunks, lambda: all(batches(u) > 0 for u in urls.values()),
                  "all three workers processed batches")
    pipeline.procs["worker-b"].send_signal(signal.SIGKILL)  # mid-stream, partitions owned
    pipeline.procs.pop("worker-b").wait(30)
    for _ in range(3):  # load while the group notices the death
        pipeline.publish(next(chunks))
    urls["worker-d"] = add_worker(pipeline, "worker-d")
    publish_until(pipeline, chunks, lambda: batches(urls["worker-d"]) > 0,
                  "the added worker processed batches")
    for chunk in chunks:  # the rest of the stream
        pipeline.publish(chunk)
    pipeline.wait_processed(timeout_s=600)

    assert_exact(pipeline, STREAM, NOW)

    # every live worker reports the lag of all six partitions, and it drains to zero
    topic = pipeline.settings.events_topic
    live = [u for name, u in urls.items() if name != "worker-b"]

    def drained() -> bool:
        for url in live:
            lags = re.findall(rf'^ioc_consumer_lag{{partition="(\d+)",topic="{re.escape(topic)}"}} (\S+)$',
                              metrics_text(url), re.M)
            if {int(p) for p, _ in lags} != set(range(PARTITIONS)) or any(float(v) for _, v in lags):
                return False
        return True

    wait_until(drained, timeout_s=60, what="zero consumer lag on every partition", interval_s=0.5)
