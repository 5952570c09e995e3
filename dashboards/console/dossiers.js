// Drill-down: the dossiers (or citizen feedback) behind a gauge, for the province, an area or
// an agency. Reached from a gauge on the overview, an area or agency in a ranking, an alert;
// the filters live in the address (#dossiers?state=overdue&area=288), so a link can be shared.
"use strict";

const PAGE_SIZE = 50;
// Which dossiers a KPI counts: the gauges name their state.
const KPI_DRILL = { "dossier.open": { state: "open" }, "dossier.overdue_open": { state: "overdue" },
                    "dossier.due_soon": { state: "due_soon" }, "dossier.on_time_rate": { state: "overdue" },
                    "feedback.open": { kind: "feedback", state: "open" },
                    "feedback.overdue_open": { kind: "feedback", state: "overdue" },
                    "feedback.on_time_rate": { kind: "feedback", state: "overdue" } };
const drillStateOf = (kpi) => KPI_DRILL[kpi] ||
  (kpi && kpi.startsWith("dossier.") ? { state: "open" } : kpi && kpi.startsWith("feedback.") ? { kind: "feedback", state: "open" } : null);

function dossiersLink(filters) {
  const q = new URLSearchParams();
  for (const k of ["kind", "state", "area", "agency_code"]) if (filters[k]) q.set(k, filters[k]);
  return `#dossiers?${q}`;
}

function dossierFilters() {
  const q = new URLSearchParams(location.hash.split("?")[1] || "");
  return { kind: q.get("kind") === "feedback" ? "feedback" : "dossiers",
           state: ["open", "overdue", "due_soon"].includes(q.get("state")) ? q.get("state") : "open",
           area: q.get("area") || "", agency_code: q.get("agency_code") || "",
           offset: Math.max(0, Number(q.get("offset")) || 0) };
}

function fillDossierForm(f) {
  const area = $("ds-area"), agency = $("ds-agency");
  if (area.options.length <= 1) area.append(...C.areas.map((a) => new Option(a.name, a.code)));
  if (agency.options.length <= 1) agency.append(...C.agencies.map((a) => new Option(a.name, a.code)));
  $("ds-kind").value = f.kind;
  $("ds-state").value = f.state;
  $("ds-state").querySelector("option[value=due_soon]").disabled = f.kind === "feedback";
  area.value = f.area;
  agency.value = f.agency_code;
  agency.disabled = f.kind === "feedback";
}

async function renderDossiers() {
  const f = dossierFilters();
  if (f.kind === "feedback" && f.state === "due_soon") f.state = "open";
  fillDossierForm(f);
  const q = new URLSearchParams({ state: f.state, limit: PAGE_SIZE, offset: f.offset });
  if (f.area) q.set("area", f.area);
  if (f.agency_code && f.kind !== "feedback") q.set("agency_code", f.agency_code);
  const out = $("dossiers-table");
  out.replaceChildren(el("p", { className: "muted" }, t("loading")));
  let answer;
  try { answer = await apiIfServed(`/api/v1/${f.kind === "feedback" ? "feedback" : "dossiers"}?${q}`); } catch (e) {
    out.replaceChildren(el("p", { className: "empty" }, `${t("failed")}: ${e.message}`));
    return;
  }
  if (!answer) { out.replaceChildren(el("p", { className: "empty" }, t("not_available"))); return; }
  const items = answer.dossiers || answer.feedback || answer.items || [];
  const asOf = answer.as_of ? new Date(answer.as_of) : new Date();
  const idKey = f.kind === "feedback" ? "feedback_id" : "dossier_id";
  const areaName = (code) => (C.areas.find((a) => a.code === code) || {}).name || code || "—";
  const agencyName = (code) => (C.agencies.find((a) => a.code === code) || {}).name || code || "—";
  const cols = f.kind === "feedback" ? [idKey, "area", "received_at", "due_at", "late_by"]
    : [idKey, "service", "agency", "area", "received_at", "due_at", "late_by"];
  $("ds-summary").textContent = `${t("total")}: ${fmtNumber(answer.total)} · ${t("as_of")} ${fmtTime(answer.as_of)}`;
  const rows = items.map((d) => el("tr", {},
    el("th", { scope: "row" }, d[idKey]),
    f.kind === "feedback" ? null : el("td", {}, d.service_code || "—"),
    f.kind === "feedback" ? null : el("td", {}, agencyName(d.agency_code)),
    el("td", {}, areaName(d.area)),
    el("td", {}, fmtTime(d.received_at)), el("td", {}, fmtTime(d.due_at)),
    el("td", { className: "num" }, d.due_at ? fmtSpan(asOf - new Date(d.due_at)) : "—")));
  const pages = el("div", { className: "pager" },
    el("button", { type: "button", disabled: f.offset === 0, onclick: () => page(f, -PAGE_SIZE) }, t("prev")),
    el("span", {}, `${t("page")} ${Math.floor(f.offset / PAGE_SIZE) + 1} / ${Math.max(1, Math.ceil(answer.total / PAGE_SIZE))}`),
    el("button", { type: "button", disabled: f.offset + PAGE_SIZE >= answer.total, onclick: () => page(f, PAGE_SIZE) }, t("next")));
  out.replaceChildren(items.length ? el("table", { className: "grid" },
    el("caption", { className: "sr-only" }, $("ds-summary").textContent),
    el("thead", {}, el("tr", {}, cols.map((k) => el("th", { scope: "col" }, t(k))))), el("tbody", {}, rows)) :
    el("p", { className: "empty" }, t("none")), pages);
}

function page(f, by) {
  const q = new URLSearchParams(location.hash.split("?")[1] || "");
  q.set("offset", String(Math.max(0, f.offset + by)));
  location.hash = `#dossiers?${q}`;
}

function onDossierForm(ev) {
  ev.preventDefault();
  location.hash = dossiersLink({ kind: $("ds-kind").value === "feedback" ? "feedback" : "",
    state: $("ds-state").value, area: $("ds-area").value, agency_code: $("ds-agency").value });
}

// The overview's gauges: the province's open, overdue and soon-due dossiers and feedback
// (those the catalogue has), each a way down to the items behind it.
const GAUGES = ["dossier.open", "dossier.overdue_open", "dossier.due_soon", "feedback.open", "feedback.overdue_open"];
function renderGauges() {
  const tiles = GAUGES.filter((kpi) => C.kpis[kpi]).map((kpi) => {
    const v = C.gauges.get(`${kpi}|`);
    const bad = kpi.includes("overdue") && v && v.value > 0;
    return el("a", { className: `gauge${bad ? " bad" : ""}`, href: dossiersLink(KPI_DRILL[kpi]), dataset: { kpi },
      "aria-label": `${kpiName(kpi)}: ${v ? fmtNumber(v.value) : "—"}` },
      el("span", { className: "label" }, kpiName(kpi)), el("span", { className: "value" }, v ? fmtNumber(v.value) : "—"));
  });
  keepFocus($("gauges"), tiles);
}
