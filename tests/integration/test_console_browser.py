"""The operators' console in a real browser (Debian's chromium, headless, over the DevTools
protocol; the browser and its driver are the wall test's): it loads with an operator token,
shows an alert that was made to fire, acknowledges it from the keyboard (the API says it is
acknowledged); as an admin it shows a rejected event among the dead letters with its reason
and replays it (the API says it was replayed). Screenshots console-overview.png and
console-deadletters.png go to the test's data directory, and to $IOC_CONSOLE_SCREENS when set."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from ioc.embedded.processes import wait_until
from tests.integration import test_wall_browser as wall_browser
from tests.integration.conftest import Pipeline, Services, running_pipeline
from tests.integration.test_wall_browser import Page, browser

pytestmark = pytest.mark.integration
__all__ = ["browser"]  # the wall test's fixture: one headless chromium per module

RULE = "Console: payments today above 2"


@pytest.fixture(scope="module")
def pipeline(services: Services) -> Iterator[Pipeline]:
    env = {"IOC_ALERT_RULES_REFRESH_S": "0.3", "IOC_ALERT_TICK_S": "0.5"}
    with running_pipeline(services, "p_console_browser", env=env) as pipe:
        yield pipe


@pytest.fixture(scope="module")
def published(pipeline: Pipeline) -> datetime:
    """Today's dossiers in units 288 and 290 (processed), once per module; their time."""
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    pipeline.publish(dossiers(now))
    pipeline.wait_processed()
    return now


def call(pipe: Pipeline, method: str, path: str, role: str, **kwargs: Any) -> httpx.Response:
    return pipe.http.request(method, f"{pipe.api_url}{path}",
                             headers={"Authorization": f"Bearer {pipe.tokens[role]}"}, **kwargs)


def served(pipe: Pipeline, path: str) -> bool:
    return path in pipe.http.get(f"{pipe.api_url}/openapi.json").json()["paths"]


def event(kind: str, when: datetime, data: dict[str, Any]) -> dict[str, Any]:
    return {"specversion": "1.0", "id": f"console-{uuid.uuid4().hex[:12]}", "source": "console.test",
            "type": kind, "time": when.isoformat(), "data": data}


def payment(when: datetime) -> bytes:
    n = uuid.uuid4().hex[:10]
    return json.dumps(event("payment.completed", when, {"payment_id": f"CP-{n}", "area": "288",
                                                         "amount_vnd": 150000, "method": "qr",
                                                         "purpose": "fee"})).encode()


def dossiers(when: datetime) -> list[bytes]:
    """Dossiers received and resolved today in two units, so that they have an index."""
    out = []  # open at the end: CD-3 and CD-4, both in 290
    for i, area in enumerate(["288", "288", "290", "290", "290"]):
        common = {"dossier_id": f"CD-{i}", "service_code": "S", "agency_code": "A", "area": area}
        out.append(json.dumps(event("dossier.received", when, {
            **common, "channel": "online" if i % 2 else "counter", "service_level": "partial_online",
            "due_at": (when + timedelta(days=2)).isoformat()})).encode())
        if i < 3:
            out.append(json.dumps(event("dossier.resolved", when, {
                **common, "due_at": (when + timedelta(days=1 if i else -1)).isoformat()})).encode())
    return out


def text_of(page: Page, selector: str) -> str:
    return str(page.eval(f"(document.querySelector({json.dumps(selector)}) || {{}}).textContent || ''"))


def press(page: Page, key: str, code: int) -> None:
    """A real key press in the focused element (Enter on a button activates it)."""
    text = {"Enter": "\r", " ": " "}.get(key, "")
    page.call("Input.dispatchKeyEvent", type="keyDown", key=key, code=key, text=text,
              windowsVirtualKeyCode=code, nativeVirtualKeyCode=code)
    page.call("Input.dispatchKeyEvent", type="keyUp", key=key, code=key,
              windowsVirtualKeyCode=code, nativeVirtualKeyCode=code)


def save_screen(page: Page, folder: Path, name: str) -> list[Path]:
    paths = wall_browser.save_screen(page, folder, name, copies="IOC_CONSOLE_SCREENS")
    print(f"console screenshot: {', '.join(map(str, paths))}")
    return paths


def fired(pipe: Pipeline, rule_id: int) -> dict[str, Any] | None:
    found = call(pipe, "GET", "/api/v1/alerts", "operator",
                 params={"rule_id": rule_id, "state": "firing"}).json()
    return found[0] if found else None


def test_an_operator_acknowledges_an_alert_from_the_console(pipeline: Pipeline, browser: Page,
                                                            published: datetime) -> None:
    made = call(pipeline, "POST", "/api/v1/alert-rules", "admin", json={
        "name": RULE, "kpi": "payment.count", "bucket": "1d", "comparison": "above",
        "threshold": 2, "severity": "critical"})
    assert made.status_code == 201, made.text
    rule_id = made.json()["id"]
    now = published
    pipeline.publish([payment(now) for _ in range(3)])
    pipeline.wait_processed()
    # the rule may have been read after those values: one more payment now and then until it fires
    deadline, nudge = time.monotonic() + 90, time.monotonic() + 5
    while fired(pipeline, rule_id) is None:
        assert time.monotonic() < deadline, "the rule never fired"
        if time.monotonic() > nudge:
            pipeline.publish([payment(now)])
            nudge = time.monotonic() + 5
        time.sleep(0.2)
    alert = fired(pipeline, rule_id)
    assert alert is not None

    browser.call("Emulation.setDeviceMetricsOverride", width=1600, height=1000, deviceScaleFactor=1,
                 mobile=False)
    browser.call("Page.navigate",
                 url=f"{pipeline.api_url}/console?token={pipeline.tokens['operator']}&lang=vi")
    row = f"#handle-list tr[data-alert='{alert['id']}']"
    wait_until(lambda: RULE in text_of(browser, row), timeout_s=60, what="the alert on the console",
               interval_s=0.25)
    assert browser.eval("location.search") == "?lang=vi"  # the token left the address bar
    assert browser.eval("document.getElementById('conn').dataset.state") == "connected"
    # Vietnamese first
    assert "Khẩn cấp" in text_of(browser, row) and "Đang báo" in text_of(browser, row)
    assert text_of(browser, "#handle-title").startswith("Cảnh báo cần xử lý")
    if served(pipeline, "/api/v1/scorecard"):
        wait_until(lambda: browser.eval("document.querySelectorAll('#today-ranking tbody tr').length") == 2,
                   timeout_s=30, what="today's ranking of the two units", interval_s=0.25)
    wait_until(lambda: text_of(browser, "#gauges [data-kpi='dossier.open'] .value") == "2",
               timeout_s=30, what="the open dossiers gauge from the feed", interval_s=0.25)
    save_screen(browser, pipeline.root, "console-overview.png")

    # English, with the keyboard: the language button, Enter
    browser.eval("document.getElementById('lang').focus()")
    press(browser, "Enter", 13)
    wait_until(lambda: browser.eval("document.documentElement.lang") == "en", timeout_s=10,
               what="English", interval_s=0.2)
    wait_until(lambda: "Critical" in text_of(browser, row) and "Firing" in text_of(browser, row),
               timeout_s=10, what="the alert in English", interval_s=0.2)
    # the index is rounded half-up to two decimals from its decimal digits
    assert browser.eval("[round2(75.805), round2(1.005), round2(58.064516129), round2(null)]") == \
        ["75.81", "1.01", "58.06", None]

    # acknowledged from the keyboard: focus its button, press Enter
    button = f"{row} button[data-act='ack']"
    browser.eval(f"document.querySelector({json.dumps(button)}).focus()")
    assert browser.eval("document.activeElement.dataset.act") == "ack"
    press(browser, "Enter", 13)
    wait_until(lambda: call(pipeline, "GET", f"/api/v1/alerts/{alert['id']}", "operator").json()["state"]
               == "acknowledged", timeout_s=30, what="the alert acknowledged", interval_s=0.25)
    detail = call(pipeline, "GET", f"/api/v1/alerts/{alert['id']}", "operator").json()
    assert detail["acknowledged_by"] and [h["kind"] for h in detail["history"]][-1] == "acknowledged"
    # the page shows it acknowledged (the action's answer and the feed's alert message)
    wait_until(lambda: "Acknowledged" in text_of(browser, row), timeout_s=30,
               what="the console showing the acknowledgement", interval_s=0.25)
    assert "Acknowledge" in text_of(browser, "#status")
    # the keyboard user's place is kept: the focus moved to the alert's next action
    assert browser.eval("document.activeElement.dataset.act") == "resolve"

    # a comment from the alert's page
    browser.eval(f"location.hash = '#alert/{alert['id']}'")
    wait_until(lambda: browser.eval("!!document.getElementById('comment-text')"), timeout_s=30,
               what="the alert's page", interval_s=0.25)
    browser.eval("document.getElementById('comment-text').value = 'Đã gọi bộ phận một cửa'")
    browser.eval("document.querySelector('.comment-form button[type=submit]').click()")
    wait_until(lambda: any(h["note"] == "Đã gọi bộ phận một cửa" for h in call(
        pipeline, "GET", f"/api/v1/alerts/{alert['id']}", "operator").json()["history"]),
        timeout_s=30, what="the comment stored", interval_s=0.25)
    # an operator may not replay dead letters: the page says so
    browser.eval("location.hash = '#deadletters'")
    if served(pipeline, "/api/v1/deadletters"):
        wait_until(lambda: browser.eval("!document.getElementById('dl-admin').hidden"), timeout_s=30,
                   what="the admin-only note", interval_s=0.25)


def test_an_admin_replays_a_dead_letter_from_the_console(pipeline: Pipeline, browser: Page) -> None:
    if not served(pipeline, "/api/v1/deadletters"):
        pytest.skip("GET /api/v1/deadletters is not served yet (being built)")
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    bad = event("payment.completed", now, {"payment_id": "CP-bad", "area": "999999",
                                           "amount_vnd": 150000, "method": "qr", "purpose": "fee"})
    answer = pipeline.http.post(f"{pipeline.api_url}/api/v1/events", json=bad,
                                headers={"Authorization": f"Bearer {pipeline.tokens['integrator']}"})
    assert answer.status_code == 202 and answer.json()["accepted"] == 0, answer.text

    def letters() -> list[dict[str, Any]]:
        found = call(pipeline, "GET", "/api/v1/deadletters", "admin").json()["deadletters"]
        return [d for d in found if d["event_id"] == bad["id"]]

    wait_until(lambda: bool(letters()), timeout_s=30, what="the dead letter", interval_s=0.25)
    stored = letters()[0]
    assert stored is not None and stored["replayed_at"] is None

    browser.call("Page.navigate", url=f"{pipeline.api_url}/console?token={pipeline.tokens['admin']}"
                                      "&lang=en#deadletters")
    row = f"#dl-table tr[data-deadletter='{stored['id']}']"
    wait_until(lambda: stored["reason"] in text_of(browser, row), timeout_s=60,
               what="the dead letter and its reason on the console", interval_s=0.25)
    assert text_of(browser, f"{row} .reason") == stored["reason"] == "unknown_area"
    assert browser.eval("document.getElementById('dl-admin').hidden") is True
    save_screen(browser, pipeline.root, "console-deadletters.png")

    button = f"{row} button.replay"
    browser.eval(f"document.querySelector({json.dumps(button)}).focus()")
    press(browser, "Enter", 13)
    # sent again as it was: rejected again, for the same reason, and the page says so
    wait_until(lambda: "Replay result" in text_of(browser, "#status"), timeout_s=30,
               what="the replay's answer on the page", interval_s=0.25)
    assert "0 accepted, 1 rejected — unknown_area" in text_of(browser, "#status"), text_of(browser, "#status")
    # the API: the dead letter is marked replayed, its new rejection is a new dead letter
    wait_until(lambda: len(letters()) == 2, timeout_s=30, what="the new dead letter", interval_s=0.25)
    again, replayed = letters()  # newest first
    assert replayed["id"] == stored["id"] and replayed["replayed_at"] is not None
    assert again["reason"] == "unknown_area" and again["replayed_at"] is None
    wait_until(lambda: text_of(browser, f"{row} .replayed-at") not in ("", "—"), timeout_s=30,
               what="the page showing it replayed", interval_s=0.25)
    browser.call("Emulation.clearDeviceMetricsOverride")


def half_up(value: float | None) -> str:
    """The page's rounding of an index, English: half-up to two decimals of the shortest decimal."""
    return "—" if value is None else str(Decimal(repr(value)).quantize(Decimal("0.01"), ROUND_HALF_UP))


def test_rankings_chart_and_dossiers_behind_an_area(pipeline: Pipeline, browser: Page,
                                                    published: datetime) -> None:
    if not served(pipeline, "/api/v1/scorecard"):
        pytest.skip("GET /api/v1/scorecard is not served yet (being built)")
    browser.call("Emulation.setDeviceMetricsOverride", width=1600, height=1000, deviceScaleFactor=1,
                 mobile=False)
    browser.call("Page.navigate", url=f"{pipeline.api_url}/console?token={pipeline.tokens['operator']}"
                                      "&lang=en#rankings")
    card = pipeline.get("/api/v1/scorecard", period="day", by="area")
    assert [r["scope"] for r in card["rows"]] and {r["scope"] for r in card["rows"]} == {"288", "290"}
    rows = "JSON.stringify([...document.querySelectorAll('#rankings-table tbody tr')].map(r => " \
           "[r.dataset.scope, r.cells[2].textContent]))"
    wanted = [[r["scope"], half_up(r["index"])] for r in card["rows"]]
    wait_until(lambda: json.loads(browser.eval(rows) or "[]") == wanted, timeout_s=30,
               what="the day's ranking by area, as the API gives it", interval_s=0.25)
    # the month's chart: the province's index today is a point of it
    wait_until(lambda: (browser.eval("document.querySelectorAll('#chart svg circle').length") or 0) >= 1,
               timeout_s=30, what="the month's chart", interval_s=0.25)
    province = pipeline.get("/api/v1/scorecard", period="day", by="province")["rows"]
    label = browser.eval("document.querySelector('#chart svg').getAttribute('aria-label')")
    assert province and half_up(province[0]["index"]) in label
    if served(pipeline, "/api/v1/reports/monthly"):
        wait_until(lambda: browser.eval("!!document.getElementById('report-link')"), timeout_s=10,
                   what="the monthly report's button", interval_s=0.25)
    save_screen(browser, pipeline.root, "console-rankings.png")

    # down from the area 290 to its open dossiers
    if served(pipeline, "/api/v1/dossiers"):
        browser.eval("document.querySelector('#rankings-table tr[data-scope=\"290\"] th a').click()")
        ids = ("JSON.stringify([...document.querySelectorAll('#dossiers-table tbody th')]"
               ".map(e => e.textContent))")
        wait_until(lambda: json.loads(browser.eval(ids) or "[]") == ["CD-3", "CD-4"], timeout_s=30,
                   what="the open dossiers of area 290", interval_s=0.25)
        assert "area=290" in browser.eval("location.hash")
    browser.call("Emulation.clearDeviceMetricsOverride")
