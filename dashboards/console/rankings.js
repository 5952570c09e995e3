// The service index (docs/contract/kpis.md): today's ranking of areas on the overview, the
// rankings by area or agency, by day or month, and a chart of one scope's index over a month
// (the day scorecard of each day so far, drawn as inline SVG).
"use strict";

async function scorecard(period, on, by) {
  const q = new URLSearchParams({ period, by });
  if (on) q.set("on", on);
  return apiIfServed(`/api/v1/scorecard?${q}`);
}

function rankingTable(card, { withActions }) {
  if (!card) return el("p", { className: "empty" }, t("not_available"));
  if (!card.rows.length) return el("p", { className: "empty" }, t("none"));
  const by = card.by;
  const head = ["rank", "name", "index", ...GROUPS].map((k) => el("th", { scope: "col", className: k === "name" ? "" : "num" }, t(k)));
  if (withActions) head.push(el("th", { scope: "col" }, t("actions")));
  return el("table", { className: "grid ranking" },
    el("caption", { className: "sr-only" }, `${t("rankings")} · ${t(by === "agency" ? "by_agency" : "by_area")} · ${card.start}`),
    el("thead", {}, el("tr", {}, head)),
    el("tbody", {}, card.rows.map((r) => {
      const name = r.name || (r.scope ? r.scope : t("province"));
      const drill = by === "agency" ? { agency_code: r.scope } : (by === "area" ? { area: r.scope } : {});
      return el("tr", { dataset: { scope: r.scope } },
        el("td", { className: "num" }, String(r.rank)),
        el("th", { scope: "row" }, el("a", { href: dossiersLink({ state: "open", ...drill }), "aria-label": `${t("open_dossiers_of")} ${name}` }, name)),
        el("td", { className: "num strong" }, fmtIndex(r.index)),
        ...GROUPS.map((g) => el("td", { className: "num" }, fmtIndex(r.groups ? r.groups[g] : null))),
        withActions ? el("td", {}, el("button", { type: "button", className: "act", "aria-label": `${t("chart_button")}: ${name}`,
          onclick: () => { C.chartScope = { by, scope: r.scope, name }; drawChart(); } }, t("chart_button"))) : null);
    })));
}

async function renderTodayRanking() {
  try {
    const card = await scorecard("day", localDate(), "area");
    keepFocus($("today-ranking"), rankingTable(card, { withActions: false }));
  } catch (e) { $("today-ranking").replaceChildren(el("p", { className: "empty" }, `${t("failed")}: ${e.message}`)); }
}

function rankingChoice() {
  const period = $("rk-period").value, by = $("rk-by").value;
  const dateEl = $("rk-on");
  dateEl.type = period === "month" ? "month" : "date";
  if (!dateEl.value || dateEl.value.length !== (period === "month" ? 7 : 10)) {
    dateEl.value = period === "month" ? localDate().slice(0, 7) : localDate();
  }
  return { period, by, on: dateEl.value };
}

async function renderRankings() {
  const { period, by, on } = rankingChoice();
  $("rk-report").replaceChildren(reportLink(on.slice(0, 7)));
  try {
    const card = await scorecard(period, on, by);
    keepFocus($("rankings-table"), rankingTable(card, { withActions: true }));
  } catch (e) { $("rankings-table").replaceChildren(el("p", { className: "empty" }, `${t("failed")}: ${e.message}`)); }
  drawChart();
}

// The monthly PDF report: its place is kept; it is a link once the server offers one.
function reportLink(month) {
  if (!C.reportPath) return el("span", { className: "muted", id: "report-pending" }, t("report_pending"));
  return el("a", { href: `${C.reportPath}?month=${encodeURIComponent(month)}`, className: "act link", id: "report-link",
    onclick: (ev) => { ev.preventDefault(); downloadReport(month); } }, `${t("report")} · ${month}`);
}

async function downloadReport(month) {
  // fetched with the token in a header (a plain link would need it in the URL), then saved
  const r = await fetch(`${C.reportPath}?month=${encodeURIComponent(month)}`, { headers: { Authorization: `Bearer ${C.token}` } });
  if (!r.ok) { announce(`${t("failed")}: HTTP ${r.status}`, true); return; }
  const url = URL.createObjectURL(await r.blob());
  el("a", { href: url, download: `bao-cao-thang-${month}.pdf` }).click();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// The days of the chosen month up to today (or the whole month when it is past).
function monthDays(month) {
  const [y, m] = month.split("-").map(Number);
  const last = new Date(Date.UTC(y, m, 0)).getUTCDate();
  const today = localDate();
  const days = [];
  for (let d = 1; d <= last; d++) {
    const day = `${month}-${String(d).padStart(2, "0")}`;
    if (day > today) break;
    days.push(day);
  }
  return days;
}

async function drawChart() {
  const { by, on } = rankingChoice();
  const chosen = C.chartScope && C.chartScope.by === by ? C.chartScope : { by: "province", scope: "", name: t("province") };
  const month = on.slice(0, 7);
  const key = `${chosen.by}|${chosen.scope}|${month}`;
  C.chartKey = key;
  $("chart-title").textContent = `${t("chart_of")} ${month} · ${chosen.name}`;
  const points = await monthPoints(chosen, month);
  if (C.chartKey !== key) return; // another choice was made meanwhile
  $("chart").replaceChildren(lineChart(points, month));
}

// One scope's index on each day of the month: the series route when the server has it, else
// the day scorecard of each day so far.
async function monthPoints(chosen, month) {
  const days = monthDays(month);
  if (C.served.has("/api/v1/scorecard/days")) {
    const q = new URLSearchParams({ month, by: chosen.by, scope: chosen.scope });
    const series = await api(`/api/v1/scorecard/days?${q}`).catch(() => ({ days: [] }));
    const by = new Map(series.days.map((d) => [d.start, d.index]));
    return days.map((d) => ({ day: d, value: by.has(d) ? by.get(d) : null }));
  }
  const cards = await Promise.all(days.map((d) => scorecard("day", d, chosen.by).catch(() => null)));
  return days.map((d, i) => {
    const row = cards[i] && cards[i].rows.find((r) => r.scope === chosen.scope);
    return { day: d, value: row ? row.index : null };
  });
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, text) {
  const n = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
  if (text !== undefined) n.textContent = text;
  return n;
}

// Index 0..100 against the month's days; gaps where a day has no index. A table with the
// same numbers follows for screen readers.
function lineChart(points, month) {
  const known = points.filter((p) => p.value !== null && p.value !== undefined);
  if (!known.length) return el("p", { className: "empty" }, t("chart_empty"));
  const [y, m] = month.split("-").map(Number);
  const daysIn = new Date(Date.UTC(y, m, 0)).getUTCDate();
  const W = 720, H = 240, L = 40, R = 10, T = 10, B = 28;
  const x = (day) => L + ((Number(day.slice(8)) - 1) / Math.max(1, daysIn - 1)) * (W - L - R);
  const yv = (v) => T + (1 - v / 100) * (H - T - B);
  const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img",
    "aria-label": `${t("chart_caption")}: ${known.map((p) => `${p.day.slice(8)}: ${fmtIndex(p.value)}`).join(", ")}` });
  for (const v of [0, 25, 50, 75, 100]) {
    g.append(svg("line", { x1: L, x2: W - R, y1: yv(v), y2: yv(v), class: "gridline" }));
    g.append(svg("text", { x: L - 6, y: yv(v) + 4, class: "axis", "text-anchor": "end" }, String(v)));
  }
  for (const d of [1, 8, 15, 22, daysIn]) {
    const day = `${month}-${String(d).padStart(2, "0")}`;
    g.append(svg("text", { x: x(day), y: H - 8, class: "axis", "text-anchor": "middle" }, String(d)));
  }
  let path = "", pen = false;
  for (const p of points) {
    if (p.value === null || p.value === undefined) { pen = false; continue; }
    path += `${pen ? "L" : "M"}${x(p.day).toFixed(1)},${yv(p.value).toFixed(1)} `;
    pen = true;
  }
  g.append(svg("path", { d: path.trim(), class: "line" }));
  for (const p of known) {
    const dot = svg("circle", { cx: x(p.day), cy: yv(p.value), r: 3.5, class: "dot" });
    dot.append(svg("title", {}, `${p.day}: ${fmtIndex(p.value)}`));
    g.append(dot);
  }
  const table = el("details", { className: "chart-data" }, el("summary", {}, t("chart_caption")),
    el("table", { className: "grid" }, el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t("day")), el("th", { scope: "col", className: "num" }, t("index")))),
      el("tbody", {}, known.map((p) => el("tr", {}, el("td", {}, p.day), el("td", { className: "num" }, fmtIndex(p.value)))))));
  return el("div", {}, g, table);
}
