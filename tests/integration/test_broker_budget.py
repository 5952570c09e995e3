"""`ioc up` bounds its broker's memory: Tansu's memory storage keeps every record, so past
IOC_BROKER_MEMORY_LIMIT_MB the broker is restarted empty and the stack carries on (the
worker re-sends the intake journal; tests/integration/test_intake_journal.py shows nothing
acknowledged is lost across a broker restart)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from ioc.embedded.processes import wait_until
from tests.integration.ioc_cli import Up

pytestmark = pytest.mark.integration


def test_the_broker_is_restarted_empty_past_its_memory_limit(tmp_path: Path) -> None:
    up = Up(tmp_path / "data", env={"IOC_SIM_RATE": "200", "IOC_BROKER_MEMORY_LIMIT_MB": "50",
                                    "IOC_BROKER_MEMORY_CHECK_S": "1"})
    try:
        up.wait_for("ioc: running", 180)
        tokens = up.tokens()
        emptied = up.wait_for("restarting it empty", 240)
        back = up.lines[up.wait_for("Kafka broker", 120, after=emptied + 1)]
        assert "restarted" in back or "is back" in back, back
        # the stack carries on: today's payments keep growing on the new incarnation
        url = f"{up.base_url}/api/v1/kpis/payment.count/current"
        headers = {"Authorization": f"Bearer {tokens['operator']}"}
        first = httpx.get(url, headers=headers, timeout=10).json()["value"]
        wait_until(lambda: httpx.get(url, headers=headers, timeout=10).json()["value"] > first,
                   timeout_s=120, what="payments counted after the broker's restart", interval_s=1)
    finally:
        code = up.stop(timeout_s=120)
    assert code == 0, up.output[-6000:]
    print("\n".join(line for line in up.lines if "broker" in line.lower()))
