"""`ioc up` bounds its broker's memory: Tansu's memory storage keeps every record, so past
IOC_BROKER_MEMORY_LIMIT_MB the broker is restarted empty and the stack carries on (the
worker re-sends the intake journal; tests/integration/test_intake_journal.py shows nothing
acknowledged is lost across a broker restart)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ioc.embedded.processes import free_port, wait_until

pytestmark = pytest.mark.integration


def test_the_broker_is_restarted_empty_past_its_memory_limit(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    env = {**os.environ, "IOC_SIM_RATE": "200", "IOC_BROKER_MEMORY_LIMIT_MB": "50",
           "IOC_BROKER_MEMORY_CHECK_S": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ioc", "up", "--data-dir", str(data_dir), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []
    try:
        assert proc.stdout is not None

        def line_with(text: str, timeout_s: float) -> str:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                line = proc.stdout.readline() if proc.stdout else ""
                assert line, f"ioc up ended early: {lines}"
                lines.append(line.rstrip())
                if text in line:
                    return line
            raise AssertionError(f"no {text!r} in time: {lines}")

        line_with("ioc: running", 180)
        tokens = json.loads((data_dir / "credentials.json").read_text())
        line_with("restarting it empty", 240)
        back = line_with("Kafka broker", 120)
        assert "restarted" in back or "is back" in back, back
        # the stack carries on: today's payments keep growing on the new incarnation
        url = f"http://127.0.0.1:{port}/api/v1/kpis/payment.count/current"
        headers = {"Authorization": f"Bearer {tokens['operator']}"}
        first = httpx.get(url, headers=headers, timeout=10).json()["value"]
        wait_until(lambda: httpx.get(url, headers=headers, timeout=10).json()["value"] > first,
                   timeout_s=120, what="payments counted after the broker's restart", interval_s=1)
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, "\n".join(lines) + output[-3000:]
    print("\n".join(line for line in lines if "broker" in line.lower()))
