"""`ioc up` as a newcomer runs it: ready with live numbers, one instance per data dir,
an orderly stop that leaves no process behind, and a clean second start on the same data."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from ioc.embedded.processes import free_port, wait_until
from tests.integration.ioc_cli import Up, run_ioc

pytestmark = pytest.mark.integration


def processes_using(data_dir: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if str(data_dir) in line and "pytest" not in line]


def stop_up(up: Up) -> str:
    assert up.stop() == 0, up.output
    return up.output


def test_ioc_up_runs_the_whole_system_and_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    up = Up(data_dir, "--province", "31")  # the default province (the suite's is historic)
    port = up.port
    try:
        up.wait_line(r"^ioc: running")
        lines = list(up.lines)
        assert "Thành phố Hải Phòng (31, province-31): 114 units" in lines
        wall = next(line for line in lines if "Wall:" in line)
        assert f"http://127.0.0.1:{port}/wall?token=" in wall
        tokens = up.tokens()
        assert set(tokens) == {"integrator", "operator", "leader", "admin"}
        assert all(tokens[role] in "\n".join(lines) for role in tokens)
        assert oct((data_dir / "credentials.json").stat().st_mode)[-3:] == "600"
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
        assert httpx.get(wall.split("Wall:")[1].strip(), timeout=5).status_code == 200

        # the simulator's numbers arrive and move
        headers = {"Authorization": f"Bearer {tokens['operator']}"}
        url = f"http://127.0.0.1:{port}/api/v1/kpis/payment.count/current"
        deadline = time.monotonic() + 60
        values = []
        while time.monotonic() < deadline and len(set(values)) < 2:
            values.append(httpx.get(url, headers=headers, timeout=5).json()["value"])
            time.sleep(1)
        assert len(set(values)) >= 2 and values[-1] > 0

        # Hai Phong's 114 units by their official codes and names, the simulator's traffic in them
        areas = httpx.get(f"http://127.0.0.1:{port}/api/v1/areas", headers=headers, timeout=5).json()
        assert len(areas["areas"]) == 114 and areas["province"]["code"] == "31"
        assert {"code": "11560", "name": "Phường Thuỷ Nguyên", "kind": "phường"} in areas["areas"]
        per_unit = [httpx.get(url, headers=headers, params={"area": a["code"]}, timeout=5).json()["value"]
                    for a in areas["areas"]]
        assert sum(v > 0 for v in per_unit) >= 10

        # within a minute of the simulator's start, the console's ranking is alive: today's
        # service index of areas and of agencies, and a unit's index on the wall's feed
        def ranking(by: str) -> list[dict[str, Any]]:
            return httpx.get(f"http://127.0.0.1:{port}/api/v1/scorecard", headers=headers,
                             params={"by": by}, timeout=5).json()["rows"]

        wait_until(lambda: len(ranking("area")) >= 10, timeout_s=60,
                   what="today's service-index ranking of areas", interval_s=1)
        rows = ranking("area")
        assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
        assert all(0 <= r["index"] <= 100 for r in rows)
        assert all(abs(sum(v for v in r["groups"].values() if v is not None) - r["index"]) < 1e-9
                   for r in rows)  # the groups' points add up to the index
        assert ranking("agency") and httpx.get(f"http://127.0.0.1:{port}/console",
                                                timeout=5).status_code == 200

        # a second `ioc up` on the same data dir refuses, saying why
        second = run_ioc("up", "--data-dir", str(data_dir), "--port", str(free_port()))
        assert second.returncode == 1
        assert "in use" in second.stderr and len(second.stderr.strip().splitlines()) == 1
    finally:
        output = stop_up(up)
    assert "ioc: stopped" in output
    assert processes_using(data_dir) == []

    # a second start on the same data keeps the tokens and the stored KPIs
    up = Up(data_dir, "--no-simulator", port=port)
    try:
        up.wait_line(r"^ioc: running")
        assert up.tokens() == tokens
        again = httpx.get(url, headers=headers, timeout=5).json()["value"]
        assert again >= values[-1]
    finally:
        stop_up(up)
    assert processes_using(data_dir) == []


def test_a_port_in_use_gives_a_one_line_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_ioc("up", "--data-dir", str(tmp_path / "d"), "--port", str(port))
    assert result.returncode == 1
    assert f"port {port}" in result.stderr and "--port" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
