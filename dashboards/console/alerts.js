// Alerts: the ones to handle (overview), the list by state, one alert's detail with its
// history; acknowledge, comment, resolve. Each action's answer is the alert as it now is.
"use strict";

const SEVERITY_ORDER = { critical: 0, warning: 1, info: 2 };
const STATE_ORDER = { firing: 0, pending: 1, acknowledged: 2, resolved: 3, cancelled: 4 };

function alertSort(a, b) {
  return STATE_ORDER[a.state] - STATE_ORDER[b.state] || SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity]
    || (b.since || "").localeCompare(a.since || "");
}

const alertWhere = (a) => a.station ? `${a.area_name || t("province")} · ${a.station}` : (a.area_name || t("province"));

function alertValue(a) {
  const k = C.kpis[a.kpi];
  const v = a.value === null || a.value === undefined ? "—"
    : new Intl.NumberFormat(locale(), { maximumFractionDigits: 2 }).format(a.value);
  return k && k.unit === "%" && v !== "—" ? `${v} %` : v;
}

function kpiName(id) { const k = C.kpis[id]; return k ? (k.name[C.lang] || k.name.vi) : id; }

function actionButtons(a, compact) {
  const may = C.role !== "reader";
  const buttons = [];
  if (a.state === "firing" || a.state === "pending") {
    buttons.push(el("button", { type: "button", className: "act ack", disabled: !may, dataset: { act: "ack", alert: a.id },
      "aria-label": `${t("ack")}: ${a.rule_name}, ${alertWhere(a)}`, onclick: () => act(a.id, "ack") }, t("ack")));
  }
  if (OPEN_ALERT_STATES.includes(a.state)) {
    buttons.push(el("button", { type: "button", className: "act resolve", disabled: !may, dataset: { act: "resolve", alert: a.id },
      "aria-label": `${t("resolve")}: ${a.rule_name}, ${alertWhere(a)}`, onclick: () => act(a.id, "resolve") }, t("resolve")));
  }
  if (compact) {
    buttons.push(el("a", { href: `#alert/${a.id}`, className: "act link", "aria-label": `${t("details")}: ${a.rule_name}, ${alertWhere(a)}` }, t("details")));
  }
  return el("div", { className: "actions" }, buttons);
}

function alertRow(a) {
  return el("tr", { className: `alert-row ${a.severity} ${a.state}`, dataset: { alert: a.id } },
    el("td", {}, el("span", { className: `sev ${a.severity}` }, t(a.severity))),
    el("td", {}, t(a.state)),
    el("th", { scope: "row" }, el("a", { href: `#alert/${a.id}` }, a.rule_name), el("div", { className: "muted small" }, kpiName(a.kpi))),
    el("td", {}, alertWhere(a)),
    el("td", { className: "num" }, alertValue(a)),
    el("td", {}, fmtTime(a.since)),
    el("td", {}, actionButtons(a, true)));
}

function alertTable(list, caption) {
  if (!list.length) return el("p", { className: "empty" }, t("no_alerts"));
  return el("table", { className: "grid alerts-table" },
    el("caption", { className: "sr-only" }, caption),
    el("thead", {}, el("tr", {}, ["severity", "state", "rule", "where", "value", "since", "actions"]
      .map((k) => el("th", { scope: "col" }, t(k))))),
    el("tbody", {}, list.map(alertRow)));
}

// The overview's list: firing and pending first (they want an acknowledgement), then the
// acknowledged ones still open.
function renderAlertsToHandle() {
  const open = [...C.alerts.values()].filter((a) => OPEN_ALERT_STATES.includes(a.state)).sort(alertSort);
  $("handle-count").textContent = String(open.filter((a) => a.state !== "acknowledged").length);
  keepFocus($("handle-list"), alertTable(open, t("to_handle")));
}

async function renderAlertList() {
  const chosen = $("alert-state").value;
  let list;
  if (chosen === "open") list = [...C.alerts.values()].filter((a) => OPEN_ALERT_STATES.includes(a.state));
  else {
    const q = chosen === "all" ? "" : `?state=${encodeURIComponent(chosen)}`;
    try { list = await api(`/api/v1/alerts${q}`); } catch (e) { announce(`${t("failed")}: ${e.message}`, true); return; }
    list.forEach(applyAlert);
    list = list.map((a) => C.alerts.get(a.id) || a);
  }
  keepFocus($("alerts-list"), alertTable(list.sort(alertSort), t("alerts")));
}

// One alert's page. Opened: its title takes the focus. Drawn again (a feed message, an
// action): what was being typed and where the focus was are kept.
async function renderAlertDetail(id, opened = false) {
  let a;
  try { a = await api(`/api/v1/alerts/${encodeURIComponent(id)}`); } catch (e) {
    $("alert-detail").replaceChildren(el("p", { className: "empty" }, `${t("failed")}: ${e.message}`));
    return;
  }
  applyAlert(a);
  const fields = [["severity", t(a.severity)], ["state", t(a.state)], ["rule", a.rule_name], ["where", alertWhere(a)],
    ["value", alertValue(a)], ["threshold", `${a.comparison === "above" ? ">" : "<"} ${a.threshold}`], ["since", fmtTime(a.since)]];
  const drill = drillStateOf(a.kpi);
  const history = el("ol", { className: "history" }, (a.history || []).map((h) =>
    el("li", {}, el("time", { dateTime: h.at }, fmtTime(h.at)), " · ", t(h.kind), " ",
      h.actor ? `${t("by_whom")} ${h.actor}` : `(${t("evaluator")})`, h.note ? el("q", {}, h.note) : null)));
  const form = el("form", { className: "comment-form", onsubmit: (ev) => { ev.preventDefault(); comment(a.id); } },
    el("label", { htmlFor: "comment-text" }, t("comment")),
    el("textarea", { id: "comment-text", rows: 3, maxLength: 4000 }),
    el("button", { type: "submit" }, t("add_comment")));
  const typed = { comment: $("comment-text") ? $("comment-text").value : "", note: $("action-note") ? $("action-note").value : "" };
  const same = $("alert-detail").dataset.alert === String(a.id);
  $("alert-detail").dataset.alert = a.id;
  keepFocus($("alert-detail"), [
    el("p", {}, el("a", { href: "#alerts" }, `← ${t("back")}`)),
    el("h2", { id: "alert-title", tabIndex: -1 }, a.rule_name),
    el("dl", { className: "facts" }, fields.map(([k, v]) => [el("dt", {}, t(k)), el("dd", {}, v)])),
    el("label", { htmlFor: "action-note" }, t("note_optional")),
    el("input", { id: "action-note", maxLength: 4000, autocomplete: "off" }),
    actionButtons(a, false),
    drill ? el("p", {}, el("a", { href: dossiersLink({ ...drill, area: a.area }) }, `${t("drill")}: ${kpiName(a.kpi)} · ${alertWhere(a)}`)) : null,
    el("h3", {}, t("history")), history, form]);
  if (same) { $("comment-text").value = typed.comment; $("action-note").value = typed.note; }
  if (opened) $("alert-title").focus();
}

async function act(id, what) {
  const noteEl = $("action-note");
  const note = noteEl && noteEl.value.trim();
  try {
    const a = await api(`/api/v1/alerts/${id}/${what}`, { method: "POST", body: note ? { comment: note } : {} });
    applyAlert(a);
    announce(`${t(what)}: ${a.rule_name} — ${t(a.state)}`);
  } catch (e) { announce(`${t("failed")}: ${e.message}`, true); return; }
  rerender();
}

async function comment(id) {
  const text = $("comment-text").value.trim();
  if (!text) return;
  try {
    const a = await api(`/api/v1/alerts/${id}/comments`, { method: "POST", body: { comment: text } });
    applyAlert(a);
    $("comment-text").value = "";
    announce(`${t("add_comment")}: ${t("done")}`);
  } catch (e) { announce(`${t("failed")}: ${e.message}`, true); return; }
  rerender();
}
