"""The monthly report's PDF, drawn from hand-built values with Vietnamese names and read back
with pypdf: names, half-up rounded values, targets and alerts are in its text."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from pypdf import PdfReader

from ioc.report.model import (
    AlertLine,
    Group,
    KpiLine,
    MonthlyReport,
    Ranking,
    RankRow,
    month_period,
)
from ioc.report.render import render_pdf

ICT = timedelta(hours=7)
GROUPS = (Group("transparency", "Công khai, minh bạch", "Transparency", 18),
          Group("progress", "Tiến độ giải quyết", "Progress", 20),
          Group("digitisation", "Số hóa hồ sơ", "Digitisation", 22),
          Group("online", "Dịch vụ trực tuyến", "Online service", 22),
          Group("satisfaction", "Mức độ hài lòng", "Satisfaction", 18))


def text_of(pdf: bytes) -> str:
    """Every page's text, runs of white space made one space."""
    assert pdf.startswith(b"%PDF-")
    pages = PdfReader(io.BytesIO(pdf)).pages
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in pages))


def report(**changes: object) -> MonthlyReport:
    areas = Ranking(GROUPS, (
        RankRow(1, "288", "Thành phố Hải Dương", Fraction(98765, 1000),
                (Fraction(18), Fraction(1, 8), Fraction(22), Fraction(2, 3), None)),
        RankRow(2, "298", "Huyện Tứ Kỳ", Fraction(4, 3),
                (None, Fraction(4, 3), None, None, None)),
    ))
    agencies = Ranking(GROUPS, (
        RankRow(1, "SO-TNMT", "Sở Tài nguyên và Môi trường", Fraction(1249, 20),
                (Fraction(9), None, Fraction(5, 2), Fraction(0), Fraction(18))),
    ))
    kpis = (
        KpiLine("dossier.online_rate", "Tỷ lệ hồ sơ trực tuyến", "Online dossier rate", "%", True,
                2, 3, Fraction(89), True),
        KpiLine("dossier.on_time_rate", "Tỷ lệ giải quyết đúng hạn", "On-time resolution rate", "%",
                True, 0, 0, Fraction(95), True),
        KpiLine("dossier.received", "Hồ sơ tiếp nhận", "Dossiers received", "dossiers", False,
                1234567, 0, None, True),
    )
    alerts = (
        AlertLine(41, "Tỷ lệ đúng hạn thấp", "dossier.on_time_rate", "288 Thành phố Hải Dương",
                  "critical", "resolved", datetime(2026, 11, 3, 2, 5, tzinfo=UTC),
                  datetime(2026, 11, 3, 4, 0, tzinfo=UTC), 90.125),
        AlertLine(42, "Quá hạn ở Tứ Kỳ", "dossier.overdue_open", "Toàn tỉnh / Province",
                  "warning", "firing", datetime(2026, 11, 30, 16, 59, tzinfo=UTC), None, 12.0),
    )
    fields: dict[str, object] = dict(
        province_code="30", province_name="Tỉnh Hải Dương", period=month_period("2026-11", ICT),
        generated_at=datetime(2026, 12, 1, 1, 30, tzinfo=UTC), areas=areas, agencies=agencies,
        kpis=kpis, alerts=alerts)
    fields.update(changes)
    return MonthlyReport(**fields)  # type: ignore[arg-type]


def test_the_pdf_carries_the_province_period_and_generation_time() -> None:
    text = text_of(render_pdf(report()))
    assert "BÁO CÁO THÁNG 11/2026" in text
    assert "Monthly report 2026-11" in text
    assert "Tỉnh Hải Dương" in text
    assert "01/11/2026 – 30/11/2026" in text
    assert "01/12/2026 08:30" in text   # generated at 01:30 UTC: 08:30 in the province
    assert "UTC+07:00" in text


def test_rankings_show_names_and_values_rounded_half_up() -> None:
    text = text_of(render_pdf(report()))
    assert "Xếp hạng chỉ số phục vụ theo địa bàn" in text and "Service index ranking of areas" in text
    assert "1 288 Thành phố Hải Dương 98.77 18.00 0.13 22.00 0.67 —" in text
    assert "2 298 Huyện Tứ Kỳ 1.33 — 1.33 — — —" in text
    assert "Sở Tài nguyên và Môi trường 62.45 9.00 — 2.50 0.00 18.00" in text
    for group in GROUPS:
        assert group.name_vi in text


def test_kpis_appear_with_their_targets_and_whether_they_are_met() -> None:
    text = text_of(render_pdf(report()))
    assert "Tỷ lệ hồ sơ trực tuyến" in text and "Online dossier rate" in text
    assert "66.67 %" in text and "2 / 3" in text and "≥ 89.00 %" in text
    assert "Chưa đạt / Not met" in text
    assert "≥ 95.00 %" in text   # the on-time rate: no dossier resolved, its value is —
    assert "1,234,567" in text


def test_alerts_of_the_month_are_listed_in_local_time() -> None:
    text = text_of(render_pdf(report()))
    assert "Cảnh báo phát sinh trong tháng" in text
    assert "Tỷ lệ đúng hạn thấp" in text and "Quá hạn ở Tứ Kỳ" in text
    assert "03/11/2026 09:05" in text and "03/11/2026 11:00" in text
    assert "30/11/2026 23:59" in text
    assert "90.13" in text   # 90.125 half-up
    assert "Nghiêm trọng" in text and "Đang cảnh báo" in text


def test_empty_sections_say_so() -> None:
    empty = Ranking(GROUPS, ())
    text = text_of(render_pdf(report(areas=empty, agencies=empty, alerts=())))
    assert "No area with data in the month" in text
    assert "No agency with data in the month" in text
    assert "Không có cảnh báo nào trong tháng" in text


def test_a_long_report_runs_over_pages_and_says_what_was_left_out() -> None:
    many = tuple(RankRow(n, f"{n:05d}", f"Xã Đông Hưng số {n}", Fraction(100 - n % 90),
                         (None,) * 5) for n in range(1, 121))
    pdf = render_pdf(report(areas=Ranking(GROUPS, many), alerts_left_out=7))
    assert len(PdfReader(io.BytesIO(pdf)).pages) > 2
    text = text_of(pdf)
    assert "Xã Đông Hưng số 120" in text
    assert "và 7 cảnh báo khác" in text
