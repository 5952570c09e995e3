"""The KPI catalogue (docs/contract/kpis.md): ids, names, units, kinds and breakdowns."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    COUNTER = "counter"
    RATIO = "ratio"
    AGGREGATE = "aggregate"
    GAUGE = "gauge"
    INDEX = "index"
    """The service index and its groups' points (0..100), combined from ratios' cells."""


@dataclass(frozen=True, slots=True)
class KpiDef:
    id: str
    name_vi: str
    name_en: str
    unit: str
    kind: Kind
    dimensions: tuple[str, ...] = ()
    """Optional breakdowns besides province and area."""


AGENCY = ("agency_code",)

CATALOGUE: tuple[KpiDef, ...] = (
    KpiDef("dossier.received", "Hồ sơ tiếp nhận", "Dossiers received", "dossiers", Kind.COUNTER,
           ("agency_code", "channel", "service_level")),
    KpiDef("dossier.resolved", "Hồ sơ đã giải quyết", "Dossiers resolved", "dossiers", Kind.COUNTER,
           ("agency_code",)),
    KpiDef("dossier.resolved_on_time", "Hồ sơ giải quyết đúng hạn", "Dossiers resolved on time",
           "dossiers", Kind.COUNTER, ("agency_code",)),
    KpiDef("dossier.on_time_rate", "Tỷ lệ giải quyết đúng hạn", "On-time resolution rate", "%",
           Kind.RATIO, AGENCY),
    KpiDef("dossier.online_rate", "Tỷ lệ hồ sơ trực tuyến", "Online dossier rate", "%", Kind.RATIO,
           AGENCY),
    KpiDef("dossier.full_online_rate", "Tỷ lệ hồ sơ trực tuyến toàn trình",
           "Full-online dossier rate", "%", Kind.RATIO),
    KpiDef("dossier.synced_rate", "Tỷ lệ hồ sơ đồng bộ lên Cổng Dịch vụ công quốc gia",
           "Dossiers synchronised to the national portal", "%", Kind.RATIO, AGENCY),
    KpiDef("dossier.digitized_rate", "Tỷ lệ số hóa hồ sơ khi tiếp nhận",
           "Dossiers digitised at receipt", "%", Kind.RATIO, AGENCY),
    KpiDef("dossier.result_digitized_rate", "Tỷ lệ số hóa kết quả giải quyết",
           "Results digitised", "%", Kind.RATIO, AGENCY),
    KpiDef("dossier.fee_online_rate", "Tỷ lệ hồ sơ thanh toán phí trực tuyến",
           "Fees paid online", "%", Kind.RATIO, AGENCY),
    KpiDef("dossier.rated", "Lượt đánh giá hồ sơ", "Dossier ratings", "ratings", Kind.COUNTER,
           AGENCY),
    KpiDef("dossier.satisfied_rate", "Tỷ lệ hài lòng về giải quyết hồ sơ",
           "Satisfied with dossier handling", "%", Kind.RATIO, AGENCY),
    KpiDef("feedback.received", "Phản ánh, kiến nghị tiếp nhận", "Citizen feedback received",
           "items", Kind.COUNTER, AGENCY),
    KpiDef("feedback.resolved", "Phản ánh, kiến nghị đã xử lý", "Citizen feedback resolved",
           "items", Kind.COUNTER, AGENCY),
    KpiDef("feedback.on_time_rate", "Tỷ lệ xử lý phản ánh đúng hạn", "Feedback resolved on time",
           "%", Kind.RATIO, AGENCY),
    KpiDef("feedback.satisfied_rate", "Tỷ lệ hài lòng về xử lý phản ánh",
           "Satisfied with feedback handling", "%", Kind.RATIO, AGENCY),
    KpiDef("payment.count", "Số giao dịch thanh toán", "Payments", "payments", Kind.COUNTER,
           ("method",)),
    KpiDef("payment.value_vnd", "Giá trị thanh toán", "Payment value", "VND", Kind.COUNTER,
           ("method",)),
    KpiDef("payment.non_cash_rate", "Tỷ lệ thanh toán không dùng tiền mặt", "Non-cash payment rate",
           "%", Kind.RATIO),
    KpiDef("payment.non_cash_value_rate", "Tỷ lệ giá trị thanh toán không dùng tiền mặt",
           "Non-cash payment value rate", "%", Kind.RATIO),
    KpiDef("dossier.open", "Hồ sơ đang giải quyết", "Open dossiers", "dossiers", Kind.GAUGE),
    KpiDef("dossier.overdue_open", "Hồ sơ quá hạn chưa giải quyết", "Overdue open dossiers",
           "dossiers", Kind.GAUGE),
    KpiDef("dossier.due_soon", "Hồ sơ sắp đến hạn (24 giờ)", "Dossiers due within 24 h",
           "dossiers", Kind.GAUGE),
    KpiDef("feedback.open", "Phản ánh đang xử lý", "Open citizen feedback", "items", Kind.GAUGE),
    KpiDef("feedback.overdue_open", "Phản ánh quá hạn chưa xử lý", "Overdue open feedback",
           "items", Kind.GAUGE),
    KpiDef("index.value", "Chỉ số phục vụ người dân, doanh nghiệp", "Service index", "points",
           Kind.INDEX, AGENCY),
    KpiDef("index.transparency", "Công khai, minh bạch", "Transparency", "points", Kind.INDEX,
           AGENCY),
    KpiDef("index.progress", "Tiến độ giải quyết", "Progress", "points", Kind.INDEX, AGENCY),
    KpiDef("index.digitisation", "Số hóa hồ sơ", "Digitisation", "points", Kind.INDEX, AGENCY),
    KpiDef("index.online_service", "Cung cấp dịch vụ trực tuyến", "Online service", "points",
           Kind.INDEX, AGENCY),
    KpiDef("index.satisfaction", "Mức độ hài lòng", "Satisfaction", "points", Kind.INDEX, AGENCY),
    KpiDef("sensor.stations_silent", "Trạm quan trắc mất tín hiệu", "Silent stations", "stations",
           Kind.GAUGE),
    KpiDef("sensor.avg", "Giá trị trung bình cảm biến", "Sensor mean", "metric unit",
           Kind.AGGREGATE, ("station_id", "metric")),
    KpiDef("sensor.min", "Giá trị nhỏ nhất cảm biến", "Sensor minimum", "metric unit",
           Kind.AGGREGATE, ("station_id", "metric")),
    KpiDef("sensor.max", "Giá trị lớn nhất cảm biến", "Sensor maximum", "metric unit",
           Kind.AGGREGATE, ("station_id", "metric")),
    KpiDef("sensor.readings", "Số lần đo", "Sensor readings", "readings", Kind.AGGREGATE,
           ("station_id", "metric")),
)

BY_ID: dict[str, KpiDef] = {k.id: k for k in CATALOGUE}


def kpi_value(kind: Kind, numerator: int, denominator: int) -> float | int | None:
    """The value shown for a stored (numerator, denominator): ratios in percent, null on 0/0."""
    if kind is Kind.RATIO:
        if denominator == 0:
            return None
        return numerator * 100 / denominator
    return numerator
