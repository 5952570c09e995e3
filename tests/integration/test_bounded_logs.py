"""`ioc up` writes no secret to its data dir and keeps every log file bounded: after every
role's token has been used (the feed by first message and by ``?token=``, REST with a
``Bearer`` header), no token appears in any file under the data dir but credentials.json,
even at debug level, where request lines are written; and a child's log rotates at its limit."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from ioc.embedded.logfiles import MAX_LINE
from ioc.embedded.processes import wait_until
from tests.integration.ioc_cli import Up

pytestmark = pytest.mark.integration

LIMIT = 20_000
BACKUPS = 2


def _use_every_token(base: str, tokens: dict[str, str]) -> None:
    ws_base = base.replace("http://", "ws://") + "/ws"
    for role in ("operator", "leader", "admin"):
        with connect(ws_base, open_timeout=10) as ws:  # the token in the first message
            ws.send(json.dumps({"type": "auth", "token": tokens[role]}))
            assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
        with connect(f"{ws_base}?token={tokens[role]}", open_timeout=10) as ws:  # old clients
            assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
        reply = httpx.get(f"{base}/api/v1/kpis", timeout=10,
                          headers={"Authorization": f"Bearer {tokens[role]}"})
        assert reply.status_code == 200
    with connect(f"{ws_base}?token={tokens['integrator']}", open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "error"
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
    reply = httpx.post(f"{base}/api/v1/events", content=b"[]", timeout=10,
                       headers={"Authorization": f"Bearer {tokens['integrator']}",
                                "Content-Type": "application/json"})
    assert reply.status_code < 500


def _files_holding(root: Path, secrets: dict[str, str]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if not path.is_file() or path.name == "credentials.json":
            continue
        data = path.read_bytes()
        found += [f"{role} in {path.relative_to(root)}" for role, token in secrets.items()
                  if token.encode() in data]
    return found


def test_no_token_under_the_data_dir_and_logs_rotate(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    up = Up(data_dir, env={"IOC_LOG_LEVEL": "DEBUG", "IOC_LOG_MAX_BYTES": str(LIMIT),
                           "IOC_LOG_BACKUPS": str(BACKUPS)})
    logs = data_dir / "logs"
    try:
        up.wait_for("^ioc: running", 180)
        tokens = up.tokens()
        _use_every_token(up.base_url, tokens)
        wait_until(lambda: any(logs.glob("*.log.1")), timeout_s=120,
                   what="a child log rotated at its limit", interval_s=0.5)
    finally:
        code = up.stop(timeout_s=120)
    assert code == 0, up.output[-3000:]

    assert _files_holding(data_dir, tokens) == []
    every_log = [p for p in data_dir.rglob("*.log*") if p.is_file()]
    assert len(every_log) >= 8
    for path in every_log:
        assert path.stat().st_size <= LIMIT + MAX_LINE, path
        assert not path.name.endswith(f".log.{BACKUPS + 1}"), path
    rotated = sorted(p.name for p in logs.glob("*.log.1"))
    assert rotated, sorted(p.name for p in every_log)
    print(f"rotated logs: {rotated}")
