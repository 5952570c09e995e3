// The console's words (Vietnamese first, English) and the formatting every view shares.
"use strict";

const I18N = {
  vi: {
    title: "Bảng điều hành — Trung tâm điều hành thông minh", brand: "IOC · Bảng điều hành", skip: "Bỏ qua, đến nội dung",
    nav: "Các mục", overview: "Tổng quan", alerts: "Cảnh báo", rankings: "Xếp hạng", dossiers: "Hồ sơ",
    deadletters: "Sự kiện lỗi", lang_button: "English", lang_label: "Switch to English",
    token_prompt: "Mã truy cập (token) của người vận hành", token_hint: "Mã không được lưu vào nhật ký; chỉ giữ trong phiên trình duyệt này.",
    sign_out: "Đổi mã truy cập", connected: "Đã kết nối", connecting: "Đang kết nối…", disconnected: "Mất kết nối",
    updated: "Cập nhật", role: "Vai trò", role_admin: "quản trị", role_responder: "vận hành", role_reader: "chỉ xem",
    to_handle: "Cảnh báo cần xử lý", today_ranking: "Chỉ số phục vụ hôm nay theo địa bàn", gauges: "Hồ sơ đang mở",
    no_alerts: "Không có cảnh báo cần xử lý", none: "Không có dữ liệu", loading: "Đang tải…",
    severity: "Mức độ", state: "Trạng thái", rule: "Quy tắc", where: "Địa bàn", value: "Giá trị", threshold: "Ngưỡng",
    since: "Từ", actions: "Thao tác", ack: "Tiếp nhận", resolve: "Đóng", details: "Chi tiết", comment: "Ghi chú",
    add_comment: "Thêm ghi chú", note_optional: "Ghi chú (không bắt buộc)", history: "Diễn biến", back: "Quay lại",
    critical: "Khẩn cấp", warning: "Cảnh báo", info: "Thông tin",
    pending: "Chờ xác nhận", firing: "Đang báo", acknowledged: "Đã tiếp nhận", resolved: "Đã đóng", cancelled: "Đã huỷ",
    open_states: "Đang mở", all_states: "Tất cả", filter_state: "Lọc theo trạng thái",
    fired: "báo động", commented: "ghi chú", escalated: "nâng cấp", by_whom: "bởi", evaluator: "hệ thống",
    province: "Toàn tỉnh", rank: "Hạng", name: "Tên", index: "Chỉ số",
    transparency: "Công khai", progress: "Tiến độ", digitisation: "Số hoá", online_service: "Trực tuyến", satisfaction: "Hài lòng",
    by: "Theo", by_area: "Địa bàn", by_agency: "Cơ quan", period: "Kỳ", day: "Ngày", month: "Tháng", on: "Vào",
    show: "Xem", chart_of: "Biểu đồ chỉ số trong tháng", chart_button: "Biểu đồ", drill: "Hồ sơ",
    chart_empty: "Chưa có chỉ số nào trong tháng này", chart_caption: "Chỉ số phục vụ theo ngày", report: "Báo cáo tháng (PDF)",
    report_pending: "Báo cáo tháng (PDF): chưa có — sẽ xuất hiện ở đây khi máy chủ hỗ trợ",
    kind: "Loại", kind_dossiers: "Hồ sơ", kind_feedback: "Phản ánh, kiến nghị", st_open: "Đang mở", st_overdue: "Quá hạn",
    st_due_soon: "Sắp đến hạn", area: "Địa bàn", agency: "Cơ quan", any: "Tất cả", total: "Tổng số",
    dossier_id: "Mã hồ sơ", feedback_id: "Mã phản ánh", service: "Thủ tục", received_at: "Tiếp nhận", due_at: "Hạn xử lý",
    late_by: "Quá hạn", prev: "Trang trước", next: "Trang sau", page: "Trang", as_of: "Tại thời điểm",
    not_available: "Máy chủ chưa hỗ trợ mục này", reason: "Lý do", detail: "Chi tiết", source: "Nguồn", event_id: "Mã sự kiện",
    body: "Nội dung gốc", replayed: "Đã gửi lại", replay: "Gửi lại", replay_fixed: "Gửi bản sửa", edit_fix: "Sửa rồi gửi",
    cancel: "Huỷ", admin_only: "Cần mã quản trị để gửi lại", replay_result: "Kết quả gửi lại", accepted: "được nhận",
    rejected: "bị từ chối", refresh: "Làm mới", filter: "Lọc", done: "Xong", failed: "Không thực hiện được",
    hours: "giờ", days: "ngày", day_so_far: "hôm nay", month_so_far: "tháng này", open_dossiers_of: "Hồ sơ của",
  },
  en: {
    title: "Operators' console — Intelligent Operations Center", brand: "IOC · Operators' console", skip: "Skip to content",
    nav: "Sections", overview: "Overview", alerts: "Alerts", rankings: "Rankings", dossiers: "Dossiers",
    deadletters: "Dead letters", lang_button: "Tiếng Việt", lang_label: "Chuyển sang tiếng Việt",
    token_prompt: "Operator access token", token_hint: "The token is never logged; it is kept for this browser session only.",
    sign_out: "Change token", connected: "Connected", connecting: "Connecting…", disconnected: "Disconnected",
    updated: "Updated", role: "Role", role_admin: "admin", role_responder: "operator", role_reader: "read only",
    to_handle: "Alerts to handle", today_ranking: "Today's service index by area", gauges: "Open dossiers",
    no_alerts: "No alerts to handle", none: "No data", loading: "Loading…",
    severity: "Severity", state: "State", rule: "Rule", where: "Where", value: "Value", threshold: "Threshold",
    since: "Since", actions: "Actions", ack: "Acknowledge", resolve: "Resolve", details: "Details", comment: "Comment",
    add_comment: "Add comment", note_optional: "Note (optional)", history: "History", back: "Back",
    critical: "Critical", warning: "Warning", info: "Info",
    pending: "Pending", firing: "Firing", acknowledged: "Acknowledged", resolved: "Resolved", cancelled: "Cancelled",
    open_states: "Open", all_states: "All", filter_state: "Filter by state",
    fired: "fired", commented: "commented", escalated: "escalated", by_whom: "by", evaluator: "the system",
    province: "Province", rank: "Rank", name: "Name", index: "Index",
    transparency: "Transparency", progress: "Progress", digitisation: "Digitisation", online_service: "Online", satisfaction: "Satisfaction",
    by: "By", by_area: "Area", by_agency: "Agency", period: "Period", day: "Day", month: "Month", on: "On",
    show: "Show", chart_of: "Index over the month", chart_button: "Chart", drill: "Dossiers",
    chart_empty: "No index yet this month", chart_caption: "Service index by day", report: "Monthly report (PDF)",
    report_pending: "Monthly report (PDF): not available yet — it will appear here once the server offers it",
    kind: "Kind", kind_dossiers: "Dossiers", kind_feedback: "Citizen feedback", st_open: "Open", st_overdue: "Overdue",
    st_due_soon: "Due soon", area: "Area", agency: "Agency", any: "All", total: "Total",
    dossier_id: "Dossier", feedback_id: "Feedback", service: "Service", received_at: "Received", due_at: "Due",
    late_by: "Overdue by", prev: "Previous page", next: "Next page", page: "Page", as_of: "As of",
    not_available: "The server does not offer this yet", reason: "Reason", detail: "Detail", source: "Source", event_id: "Event id",
    body: "Original body", replayed: "Replayed", replay: "Replay", replay_fixed: "Send corrected", edit_fix: "Correct and send",
    cancel: "Cancel", admin_only: "Replaying needs an admin token", replay_result: "Replay result", accepted: "accepted",
    rejected: "rejected", refresh: "Refresh", filter: "Filter", done: "Done", failed: "Could not do it",
    hours: "h", days: "d", day_so_far: "today", month_so_far: "this month", open_dossiers_of: "Dossiers of",
  },
};

// An alert's states, as ioc/alerts/machine.py AlertState defines them
// (tests/unit/test_alert_states.py checks the two agree).
const ALERT_STATES = ["pending", "firing", "acknowledged", "resolved", "cancelled"];
const OPEN_ALERT_STATES = ["pending", "firing", "acknowledged"];
const GROUPS = ["transparency", "progress", "digitisation", "online_service", "satisfaction"];
const TIME_ZONE = "Asia/Ho_Chi_Minh"; // the province's clock, whatever the computer's zone

const C = { lang: localStorage.getItem("ioc.lang") || "vi" }; // the console's state, filled by console.js
const $ = (id) => document.getElementById(id);
const t = (key) => I18N[C.lang][key] || I18N.vi[key] || key;
const locale = () => (C.lang === "vi" ? "vi-VN" : "en-GB");

// An index or group value rounded half-up to two decimals (docs/contract/kpis.md: "pages round
// half-up to two decimals"). The API gives the double nearest the exact value; its shortest
// decimal form (String) is that value whenever it has few digits, so a tie like 75.805 is
// rounded from its decimal digits, not from the binary 75.80499999…
function round2(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return null;
  const neg = x < 0;
  let s = Math.abs(x) < 1e-9 ? "0" : String(Math.abs(x));
  if (/e/i.test(s)) s = Math.abs(x).toFixed(20).replace(/0+$/, "");
  const [whole, frac = ""] = s.split(".");
  let cents = BigInt(whole) * 100n + BigInt((frac + "00").slice(0, 2));
  if ((frac[2] || "0") >= "5") cents += 1n;
  const str = cents.toString().padStart(3, "0");
  return `${neg && cents > 0n ? "-" : ""}${str.slice(0, -2)}.${str.slice(-2)}`;
}

function fmtIndex(x) {
  const r = round2(x);
  if (r === null) return "—";
  return C.lang === "vi" ? r.replace(".", ",") : r;
}

function fmtNumber(x) { return x === null || x === undefined ? "—" : new Intl.NumberFormat(locale()).format(x); }

function fmtTime(iso, withDate = true) {
  if (!iso) return "—";
  const opts = withDate ? { timeZone: TIME_ZONE, dateStyle: "short", timeStyle: "short" }
    : { timeZone: TIME_ZONE, hour: "2-digit", minute: "2-digit" };
  return new Date(iso).toLocaleString(locale(), opts);
}

// "3 d 4 h" between two instants (an overdue dossier's lateness).
function fmtSpan(ms) {
  if (ms <= 0) return "—";
  const h = Math.floor(ms / 3600000), d = Math.floor(h / 24);
  return d ? `${d} ${t("days")} ${h % 24} ${t("hours")}` : `${h} ${t("hours")}`;
}

// A local date (YYYY-MM-DD) in the province's time zone.
function localDate(d = new Date()) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: TIME_ZONE, year: "numeric", month: "2-digit", day: "2-digit" }).format(d);
}

// A small element: el("td", {className: "x"}, "text", child, ...).
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k in node && !k.includes("-")) node[k] = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

// Replace a live region's content without losing the keyboard user's place: the element that
// had the focus (found again by its id, its action and alert, its KPI, or its link) gets it
// back, or failing that another action on the same alert.
function keepFocus(container, children) {
  const a = document.activeElement;
  const inside = a && a !== container && container.contains(a);
  const ways = [];
  if (inside) {
    if (a.id) ways.push(`#${CSS.escape(a.id)}`);
    if (a.dataset.act) ways.push(`[data-act="${a.dataset.act}"][data-alert="${a.dataset.alert}"]`, `.act[data-alert="${a.dataset.alert}"]`, `tr[data-alert="${a.dataset.alert}"] a`);
    if (a.dataset.kpi) ways.push(`[data-kpi="${CSS.escape(a.dataset.kpi)}"]`);
    if (a.dataset.deadletter) ways.push(`button.replay[data-deadletter="${CSS.escape(a.dataset.deadletter)}"]`);
    if (a.getAttribute("href")) ways.push(`a[href="${CSS.escape(a.getAttribute("href"))}"]`);
  }
  container.replaceChildren(...[children].flat());
  for (const way of ways) {
    const found = container.querySelector(way);
    if (found) { found.focus(); return; }
  }
}

// A polite announcement for screen readers and the status line (results of actions).
function announce(text, bad = false) {
  const s = $("status");
  s.textContent = text;
  s.className = bad ? "status bad" : "status";
}
