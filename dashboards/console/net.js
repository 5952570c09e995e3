// The console's talk to the API: the token, REST calls, and the live feed (docs/feed.md).
// The token is never logged nor put in a URL: it is read from ?token= once (then removed from
// the address bar), or asked for, and kept in this tab's sessionStorage only.
"use strict";

const TOKEN_KEY = "ioc.console.token";

class ApiError extends Error {
  constructor(status, detail) { super(detail || `HTTP ${status}`); this.status = status; }
}

async function api(path, { method = "GET", body, raw = false } = {}) {
  const headers = { Authorization: `Bearer ${C.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : (raw ? body : JSON.stringify(body)) });
  if (r.status === 401) { askToken(); throw new ApiError(401, t("token_prompt")); }
  if (!r.ok) {
    let detail = "";
    try { const j = await r.json(); detail = typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail ?? j); } catch (e) { /* none */ }
    throw new ApiError(r.status, detail);
  }
  return r.status === 204 ? null : r.json();
}

// A route a colleague may not have shipped yet: null when the server does not know it.
async function apiIfServed(path) {
  try { return await api(path); } catch (e) { if (e.status === 404 || e.status === 405) return null; throw e; }
}

// What the token may do, asked of the server (it alone decides): an admin may read the rules.
async function probeRole() {
  try { await api("/api/v1/alert-rules"); return "admin"; } catch (e) { if (e.status !== 403) throw e; }
  return C.token.startsWith("ioc_lea_") ? "reader" : "responder"; // a hint only: the server refuses a leader's ack
}

function askToken() {
  if (C.ws) { C.ws.onclose = null; C.ws.close(); C.ws = null; }
  sessionStorage.removeItem(TOKEN_KEY);
  const dialog = $("token-dialog");
  dialog.hidden = false;
  $("token-input").value = "";
  $("token-input").focus();
  $("token-form").onsubmit = (ev) => {
    ev.preventDefault();
    const given = $("token-input").value.trim();
    if (!given) return;
    C.token = given;
    sessionStorage.setItem(TOKEN_KEY, given);
    dialog.hidden = true;
    start();
  };
}

function takeToken() {
  const params = new URLSearchParams(location.search);
  const given = params.get("token");
  if (given) {
    sessionStorage.setItem(TOKEN_KEY, given);
    params.delete("token"); // out of the address bar, the history and any bookmark
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : "") + location.hash);
  }
  if (params.get("lang") === "vi" || params.get("lang") === "en") C.lang = params.get("lang");
  return sessionStorage.getItem(TOKEN_KEY);
}

// The feed: the dossier and feedback gauges (dossiers.js GAUGES) for the province and every
// unit (the overview's figures), and every alert change (sent whatever the subscription).
const wanted = () => ({ kpis: GAUGES.filter((k) => C.kpis[k]), areas: null, buckets: ["now"] });

function setConn(kind) {
  const c = $("conn");
  c.dataset.state = kind;
  c.className = `conn ${kind === "connected" ? "up" : "down"}`;
  $("conn-text").textContent = t(kind);
}

function connect() {
  setConn("connecting");
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/ws`);
  C.ws = ws;
  ws.onopen = () => {
    C.retry = 0;
    setConn("connected");
    ws.send(JSON.stringify({ type: "auth", token: C.token, subscribe: wanted() }));
  };
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.type === "snapshot") {
      C.gauges.clear();
      msg.values.forEach(applyValue);
      C.alerts.clear();
      (msg.alerts || []).forEach(applyAlert);
      onFeed("snapshot");
    } else if (msg.type === "alert") {
      applyAlert(msg);
      onFeed("alert");
    } else if (msg.type === "kpi" || msg.type === "batch") {
      (msg.type === "batch" ? msg.messages : [msg]).forEach(applyValue);
      onFeed("kpi");
    }
  };
  ws.onclose = (ev) => {
    setConn("disconnected");
    if (C.ws !== ws) return;
    if (ev.code === 4400 || ev.code === 4401 || ev.code === 4403) { askToken(); return; }
    setTimeout(connect, Math.min(30000, 500 * 2 ** C.retry++));
  };
}

function applyValue(msg) {
  if (msg.bucket !== "now" || msg.metric) return;
  const k = `${msg.kpi}|${msg.area || ""}`;
  const old = C.gauges.get(k);
  if (!old || old.version < msg.version) C.gauges.set(k, msg);
}

// Keep the newest version of each alert (by updated_at), open or not: the alert list shows
// closed ones too when asked; the overview filters.
function applyAlert(alert) {
  const old = C.alerts.get(alert.id);
  if (old && old.updated_at > alert.updated_at) return;
  C.alerts.set(alert.id, alert);
}
