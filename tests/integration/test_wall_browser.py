"""The wall in a real browser (Debian's chromium, headless, driven over the DevTools
protocol): it loads, connects, shows the same numbers as the API, reconnects after the API
restarts, and leaves a screenshot (wall.png in the test's data directory)."""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from ioc.embedded.processes import free_port, wait_until
from tests.integration.conftest import Pipeline

pytestmark = pytest.mark.integration

BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
TILES = ["dossier.received", "dossier.resolved", "dossier.on_time_rate", "dossier.online_rate",
         "dossier.full_online_rate", "dossier.open", "dossier.overdue_open", "payment.count",
         "payment.non_cash_rate", "sensor.stations_silent"]


class Page:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=30))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(message["error"])
                result: dict[str, Any] = message["result"]
                return result

    def eval(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")


@pytest.fixture(scope="module")
def browser() -> Iterator[Page]:
    if BROWSER is None:
        pytest.skip("no chromium on this machine (Debian: apt-get install chromium); .ci/run installs it")
    port = free_port()
    profile = tempfile.mkdtemp(prefix="ioc-chromium-")
    proc = subprocess.Popen([BROWSER, "--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", f"--remote-debugging-port={port}",
                             f"--user-data-dir={profile}", "--window-size=1920,1080", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def page_url() -> str | None:
        try:
            pages = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return None
        return next((p["webSocketDebuggerUrl"] for p in pages if p.get("type") == "page"), None)

    try:
        wait_until(lambda: page_url() is not None, timeout_s=60, what="chromium",
                   alive=lambda: proc.poll() is None, interval_s=0.2)
        url = page_url()
        assert url is not None
        with connect(url, max_size=None, open_timeout=30) as ws:
            page = Page(ws)
            page.call("Page.enable")
            page.call("Runtime.enable")
            yield page
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(profile, ignore_errors=True)


def dossier(n: int, when: datetime, channel: str) -> bytes:
    return json.dumps({"specversion": "1.0", "id": f"wall-{n}", "source": "wall.test",
                       "type": "dossier.received", "time": when.isoformat(),
                       "data": {"dossier_id": f"W-{n}", "service_code": "S", "agency_code": "A",
                                "area": "288", "channel": channel,
                                "service_level": "full_online" if n % 2 else "partial_online",
                                "due_at": (when + timedelta(days=5)).isoformat()}}).encode()


def payment(n: int, when: datetime, method: str) -> bytes:
    return json.dumps({"specversion": "1.0", "id": f"wall-pay-{n}", "source": "wall.test",
                       "type": "payment.completed", "time": when.isoformat(),
                       "data": {"payment_id": f"WP-{n}", "area": "288", "amount_vnd": 150000,
                                "method": method, "purpose": "fee"}}).encode()


def shown(page: Page) -> dict[str, str]:
    raw = page.eval("JSON.stringify(Object.fromEntries([...document.querySelectorAll('.tile')]"
                    ".map(e => [e.dataset.kpi, e.querySelector('.value').textContent])))")
    return json.loads(raw) if raw else {}


def expected(pipeline: Pipeline, kpi: str) -> str:
    """The API's value, formatted as the wall formats it in English (en-GB)."""
    value = pipeline.get(f"/api/v1/kpis/{kpi}/current")["value"]
    if value is None:
        return "—"
    if kpi.endswith("_rate"):
        return f"{value:,.1f} %"
    return f"{int(value):,}"


def test_the_wall_shows_the_apis_numbers_and_reconnects(pipeline: Pipeline, browser: Page) -> None:
    # a rule the live payment below breaks: its alert must reach the wall's ticker
    rule = httpx.post(f"{pipeline.api_url}/api/v1/alert-rules", timeout=30,
                      headers={"Authorization": f"Bearer {pipeline.tokens['admin']}"},
                      json={"name": "Payments today above 4", "kpi": "payment.count", "bucket": "1d",
                            "comparison": "above", "threshold": 4, "severity": "critical"})
    assert rule.status_code == 201, rule.text
    rule_loaded = time.monotonic() + 6  # workers re-read rules every 5 s
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    earlier = now - timedelta(hours=2)  # a second hourly point for the sparklines
    pipeline.publish([dossier(i, now, "online" if i % 4 else "counter") for i in range(8)]
                     + [dossier(20 + i, earlier, "online" if i % 4 else "counter") for i in range(4)]
                     + [payment(i, now, "cash" if i == 0 else "qr") for i in range(4)])
    pipeline.wait_processed()
    wall = f"{pipeline.api_url}/wall?token={pipeline.tokens['operator']}&lang=en"
    browser.call("Page.navigate", url=wall)

    def matches() -> bool:
        tiles = shown(browser)
        return bool(tiles) and all(tiles.get(k) == expected(pipeline, k) for k in TILES)

    wait_until(matches, timeout_s=60, what="the wall's tiles equal to the API", interval_s=0.5)
    assert browser.eval("document.getElementById('conn').dataset.state") == "connected"
    # the token left the address bar (it travels in the WebSocket's first message)
    assert browser.eval("location.search") == "?lang=en"
    tiles = shown(browser)
    assert tiles["dossier.online_rate"] == "75.0 %" and tiles["payment.non_cash_rate"] == "75.0 %"
    assert browser.eval("document.querySelectorAll('.area').length") == len(
        pipeline.get("/api/v1/areas")["areas"])

    assert browser.eval("document.getElementById('alert-count').textContent") == "0"
    # live: one more payment moves the tile without a reload
    time.sleep(max(0.0, rule_loaded - time.monotonic()))
    pipeline.publish([payment(10, now, "card")])
    pipeline.wait_processed()
    assert expected(pipeline, "payment.count") == "5"
    wait_until(lambda: shown(browser).get("payment.count") == expected(pipeline, "payment.count"),
               timeout_s=60, what="a live update on the wall", interval_s=0.25)

    # the alert it raised is on the ticker
    wait_until(lambda: browser.eval("document.getElementById('alert-count').textContent") == "1",
               timeout_s=30, what="the alert on the wall's ticker", interval_s=0.25)
    ticker = browser.eval("document.querySelector('#alert-list .alert.critical.firing').textContent")
    assert "Payments today above 4" in ticker and "Province" in ticker and ": 5" in ticker

    # sparklines of the last hours on the counter and ratio tiles
    wait_until(lambda: (browser.eval("document.querySelectorAll('.tile .spark polyline').length") or 0) >= 1,
               timeout_s=30, what="sparklines", interval_s=0.5)

    shot = base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"])
    path = Path(pipeline.root) / "wall.png"
    path.write_bytes(shot)
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 20_000
    print(f"wall screenshot: {path}")

    # a 4K wall: the same page fills 3840×2160 without scrolling sideways
    browser.call("Emulation.setDeviceMetricsOverride", width=3840, height=2160, deviceScaleFactor=1,
                 mobile=False)
    time.sleep(0.5)
    assert browser.eval("document.documentElement.scrollWidth") <= 3840
    assert browser.eval("parseFloat(getComputedStyle(document.body).fontSize)") > 20  # scaled up
    shot = base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"])
    (Path(pipeline.root) / "wall-4k.png").write_bytes(shot)
    browser.call("Emulation.clearDeviceMetricsOverride")

    # the API restarts: the wall says it lost the connection, then comes back by itself
    port = pipeline.api_url.rsplit(":", 1)[1]
    pipeline.stop("api")
    wait_until(lambda: browser.eval("document.getElementById('conn').dataset.state") != "connected",
               timeout_s=30, what="the wall noticing the API is gone", interval_s=0.2)
    restarted = pipeline.spawn("api", "api", "--port", port)
    wait_until(lambda: browser.eval("document.getElementById('conn').dataset.state") == "connected",
               timeout_s=90, what="the wall reconnecting", alive=lambda: restarted.poll() is None,
               interval_s=0.5)
    time.sleep(1)
    assert shown(browser)["payment.count"] == expected(pipeline, "payment.count")

