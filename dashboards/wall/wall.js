// The operations wall: a snapshot, then live updates over /ws. No build step.
"use strict";

const I18N = {
  vi: { title: "Trung tâm điều hành thông minh", subtitle: "Dịch vụ công — số liệu hôm nay",
        updated: "Cập nhật",
        token_prompt: "Mã truy cập (token) của người vận hành", connected: "Đã kết nối",
        connecting: "Đang kết nối…", disconnected: "Mất kết nối", target: "Mục tiêu", province: "Toàn tỉnh",
        alerts: "Cảnh báo", no_alerts: "Không có cảnh báo", acknowledged: "đã tiếp nhận",
        critical: "Khẩn cấp", warning: "Cảnh báo", info: "Thông tin", since: "từ" },
  en: { title: "Intelligent Operations Center", subtitle: "Public services — today's figures",
        updated: "Updated",
        token_prompt: "Operator access token", connected: "Connected", connecting: "Connecting…",
        disconnected: "Disconnected", target: "Target", province: "Province",
        alerts: "Alerts", no_alerts: "No active alerts", acknowledged: "acknowledged",
        critical: "Critical", warning: "Warning", info: "Info", since: "since" },
};
for (const lang of Object.keys(I18N)) Object.assign(I18N[lang], GRID_I18N[lang]); // heatgrid.js
// An alert's states, as ioc/alerts/machine.py AlertState defines them (tests/unit/test_alert_states.py
// checks the two agree); an open alert is on the wall, a closed one leaves it.
const ALERT_STATES = ["pending", "firing", "acknowledged", "resolved", "cancelled"];
const OPEN_ALERT_STATES = ["pending", "firing", "acknowledged"];
// Headline tiles: KPI id, and the target and direction used when the catalogue gives none
// (GET /api/v1/kpis: "target", "higher_is_better"). Those with a target rank the units.
const TILES = [
  { kpi: "dossier.received" },
  { kpi: "dossier.resolved" },
  { kpi: "dossier.on_time_rate", target: 95, higher: true },
  { kpi: "dossier.online_rate", target: 89, higher: true },
  { kpi: "dossier.full_online_rate", target: 30, higher: true },
  { kpi: "dossier.open" },
  { kpi: "dossier.overdue_open", target: 0, higher: false },
  { kpi: "payment.count" },
  { kpi: "payment.non_cash_rate", target: 65, higher: true },
  { kpi: "sensor.stations_silent", target: 0, higher: false },
  { kpi: "index.value", target: 70, higher: true }, // the service index (Decision 766): a unit ranking
];

const DEFAULT_RANK_KPI = "dossier.on_time_rate";
const state = { lang: localStorage.getItem("ioc.lang") || "vi", token: null, kpis: {}, areas: [], province: null,
                values: new Map(), alerts: new Map(), series: {}, dayStart: null, ws: null, retry: 0, lastUpdate: null,
                areaKpi: localStorage.getItem("ioc.areaKpi") || DEFAULT_RANK_KPI };

// The province's clock, whatever the wall computer's time zone is set to.
const TIME_ZONE = "Asia/Ho_Chi_Minh";
const $ = (id) => document.getElementById(id);
const t = (key) => I18N[state.lang][key] || key;
const locale = () => (state.lang === "vi" ? "vi-VN" : "en-GB");
const key = (kpi, area) => `${kpi}|${area || ""}`;

// Index points as pages show them: rounded half-up to two decimals (docs/contract/kpis.md).
// The API gives the double nearest the exact value; the tiny allowance makes an exact tie
// (e.g. 82.125, whose double may lie just below it) round up as the exact value does.
const halfUp2 = (value) => Math.floor(value * 100 + 0.5 + 1e-9) / 100;

function fmt(kpiId, value) {
  if (value === null || value === undefined) return "—";
  const kpi = state.kpis[kpiId];
  if (kpi && kpi.kind === "index") {
    return new Intl.NumberFormat(locale(), { maximumFractionDigits: 2, minimumFractionDigits: 2 }).format(halfUp2(value));
  }
  if (kpi && kpi.unit === "%") return new Intl.NumberFormat(locale(), { maximumFractionDigits: 1, minimumFractionDigits: 1 }).format(value) + " %";
  return new Intl.NumberFormat(locale()).format(value);
}

// A KPI's goal {target, higher}: the catalogue's when it gives one, else the tile's default.
function goalOf(kpiId) {
  const k = state.kpis[kpiId];
  if (k && typeof k.target === "number") return { target: k.target, higher: k.higher_is_better !== false };
  if (k && k.target === null) return null; // the catalogue says: no target
  const tile = TILES.find((x) => x.kpi === kpiId);
  return tile && tile.target !== undefined ? { target: tile.target, higher: tile.higher } : null;
}
const rankable = () => TILES.map((x) => x.kpi).filter((id) => goalOf(id));

function grade(goal, value) {
  if (!goal || value === null || value === undefined) return "";
  const ok = goal.higher ? value >= goal.target : value <= goal.target;
  const near = goal.higher ? value >= goal.target * 0.95 : value <= Math.max(goal.target * 1.05, 10);
  return ok ? "good" : near ? "warn" : "bad";
}

function kpiName(id) { const k = state.kpis[id]; return k ? k.name[state.lang] || k.name.vi : id; }

function render() {
  document.documentElement.lang = state.lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => setText(el, t(el.dataset.i18n)));
  $("lang").textContent = state.lang === "vi" ? "EN" : "VI";
  setText($("conn-text"), t($("conn").dataset.state)); // in the language just chosen
  const tiles = $("tiles");
  tiles.replaceChildren(...TILES.map((tile) => {
    const v = state.values.get(key(tile.kpi, null));
    const goal = goalOf(tile.kpi);
    const el = document.createElement("div");
    el.className = `tile ${grade(goal, v && v.value)}`;
    el.dataset.kpi = tile.kpi;
    const detail = goal ? `${t("target")}: ${fmt(tile.kpi, goal.target)}` :
      (v && v.denominator !== undefined ? `${fmt("", v.numerator)} / ${fmt("", v.denominator)}` : "");
    el.innerHTML = `<div class="label"></div><div class="value"></div><div class="detail"></div>`;
    el.querySelector(".label").textContent = kpiName(tile.kpi);
    el.querySelector(".value").textContent = fmt(tile.kpi, v ? v.value : null);
    el.querySelector(".detail").textContent = detail;
    const spark = sparkline(state.series[tile.kpi]);
    if (spark) el.appendChild(spark);
    return el;
  }));
  const select = $("area-kpi");
  const choices = rankable();
  let choice = state.areaKpi;
  if (!choices.includes(choice)) choice = choices.includes(DEFAULT_RANK_KPI) || !choices.length ? DEFAULT_RANK_KPI : choices[0];
  if (choice !== state.areaKpi) { // (with nothing rankable, the default stays: no re-subscribing each frame)
    state.areaKpi = choice;
    subscribe(); // (before connecting, a no-op: connect subscribes with the choice)
  }
  if (select.options.length !== choices.length) select.replaceChildren(...choices.map((id) => new Option(kpiName(id), id)));
  [...select.options].forEach((o) => { o.text = kpiName(o.value); });
  if (select.value !== state.areaKpi) select.value = state.areaKpi;
  renderGrid();
  renderAlerts();
  $("last-update").textContent = state.lastUpdate ? state.lastUpdate.toLocaleTimeString(locale(), { timeZone: TIME_ZONE }) : "—";
}

// The ticker: firing and acknowledged alerts, critical first, then the newest.
const SEVERITY_ORDER = { critical: 0, warning: 1, info: 2 };
function renderAlerts() {
  const shown = [...state.alerts.values()].filter((a) => a.state === "firing" || a.state === "acknowledged")
    .sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] || (b.fired_at || "").localeCompare(a.fired_at || ""));
  const list = $("alert-list");
  if (shown.length === 0) {
    const none = document.createElement("span");
    none.className = "alert-none";
    none.textContent = t("no_alerts");
    list.replaceChildren(none);
  } else {
    list.replaceChildren(...shown.map((a) => {
      const el = document.createElement("span");
      el.className = `alert ${a.severity} ${a.state}`;
      el.dataset.alert = a.id;
      const since = a.fired_at ? new Date(a.fired_at).toLocaleTimeString(locale(), { timeZone: TIME_ZONE, hour: "2-digit", minute: "2-digit" }) : "";
      const where = a.area_name || t("province");
      el.textContent = `${t(a.severity)} · ${a.rule_name} · ${where}: ${fmt(a.kpi, a.value)} · ${t("since")} ${since}` +
        (a.state === "acknowledged" ? ` (${t("acknowledged")})` : "");
      return el;
    }));
  }
  $("alert-count").textContent = String(shown.length);
  $("alerts").className = `ticker${shown.some((a) => a.severity === "critical" && a.state === "firing") ? " critical" : ""}`;
}

function applyAlert(alert) {
  const old = state.alerts.get(alert.id);
  if (old && old.updated_at > alert.updated_at) return;
  if (OPEN_ALERT_STATES.includes(alert.state)) state.alerts.set(alert.id, alert);
  else state.alerts.delete(alert.id); // closed: one of the other ALERT_STATES
}

// Sparklines: the last SPARK_HOURS hourly values of each counter and ratio tile.
const SPARK_HOURS = 12;
function sparkline(points) {
  const values = (points || []).map((p) => p.value).filter((x) => x !== null && x !== undefined);
  if (values.length < 2) return null;
  const lo = Math.min(...values), hi = Math.max(...values), span = hi - lo || 1;
  const step = 100 / (values.length - 1);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 100 30");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", "spark");
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", values.map((v, i) => `${(i * step).toFixed(2)},${(28 - ((v - lo) / span) * 26).toFixed(2)}`).join(" "));
  svg.appendChild(line);
  return svg;
}

async function loadSeries() {
  const end = new Date(), start = new Date(end.getTime() - SPARK_HOURS * 3600 * 1000);
  const wanted = TILES.filter((x) => state.kpis[x.kpi] && ["counter", "ratio"].includes(state.kpis[x.kpi].kind));
  await Promise.all(wanted.map(async (tile) => {
    const q = new URLSearchParams({ bucket: "1h", start: start.toISOString(), end: end.toISOString() });
    try { state.series[tile.kpi] = (await api(`/api/v1/kpis/${tile.kpi}/series?${q}`)).points; } catch (e) { /* kept */ }
  }));
  scheduleRender();
}

function setConn(kind) {
  const el = $("conn");
  el.className = `conn ${kind === "connected" ? "up" : "down"}`;
  el.dataset.state = kind;
  $("conn-text").textContent = t(kind);
}

async function api(path) {
  const r = await fetch(path, { headers: { Authorization: `Bearer ${state.token}` } });
  if (r.status === 401 || r.status === 403) { askToken(); throw new Error("unauthorized"); }
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.json();
}

function apply(msg) {
  // today's counters and ratios, and gauges' current values
  if (msg.metric || !((msg.bucket === "1d" && msg.start === state.dayStart) || msg.bucket === "now")) return;
  const k = key(msg.kpi, msg.area);
  const old = state.values.get(k);
  if (old && old.version >= msg.version) return;
  state.values.set(k, msg);
}

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => { renderQueued = false; render(); });
}

// The wall shows today's values and the gauges of its tiles for the province, and every
// unit's value of the KPI it ranks them by: nothing else needs to travel (all tiles for all
// 114 units would be ~2,300 values, ~120 of them gauges sent again every 10 s to each wall).
const wanted = () => ({ kpis: TILES.map((x) => x.kpi), areas: ["province"], buckets: ["1d", "now"],
                        also: [{ kpis: [state.areaKpi], areas: null, buckets: ["1d", "now"] }] });
function subscribe() {
  const ws = state.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  ws.send(JSON.stringify({ type: "subscribe", ...wanted() }));
}

function connect() {
  setConn("connecting");
  const proto = location.protocol === "https:" ? "wss" : "ws";
  // the token goes in the first message, never in the URL (URLs end up in access logs)
  const ws = new WebSocket(`${proto}://${location.host}/ws`);
  state.ws = ws;
  ws.onopen = () => {
    state.retry = 0;
    setConn("connected");
    // the subscription rides with the token: the first snapshot is already the wall's
    ws.send(JSON.stringify({ type: "auth", token: state.token, subscribe: wanted() }));
  };
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.type === "snapshot") {
      state.values.clear();
      state.dayStart = msg.day_start;
      msg.values.forEach(apply);
      state.alerts.clear();
      (msg.alerts || []).forEach(applyAlert);
    } else if (msg.type === "alert") {
      applyAlert(msg);
    } else if (msg.type === "kpi" || msg.type === "batch") {
      for (const one of msg.type === "batch" ? msg.messages : [msg]) {
        if (state.dayStart && one.bucket === "1d" && one.start > state.dayStart) { ws.close(); return; } // a new day: resnapshot
        apply(one);
      }
    } else { return; }
    state.lastUpdate = new Date();
    scheduleRender();
  };
  ws.onclose = (ev) => {
    setConn("disconnected");
    if (ev.code === 4400 || ev.code === 4401 || ev.code === 4403) { askToken(); return; }
    const delay = Math.min(30000, 500 * 2 ** state.retry++);
    setTimeout(connect, delay);
  };
}

function askToken() {
  $("token-dialog").hidden = false;
  $("token-form").onsubmit = (ev) => {
    ev.preventDefault();
    state.token = $("token-input").value.trim();
    localStorage.setItem("ioc.token", state.token);
    $("token-dialog").hidden = true;
    start();
  };
}

async function start() {
  try {
    const [kpis, areas] = await Promise.all([api("/api/v1/kpis"), api("/api/v1/areas")]);
    state.kpis = Object.fromEntries(kpis.map((k) => [k.id, k]));
    state.areas = areas.areas;
    state.province = areas.province || null;
    render();
    connect();
    loadSeries();
    if (!state.seriesTimer) state.seriesTimer = setInterval(loadSeries, 60000);
  } catch (e) {
    if (String(e.message) !== "unauthorized") { setConn("disconnected"); setTimeout(start, 3000); }
  }
}

$("lang").onclick = () => { state.lang = state.lang === "vi" ? "en" : "vi"; localStorage.setItem("ioc.lang", state.lang); render(); };
$("area-kpi").onchange = (ev) => {
  state.areaKpi = ev.target.value;
  localStorage.setItem("ioc.areaKpi", state.areaKpi);
  const q = new URLSearchParams(location.search);
  q.set("kpi", state.areaKpi); // a bookmark keeps the choice
  history.replaceState(null, "", `${location.pathname}?${q}${location.hash}`);
  subscribe(); // the units' values of the newly chosen KPI (a fresh snapshot)
  render();
};
window.addEventListener("resize", scheduleRender); // the grid fits its cells to the screen again
const tick = () => { $("clock").textContent = new Date().toLocaleString(locale(), { timeZone: TIME_ZONE }); };
tick();
setInterval(tick, 1000);

const params = new URLSearchParams(location.search);
state.token = params.get("token") || localStorage.getItem("ioc.token");
if (params.get("token")) {
  localStorage.setItem("ioc.token", state.token);
  params.delete("token"); // out of the address bar, the history and any bookmark
  const rest = params.toString();
  history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : "") + location.hash);
}
if (params.get("lang")) state.lang = params.get("lang");
if (params.get("kpi")) state.areaKpi = params.get("kpi"); // checked against the rankable KPIs once they are known
if (state.token) start(); else askToken();
