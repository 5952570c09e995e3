// The operators' console: one page, its views chosen by the address's #fragment (real links,
// so the browser's back button and the keyboard work), kept live by the feed. No build step.
"use strict";

Object.assign(C, { token: null, role: null, kpis: {}, areas: [], agencies: [], province: null,
                   alerts: new Map(), gauges: new Map(), ws: null, retry: 0, chartScope: null, reportPath: null, served: new Set() });

const VIEWS = ["overview", "alerts", "alert", "rankings", "dossiers", "deadletters"];

function currentView() {
  const name = location.hash.slice(1).split(/[/?]/)[0];
  return VIEWS.includes(name) ? name : "overview";
}

function renderStatic() {
  document.documentElement.lang = C.lang;
  document.title = t("title");
  document.querySelectorAll("[data-i18n]").forEach((n) => { n.textContent = t(n.dataset.i18n); });
  document.querySelectorAll("[data-i18n-label]").forEach((n) => n.setAttribute("aria-label", t(n.dataset.i18nLabel)));
  $("lang").textContent = t("lang_button");
  $("lang").setAttribute("aria-label", t("lang_label"));
  $("lang").lang = C.lang === "vi" ? "en" : "vi";
  setConn($("conn").dataset.state || "connecting");
  $("role").textContent = C.role ? `${t("role")}: ${t(`role_${C.role}`)}` : "";
}

// Show the view the address names, and fill it.
async function route(focus = true) {
  const view = currentView();
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== view;
  document.querySelectorAll("nav a").forEach((a) => {
    const on = a.getAttribute("href") === `#${view === "alert" ? "alerts" : view}`;
    if (on) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  });
  if (!C.token || !C.role) return;
  if (focus && view !== "alert") $(`view-${view}`).querySelector("h2").focus();
  await fill(view, focus);
}

async function fill(view, opened = false) {
  if (view === "overview") { renderGauges(); renderAlertsToHandle(); await renderTodayRanking(); }
  else if (view === "alerts") await renderAlertList();
  else if (view === "alert") await renderAlertDetail(location.hash.split("/")[1], opened);
  else if (view === "rankings") await renderRankings();
  else if (view === "dossiers") await renderDossiers();
  else if (view === "deadletters") await renderDeadLetters();
}

// After an action: the current view again (each view keeps the focus where it can).
function rerender() { fill(currentView()); }

// The feed changed something: alerts show at once; the index and lists are read again at
// most every few seconds (they are computed by the server, not from the feed's values).
let refreshTimer = null;
function onFeed(kind) {
  $("last-update").textContent = new Date().toLocaleTimeString(locale(), { timeZone: TIME_ZONE });
  const view = currentView();
  if (view === "overview") { renderGauges(); if (kind !== "kpi") renderAlertsToHandle(); }
  if (view === "alerts" && kind !== "kpi" && $("alert-state").value === "open") renderAlertList();
  if (view === "alert" && kind !== "kpi") renderAlertDetail(location.hash.split("/")[1]);
  if (kind === "kpi" && !refreshTimer && ["overview", "rankings"].includes(view)) {
    refreshTimer = setTimeout(() => {
      refreshTimer = null;
      if (currentView() === "overview") renderTodayRanking();
      else if (currentView() === "rankings") renderRankings();
    }, 5000);
  }
}

async function start() {
  try {
    const [kpis, areas, agencies, role] = await Promise.all([api("/api/v1/kpis"), api("/api/v1/areas"),
      api("/api/v1/agencies").catch(() => ({ agencies: [] })), probeRole()]);
    C.kpis = Object.fromEntries(kpis.map((k) => [k.id, k]));
    C.areas = areas.areas;
    C.province = areas.province;
    C.agencies = agencies.agencies;
    C.role = role;
    C.served = await servedPaths();
    C.reportPath = C.served.has("/api/v1/reports/monthly") ? "/api/v1/reports/monthly" : null;
    renderStatic();
    connect();
    await route(false);
  } catch (e) {
    if (e.status === 401) return; // asked for a token
    if (e.status === 403) { announce(e.message, true); askToken(); return; } // an integrator key
    setConn("disconnected");
    setTimeout(start, 3000);
  }
}

// The routes the server offers (its OpenAPI): the monthly report and the chart's series may
// arrive after the page; without them the page keeps their place or asks day by day.
async function servedPaths() {
  try { return new Set(Object.keys((await (await fetch("/openapi.json")).json()).paths || {})); } catch (e) { return new Set(); }
}

$("lang").addEventListener("click", () => {
  C.lang = C.lang === "vi" ? "en" : "vi";
  localStorage.setItem("ioc.lang", C.lang);
  renderStatic();
  route(false);
});
$("sign-out").addEventListener("click", () => { C.token = null; C.role = null; askToken(); });
$("alert-state").addEventListener("change", () => renderAlertList());
for (const id of ["rk-period", "rk-by", "rk-on"]) $(id).addEventListener("change", () => renderRankings());
$("ds-form").addEventListener("submit", onDossierForm);
$("ds-kind").addEventListener("change", onDossierForm);
$("dl-form").addEventListener("submit", (ev) => { ev.preventDefault(); renderDeadLetters(); });
window.addEventListener("hashchange", () => route(true));
setInterval(() => { $("clock").textContent = new Date().toLocaleString(locale(), { timeZone: TIME_ZONE }); }, 1000);

C.token = takeToken();
renderStatic();
route(false);
if (C.token) start(); else askToken();
