"""The wall in a real browser (Debian's chromium, headless, driven over the DevTools
protocol): it loads, connects, shows the same numbers as the API, reconnects after the API
restarts, and leaves a screenshot (wall.png in the test's data directory). On today's
geography (Hai Phong's 114 units, Ho Chi Minh City's 168) every unit is on one 1920×1080
screen, readable, ranked worst first by the chosen KPI (screenshots wall-114.png and
wall-168.png, also copied to $IOC_WALL_SCREENS when set)."""

from __future__ import annotations

import base64
import itertools
import json
import math
import os
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
from tests.integration.conftest import Pipeline, Services, running_pipeline

pytestmark = pytest.mark.integration

BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
TILES = ["dossier.received", "dossier.resolved", "dossier.on_time_rate", "dossier.online_rate",
         "dossier.full_online_rate", "dossier.open", "dossier.overdue_open", "payment.count",
         "payment.non_cash_rate", "sensor.stations_silent", "index.value"]


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
    if kpi == "index.value":  # half-up to two decimals, as wall.js rounds it
        return f"{math.floor(value * 100 + 0.5 + 1e-9) / 100:,.2f}"
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
    # the historic profile's units are districts, and the grid says so
    title = browser.eval("document.getElementById('areas-title').textContent")
    assert title == "By district (before 1 July 2025)"

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



# --- every unit of today's provinces on one screen -------------------------------------------

WIDTH, HEIGHT = 1920, 1080


@pytest.fixture(scope="module", params=["31", "79"], ids=["hai-phong-114", "ho-chi-minh-168"])
def province(services: Services, request: pytest.FixtureRequest) -> Iterator[Pipeline]:
    """A worker and API of their own on one of today's provinces (one stack per province)."""
    code: str = request.param
    with running_pipeline(services, f"p_wall_{code}", env={"IOC_PROVINCE": code}) as pipe:
        yield pipe


def unit_event(kind: str, n: int, area: str, when: datetime, **data: str) -> bytes:
    return json.dumps({"specversion": "1.0", "id": f"wall-{kind}-{n}", "source": "wall.test",
                       "type": f"dossier.{kind}", "time": when.isoformat(),
                       "data": {"dossier_id": f"U-{n}", "service_code": "S", "agency_code": "A",
                                "area": area, **data}}).encode()


def online_share(index: int) -> int:
    """How many of a unit's four dossiers today came online (0 to 4, scattered over the list)."""
    return (index * 7) % 5


def vi_percent(value: float) -> str:
    return f"{value:.1f}".replace(".", ",") + " %"


CELLS = """JSON.stringify([...document.querySelectorAll('#area-grid .area')].map(e => {
  const r = e.getBoundingClientRect(), name = e.querySelector('.name'), n = name.getBoundingClientRect();
  const hit = document.elementFromPoint(n.left + n.width / 2, n.top + n.height / 2);
  return {code: e.dataset.area, title: e.title, label: e.getAttribute('aria-label'), name: name.textContent,
          badge: e.querySelector('.badge').textContent, value: e.querySelector('.value').textContent,
          level: [...e.classList].find(c => c.startsWith('lv-')), top: r.top, left: r.left,
          bottom: r.bottom, right: r.right, font: parseFloat(getComputedStyle(name).fontSize),
          clipped: name.scrollWidth > name.clientWidth + 0.5 || name.scrollHeight > name.clientHeight + 0.5,
          seen: hit === name || name.contains(hit)};
}))"""
WORST = """JSON.stringify([...document.querySelectorAll('#worst-list .worst-item')].map(e => {
  const r = e.getBoundingClientRect(), name = e.querySelector('.name');
  return {code: e.dataset.area, name: name.textContent, font: parseFloat(getComputedStyle(name).fontSize),
          value: e.querySelector('.worst-value').textContent, bottom: r.bottom, right: r.right};
}))"""


def cells_in_order(page: Page) -> list[dict[str, Any]]:
    """The grid's cells as the screen shows them: row by row, left to right."""
    cells: list[dict[str, Any]] = json.loads(page.eval(CELLS) or "[]")
    return sorted(cells, key=lambda c: (round(c["top"]), c["left"]))


def percent(text: str) -> float | None:
    return None if text == "—" else float(text.removesuffix(" %").replace(".", "").replace(",", "."))


def test_every_unit_is_on_one_screen_worst_first(province: Pipeline, browser: Page,
                                                 tmp_path: Path) -> None:
    answer = province.get("/api/v1/areas")
    units = answer["areas"]
    assert len(units) == {"31": 114, "79": 168}[answer["province"]["code"].lstrip("0")]
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    due = (now + timedelta(days=5)).isoformat()
    # four dossiers received in every unit, a share of them online; the online rate differs
    received = [unit_event("received", 4 * i + j, u["code"], now, due_at=due,
                           channel="online" if j < online_share(i) else "counter",
                           service_level="partial_online")
                for i, u in enumerate(units) for j in range(4)]
    # dossiers resolved in three units only: on time 1 of 4, 3 of 4 and 2 of 2
    a, b, c = units[3], units[len(units) // 2], units[-2]
    resolved = [unit_event("resolved", 10_000 + 10 * k + j, u["code"], now,
                           due_at=(now + timedelta(days=1) if j < on_time else now - timedelta(days=1))
                           .isoformat())
                for k, (u, on_time, total) in enumerate([(a, 1, 4), (b, 3, 4), (c, 2, 2)])
                for j in range(total)]
    province.publish(received + resolved)
    province.wait_processed()

    browser.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT,
                 deviceScaleFactor=1, mobile=False)
    try:
        browser.eval("localStorage.removeItem('ioc.areaKpi')")
        wall = f"{province.api_url}/wall?token={province.tokens['operator']}&lang=vi"
        browser.call("Page.navigate", url=wall)
        first = ["25,0 %", "75,0 %", "100,0 %"]
        wait_until(lambda: [x["value"] for x in cells_in_order(browser)[:3]] == first, timeout_s=60,
                   what="the three units' on-time rates, worst first", interval_s=0.5)
        # the default ranking: on-time resolution rate, worst first; units without data last
        assert browser.eval("document.getElementById('area-kpi').value") == "dossier.on_time_rate"
        shown_cells = cells_in_order(browser)
        assert [x["code"] for x in shown_cells[:3]] == [a["code"], b["code"], c["code"]]
        assert [x["level"] for x in shown_cells[:3]] == ["lv-far", "lv-far", "lv-met"]
        assert {x["value"] for x in shown_cells[3:]} == {"—"}
        title = browser.eval("document.getElementById('areas-title').textContent")
        assert title == "Theo xã, phường, đặc khu"
        worst = json.loads(browser.eval(WORST))
        assert [w["name"] for w in worst] == [a["name"], b["name"]]  # c meets the target
        assert all(w["font"] >= 24 and w["bottom"] <= HEIGHT and w["right"] <= WIDTH for w in worst)
        screens = save_screen(browser, tmp_path, f"wall-{len(units)}-on-time.png")

        # another KPI, chosen with the keyboard: the grid ranks by it, the address keeps it
        browser.eval("document.getElementById('area-kpi').focus()")
        for kind in ("rawKeyDown", "keyUp"):
            browser.call("Input.dispatchKeyEvent", type=kind, key="ArrowDown", code="ArrowDown",
                         windowsVirtualKeyCode=40, nativeVirtualKeyCode=40)
        wait_until(lambda: browser.eval("document.getElementById('area-kpi').value") == "dossier.online_rate",
                   timeout_s=10, what="the select moved by the keyboard", interval_s=0.2)
        assert "kpi=dossier.online_rate" in browser.eval("location.search")
        # the wall subscribes to every unit's value of the KPI it ranks by only: choosing
        # another asks the feed for that KPI's values (a fresh snapshot)
        expected_online = {u["code"]: vi_percent(online_share(i) * 25) for i, u in enumerate(units)}
        wait_until(lambda: {x["code"]: x["value"] for x in cells_in_order(browser)} == expected_online,
                   timeout_s=60, what="every unit's online rate after choosing it", interval_s=0.5)
        # and a fresh page told ?kpi= does the same
        browser.eval("localStorage.removeItem('ioc.areaKpi')")
        browser.call("Page.navigate", url=f"{wall}&kpi=dossier.online_rate")
        wait_until(lambda: {x["code"]: x["value"] for x in cells_in_order(browser)} == expected_online,
                   timeout_s=60, what="every unit's online rate on the wall", interval_s=0.5)
        assert browser.eval("document.getElementById('area-kpi').value") == "dossier.online_rate"
        time.sleep(0.5)  # let the last frame settle before measuring
        shown_cells = cells_in_order(browser)
        rates = [percent(x["value"]) for x in shown_cells]
        assert rates == sorted(rates, key=lambda r: -1 if r is None else r), "not worst first"
        by_name = {u["code"]: u for u in units}
        for cell in shown_cells:
            unit = by_name[cell["code"]]
            # the full name is the cell's title and accessible name; on screen, the kind's badge
            # beside the rest of the name, whole, uncovered, inside the screen, 11 px at least
            assert cell["title"] == cell["label"] == unit["name"]
            assert f"{unit['kind']} {cell['name']}".lower() == unit["name"].lower()
            assert cell["badge"] == {"xã": "X", "phường": "P", "đặc khu": "ĐK"}[unit["kind"]]
            assert not cell["clipped"] and cell["seen"], cell
            assert cell["font"] >= 11, cell
            assert cell["left"] >= 0 and cell["top"] >= 0, cell
            assert cell["right"] <= WIDTH and cell["bottom"] <= HEIGHT, cell
        assert len(shown_cells) == len(units)
        assert browser.eval("innerWidth") == WIDTH and browser.eval("innerHeight") == HEIGHT
        assert browser.eval("document.documentElement.scrollHeight") <= HEIGHT
        assert browser.eval("document.documentElement.scrollWidth") <= WIDTH
        legend = browser.eval("document.getElementById('areas-legend').textContent")
        assert all(word in legend for word in ("Xã", "Phường", "Đặc khu", "Đạt mục tiêu"))
        worst = json.loads(browser.eval(WORST))
        assert len(worst) == 5 and all(w["value"] == "0,0 %" and w["font"] >= 24 for w in worst)
        fonts = sorted(x["font"] for x in shown_cells)
        print(f"{len(units)} units: grid labels {fonts[0]} px, worst few {worst[0]['font']} px")
        screens += save_screen(browser, tmp_path, f"wall-{len(units)}.png")

        # in English (the page's language button): the same screen, the grid named for units
        browser.eval("document.getElementById('lang').click()")
        wait_until(lambda: browser.eval("document.getElementById('areas-title').textContent")
                   == "By commune, ward and special zone", timeout_s=10, what="English", interval_s=0.2)
        time.sleep(0.5)
        assert browser.eval("document.documentElement.scrollHeight") <= HEIGHT
        shown_cells = cells_in_order(browser)
        assert not any(x["clipped"] or not x["seen"] or x["bottom"] > HEIGHT for x in shown_cells)
        assert "Commune (xã)" in browser.eval("document.getElementById('areas-legend').textContent")
        screens += save_screen(browser, tmp_path, f"wall-{len(units)}-en.png")

        # a 4K wall: the same screen, every label about twice as large
        browser.call("Emulation.setDeviceMetricsOverride", width=2 * WIDTH, height=2 * HEIGHT,
                     deviceScaleFactor=1, mobile=False)
        time.sleep(0.5)
        assert browser.eval("document.documentElement.scrollHeight") <= 2 * HEIGHT
        assert browser.eval("document.documentElement.scrollWidth") <= 2 * WIDTH
        shown_cells = cells_in_order(browser)
        assert not any(x["clipped"] or not x["seen"] or x["bottom"] > 2 * HEIGHT for x in shown_cells)
        assert min(x["font"] for x in shown_cells) >= 20
        print("wall screenshots: " + ", ".join(map(str, screens)))
    finally:
        browser.call("Emulation.clearDeviceMetricsOverride")


def save_screen(page: Page, folder: Path, name: str, copies: str = "IOC_WALL_SCREENS") -> list[Path]:
    """A PNG of the page in ``folder``, and in the folder $``copies`` names when set."""
    shot = base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"])
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 20_000
    paths = [folder / name]
    if os.environ.get(copies):
        paths.append(Path(os.environ[copies]) / name)
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(shot)
    return paths
