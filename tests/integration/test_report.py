"""The monthly report on the real stack: events through the broker and the worker into
PostgreSQL, alert episodes stored, then ``ioc report --month`` and
``GET /api/v1/reports/monthly`` read back as text and compared with values computed here
from the events (tests/reference_kpis.py, and the service index from kpis.md's weights),
without the project's KPI or index code."""

from __future__ import annotations

import asyncio
import io
import json
import random
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path

import httpx
import pytest
from psycopg import AsyncConnection
from pypdf import PdfReader

from ioc.alerts.rules import Observation, RuleSpec
from ioc.storage import alert_episodes, alert_rules
from ioc.tokens import Principal, Role
from tests.generator import AREAS, valid_event
from tests.integration.conftest import Pipeline, Services, running_pipeline
from tests.integration.ioc_cli import run_ioc
from tests.reference_kpis import TZ, accepted_events, expected_cells, index_ratios

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
MONTH = NOW.astimezone(TZ).strftime("%Y-%m")
PREVIOUS = (NOW.astimezone(TZ).replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
RNG = random.Random(766)
EVENTS = [valid_event(RNG, n, NOW - timedelta(seconds=RNG.uniform(120, 6 * 86400)))
          for n in range(900)]
RECORDS = [json.dumps(e, ensure_ascii=False).encode() for e in EVENTS]
ACCEPTED = accepted_events(RECORDS, set(AREAS), NOW)
WEIGHTS = {"dossier.synced_rate": ("transparency", 18), "dossier.on_time_rate": ("progress", 20),
           "dossier.digitized_rate": ("digitisation", 11),
           "dossier.result_digitized_rate": ("digitisation", 11),
           "dossier.online_rate": ("online", 11), "dossier.fee_online_rate": ("online", 11),
           "feedback.on_time_rate": ("satisfaction", 6), "feedback.satisfied_rate": ("satisfaction", 6),
           "dossier.satisfied_rate": ("satisfaction", 6)}
GROUPS = ("transparency", "progress", "digitisation", "online", "satisfaction")
ADMIN = Principal(Role.ADMIN, "admin", None)


def month_of(time: datetime) -> str:
    return time.astimezone(TZ).strftime("%Y-%m")


def half_up(value: Fraction) -> str:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return str(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def text_of(pdf: bytes) -> str:
    assert pdf.startswith(b"%PDF-")
    return re.sub(r"\s+", " ", " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages))


def month_sums(month: str) -> dict[str, list[int]]:
    """Σ of the province's daily cells whose local day lies in ``month``, per KPI."""
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (kpi, area, size, start), (num, den) in expected_cells(ACCEPTED).items():
        if area == "" and size == "1d" and start.strftime("%Y-%m") == month:
            sums[kpi][0] += num
            sums[kpi][1] += den
    return sums


def expected_ranking(month: str, key: str) -> list[tuple[str, Fraction, list[Fraction | None]]]:
    """(code, index, group points) per scope with data, ranked as kpis.md says: by index,
    highest first, ties by code. ``key``: the event data's ``area`` or ``agency_code``."""
    ratios: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for ev in ACCEPTED:
        if month_of(datetime.fromisoformat(ev["time"])) != month or key not in ev["data"]:
            continue
        for kpi, (num, den) in index_ratios(ev).items():
            cell = ratios[ev["data"][key]][kpi]
            cell[0] += num
            cell[1] += den
    out = []
    for code, cells in ratios.items():
        with_data = {k: Fraction(n, d) for k, (n, d) in cells.items() if d and k in WEIGHTS}
        if not with_data:
            continue
        scale = Fraction(100, sum(WEIGHTS[k][1] for k in with_data))
        groups: list[Fraction | None] = []
        for group in GROUPS:
            inside = [k for k in with_data if WEIGHTS[k][0] == group]
            groups.append(scale * sum(WEIGHTS[k][1] * with_data[k] for k in inside) if inside else None)
        index = scale * sum(WEIGHTS[k][1] * r for k, r in with_data.items())
        out.append((code, index, groups))
    return sorted(out, key=lambda row: (-row[1], row[0]))


async def store_alerts(url: str, month_start: datetime) -> None:
    """Three episodes: one fired and resolved in the month, one firing since inside it, one
    fired (and resolved) the day before the month began."""
    async with await AsyncConnection.connect(url, autocommit=True) as conn:
        for name, scope, fired, resolved in (
                ("Báo cáo: đúng hạn thấp ở Thanh Hà", "294", month_start + timedelta(hours=2), True),
                ("Báo cáo: toàn tỉnh đang cảnh báo", "", month_start + timedelta(hours=3), False),
                ("Báo cáo: tháng trước", "296", month_start - timedelta(days=1), True)):
            spec = RuleSpec.model_validate({
                "name": name, "kpi": "dossier.on_time_rate", "bucket": "1d",
                "scope": "province" if scope == "" else "areas",
                **({"areas": [scope]} if scope else {}),
                "comparison": "below", "threshold": 95, "recovery": 97, "severity": "critical"})
            rule = (await alert_rules.create_rule(conn, spec, False, ADMIN)).rule
            await alert_episodes.evaluate(conn, {rule.id: rule}, {
                (rule.id, scope): Observation(rule.id, scope, 90.125, fired, 1)}, fired)
            if resolved:
                await alert_episodes.evaluate(conn, {rule.id: rule}, {
                    (rule.id, scope): Observation(rule.id, scope, 98.0, fired, 2)},
                    fired + timedelta(minutes=30))


@pytest.fixture(scope="module")
def stored(services: Services) -> Iterator[Pipeline]:
    with running_pipeline(services, "p_report") as pipe:
        pipe.publish(RECORDS)
        pipe.wait_processed()
        month_start = datetime.strptime(MONTH, "%Y-%m").replace(tzinfo=TZ).astimezone(UTC)
        asyncio.run(store_alerts(pipe.settings.database_url, month_start))
        yield pipe


def check_report(text: str, month: str) -> None:
    assert "Tỉnh Hải Dương" in text or "Hải Dương" in text
    year, number = month.split("-")
    assert f"BÁO CÁO THÁNG {number}/{year}" in text
    for kpi, (num, den) in month_sums(month).items():
        if kpi in WEIGHTS or kpi.endswith("_rate"):
            shown = half_up(Fraction(num * 100, den)) + " %" if den else "—"
            assert f"{kpi} {shown} {num:,} / {den:,}" in text, kpi
        else:
            assert f"{kpi} {num:,} —" in text, kpi
    assert "≥ 89.00 %" in text and "≥ 95.00 %" in text   # the shipped targets
    for section, key in (("areas", "area"), ("agencies", "agency_code")):
        expected = expected_ranking(month, key)
        assert expected, section
        for rank, (code, index, groups) in enumerate(expected, 1):
            shown = " ".join("—" if g is None else half_up(g) for g in groups)
            assert re.search(rf"(?<!\S){rank} {re.escape(code)} .*? {half_up(index)} {re.escape(shown)}",
                             text), (section, rank, code)


def test_ioc_report_writes_the_month_computed_from_the_events(stored: Pipeline, tmp_path: Path) -> None:
    out = tmp_path / "report.pdf"
    done = run_ioc("report", "--month", MONTH, "--out", str(out), env=stored.env())
    assert done.returncode == 0, done.stderr
    text = text_of(out.read_bytes())
    check_report(text, MONTH)
    assert "Báo cáo: đúng hạn thấp ở Thanh Hà" in text and "294 Huyện Thanh Hà" in text
    assert "Báo cáo: toàn tỉnh đang cảnh báo" in text and "Toàn tỉnh / Province" in text
    assert "Báo cáo: tháng trước" not in text
    assert "90.13" in text   # the last value judged of the episode still firing, half-up


def test_a_bad_month_is_refused_by_the_command(stored: Pipeline) -> None:
    done = run_ioc("report", "--month", "2026-13", env=stored.env())
    assert done.returncode == 2
    assert "month must be 01 to 12" in done.stderr


def test_the_api_serves_the_pdf_to_readers(stored: Pipeline) -> None:
    url = f"{stored.api_url}/api/v1/reports/monthly"
    answer = httpx.get(url, params={"month": PREVIOUS}, timeout=60,
                       headers={"Authorization": f"Bearer {stored.tokens['leader']}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"] == f'attachment; filename="bao-cao-thang-{PREVIOUS}.pdf"'
    text = text_of(answer.content)
    if month_sums(PREVIOUS):
        check_report(text, PREVIOUS)
    assert "Báo cáo: tháng trước" in text   # fired the day before this month began
    assert "Báo cáo: toàn tỉnh đang cảnh báo" not in text


def test_the_api_refuses_a_bad_month_and_a_missing_token(stored: Pipeline) -> None:
    url = f"{stored.api_url}/api/v1/reports/monthly"
    auth = {"Authorization": f"Bearer {stored.tokens['operator']}"}
    assert httpx.get(url, params={"month": MONTH}, timeout=60).status_code == 401
    for bad in ("2026-13", "2026-1", "junk", "2026-00", ""):
        answer = httpx.get(url, params={"month": bad}, headers=auth, timeout=60)
        assert answer.status_code in (400, 422), (bad, answer.status_code)
    assert httpx.get(url, headers=auth, timeout=60).status_code == 422   # no month at all
    integrator = {"Authorization": f"Bearer {stored.tokens['integrator']}"}
    assert httpx.get(url, params={"month": MONTH}, headers=integrator, timeout=60).status_code == 403
