"""The monthly report drawn as a PDF (fpdf2), Vietnamese first with English beside it.

The font is Source Sans Pro (SIL Open Font License), regular and bold TrueType, from the
``font-source-sans-pro`` package: it installs with pip alone, covers Vietnamese (Latin
Extended Additional: ắ ể ộ ư ơ đ …) and is embedded in the PDF as a subset, so the file
reads the same on any machine. Nothing is fetched at run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from fractions import Fraction
from importlib import resources
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

from ioc.report.model import AlertLine, KpiLine, MonthlyReport, Ranking, half_up

FONT_PACKAGE = "font_source_sans_pro"
FONT = "SourceSans"
DASH = "—"
SEVERITY = {"info": "Thông tin / info", "warning": "Cảnh báo / warning",
            "critical": "Nghiêm trọng / critical"}
STATE = {"firing": "Đang cảnh báo / firing", "acknowledged": "Đã tiếp nhận / acknowledged",
         "resolved": "Đã kết thúc / resolved", "pending": "Đang chờ / pending",
         "cancelled": "Đã hủy / cancelled"}
_HEAD = FontFace(emphasis="BOLD", fill_color=(226, 232, 240))


def font_files() -> tuple[Path, Path]:
    """(regular, bold) TrueType files of the embedded font."""
    folder = resources.files(FONT_PACKAGE) / "files"
    return (Path(str(folder / "SourceSansPro-Regular.ttf")),
            Path(str(folder / "SourceSansPro-Bold.ttf")))


class _Pdf(FPDF):
    footer_text = ""

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font(FONT, "", 8)
        self.set_text_color(100, 100, 100)
        self.cell(0, 5, f"{self.footer_text} · Trang / Page {self.page_no()}/{{nb}}", align="C")
        self.set_text_color(0, 0, 0)


def local_time(instant: datetime | None, report: MonthlyReport) -> str:
    if instant is None:
        return DASH
    return (instant + report.period.utc_offset).strftime("%d/%m/%Y %H:%M")


def _offset(report: MonthlyReport) -> str:
    minutes = int(report.period.utc_offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def points(value: Fraction | None) -> str:
    return DASH if value is None else half_up(value)


def kpi_value(line: KpiLine) -> str:
    value = line.value
    if value is None:
        return DASH
    return f"{half_up(value)} %" if line.is_ratio else f"{line.numerator:,}"


def kpi_target(line: KpiLine) -> str:
    if line.target is None:
        return DASH
    shown = half_up(line.target) if line.is_ratio else f"{int(line.target):,}" \
        if line.target.denominator == 1 else half_up(line.target)
    return f"{'≥' if line.higher_is_better else '≤'} {shown}{' %' if line.is_ratio else ''}"


def kpi_status(line: KpiLine) -> str:
    met = line.met
    return DASH if met is None else "Đạt / Met" if met else "Chưa đạt / Not met"


def _heading(pdf: FPDF, text: str) -> None:
    pdf.ln(4)
    pdf.set_font(FONT, "B", 12)
    pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 9)
    pdf.ln(1)


def _note(pdf: FPDF, text: str) -> None:
    pdf.set_font(FONT, "", 8)
    pdf.set_text_color(80, 80, 80)
    pdf.multi_cell(0, 4, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font(FONT, "", 9)


def _table(pdf: FPDF, widths: Sequence[float], head: Sequence[str],
           rows: Sequence[Sequence[str]], align: Sequence[str]) -> None:
    with pdf.table(col_widths=tuple(widths), headings_style=_HEAD, line_height=4.6,
                   text_align=tuple(align), repeat_headings=1) as table:
        for cells in [head, *rows]:
            row = table.row()
            for text in cells:
                row.cell(text)


def _ranking(pdf: FPDF, ranking: Ranking, what_vi: str, what_en: str) -> None:
    if not ranking.rows:
        _note(pdf, f"Không có {what_vi} nào có dữ liệu trong tháng. / No {what_en} with data in the month.")
        return
    head = ["Hạng\nRank", "Mã\nCode", "Tên\nName", "Chỉ số\nIndex (100)",
            *(f"{g.name_vi}\n{g.name_en} ({g.points})" for g in ranking.groups)]
    rows = [[str(r.rank), r.code, r.name, points(r.index), *(points(p) for p in r.groups)]
            for r in ranking.rows]
    group_width = 147 / max(len(ranking.groups), 1)
    _table(pdf, [13, 20, 73, 20, *(group_width for _ in ranking.groups)], head, rows,
           ["CENTER", "LEFT", "LEFT", "RIGHT", *("RIGHT" for _ in ranking.groups)])


def _kpis(pdf: FPDF, lines: Sequence[KpiLine]) -> None:
    head = ["Chỉ tiêu\nKPI", "Mã\nId", "Giá trị tháng\nMonth's value",
            "Tử số / mẫu số\nNumerator / denominator", "Mục tiêu\nTarget", "Đánh giá\nStatus"]
    rows = [[f"{k.name_vi}\n{k.name_en}", k.kpi, kpi_value(k),
             f"{k.numerator:,} / {k.denominator:,}" if k.is_ratio else DASH,
             kpi_target(k), kpi_status(k)] for k in lines]
    _table(pdf, [88, 55, 32, 45, 25, 28], head, rows,
           ["LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "LEFT"])


def _alerts(pdf: FPDF, report: MonthlyReport, alerts: Sequence[AlertLine]) -> None:
    if not alerts:
        _note(pdf, "Không có cảnh báo nào trong tháng. / No alert fired in the month.")
        return
    head = ["Số\nNo.", "Quy tắc\nRule", "KPI", "Phạm vi\nScope", "Mức độ\nSeverity", "Trạng thái\nState",
            "Phát lúc\nFired", "Kết thúc\nResolved", "Giá trị cuối\nLast value"]
    rows = [[str(a.id), a.rule, a.kpi, a.scope, SEVERITY.get(a.severity, a.severity),
             STATE.get(a.state, a.state), local_time(a.fired_at, report),
             local_time(a.resolved_at, report), DASH if a.value is None else half_up(Fraction(a.value))]
            for a in alerts]
    _table(pdf, [12, 45, 38, 40, 26, 30, 26, 26, 22], head, rows,
           ["RIGHT", "LEFT", "LEFT", "LEFT", "LEFT", "LEFT", "LEFT", "LEFT", "RIGHT"])
    if report.alerts_left_out:
        _note(pdf, f"… và {report.alerts_left_out} cảnh báo khác (GET /api/v1/alerts). / "
                   f"… and {report.alerts_left_out} more (GET /api/v1/alerts).")


def render_pdf(report: MonthlyReport) -> bytes:
    """The report as PDF bytes (A4 landscape). Deterministic for the same report."""
    period = report.period
    title_vi = f"BÁO CÁO THÁNG {period.month:02d}/{period.year}"
    title_en = f"Monthly report {period.label}"
    pdf = _Pdf(orientation="L", unit="mm", format="A4")
    pdf.set_creation_date(report.generated_at)
    pdf.set_title(f"{title_vi} — {report.province_name}")
    pdf.set_author("IOC")
    regular, bold = font_files()
    pdf.add_font(FONT, "", str(regular))
    pdf.add_font(FONT, "B", str(bold))
    pdf.footer_text = f"{report.province_name} · {title_en}"
    pdf.set_margins(12, 12, 12)
    pdf.set_auto_page_break(True, margin=14)
    pdf.add_page()

    pdf.set_font(FONT, "B", 16)
    pdf.cell(0, 8, f"{title_vi} — {report.province_name.upper()}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 11)
    pdf.cell(0, 6, f"{title_en}: {report.province_name} (mã / code {report.province_code})",
             new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 10)
    pdf.cell(0, 5, f"Kỳ báo cáo / Period: 01/{period.month:02d}/{period.year} – "
                   f"{period.days:02d}/{period.month:02d}/{period.year} ({_offset(report)}, "
                   f"{period.days} ngày / days)", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 5, f"Lập lúc / Generated: {local_time(report.generated_at, report)} ({_offset(report)})",
             new_x="LMARGIN", new_y="NEXT")

    _heading(pdf, "1. Xếp hạng chỉ số phục vụ theo địa bàn / Service index ranking of areas")
    _ranking(pdf, report.areas, "địa bàn", "area")
    _heading(pdf, "2. Xếp hạng chỉ số phục vụ theo cơ quan / Service index ranking of agencies")
    _ranking(pdf, report.agencies, "cơ quan", "agency")
    _note(pdf, "Chỉ số 100 điểm, 5 nhóm (mô phỏng Quyết định 766/QĐ-TTg), tính từ tử số và mẫu số "
               "của các ngày trong tháng; làm tròn nửa lên 2 chữ số thập phân; — : không có dữ liệu. / "
               "100-point index in five groups (modelled on Decision 766/QĐ-TTg), from the month's "
               "daily numerators and denominators; rounded half-up to two decimals; —: no data.")
    _heading(pdf, "3. Chỉ tiêu toàn tỉnh so với mục tiêu / Province KPIs against their targets")
    _kpis(pdf, report.kpis)
    _note(pdf, "Giá trị tháng = tổng tử số / tổng mẫu số của các ngày (tỷ lệ, %), hoặc tổng (bộ đếm). / "
               "Month's value = Σ daily numerators × 100 / Σ daily denominators (ratios), or the sum "
               "(counters).")
    _heading(pdf, "4. Cảnh báo phát sinh trong tháng / Alerts fired in the month")
    _alerts(pdf, report, report.alerts)
    return bytes(pdf.output())
