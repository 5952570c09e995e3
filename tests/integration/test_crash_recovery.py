"""The worker is SIGKILLed twice in the middle of a stream and restarted: the KPIs are
still exactly the reference (aggregates and offsets commit in one transaction), on both
storage layouts (plain PostgreSQL, and TimescaleDB when the server has it)."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.generator import generate_stream
from tests.integration.conftest import (
    LAYOUTS,
    Pipeline,
    Services,
    layout_pipeline,
)
from tests.integration.kpi_check import assert_exact

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
STREAM = generate_stream(23, NOW, 30_000)


@pytest.fixture(scope="module", params=LAYOUTS)
def pipeline(services: Services, request: pytest.FixtureRequest) -> Iterator[Pipeline]:
    with layout_pipeline(services, "p_crash", request.param) as pipe:
        yield pipe


def progress(pipeline: Pipeline) -> float:
    done = pipeline.consumed()
    total = sum(pipeline.targets.values())
    return sum(min(done.get(p, 0), o) for p, o in pipeline.targets.items()) / total


def test_sigkill_mid_stream_twice_stays_exact(pipeline: Pipeline) -> None:
    pipeline.publish(STREAM)
    kills = []
    for threshold in (0.15, 0.5):
        deadline = time.monotonic() + 120
        while progress(pipeline) < threshold and time.monotonic() < deadline:
            time.sleep(0.02)
        at = progress(pipeline)
        pipeline.stop("worker", signal.SIGKILL)
        kills.append(at)
        pipeline.start_worker()
    pipeline.wait_processed(timeout_s=300)
    assert all(0 < k < 1 for k in kills), kills  # both kills landed mid-stream
    assert_exact(pipeline, STREAM, NOW)
