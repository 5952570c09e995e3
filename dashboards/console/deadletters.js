// Dead letters: every rejected event with its reason; an admin replays one as it was, or
// corrected (the answer is the ingest answer: accepted, or rejected again with a reason).
"use strict";

async function renderDeadLetters() {
  const q = new URLSearchParams({ limit: 200 });
  if ($("dl-reason").value.trim()) q.set("reason", $("dl-reason").value.trim());
  if ($("dl-source").value.trim()) q.set("source", $("dl-source").value.trim());
  const out = $("dl-table");
  let answer;
  try { answer = await apiIfServed(`/api/v1/deadletters?${q}`); } catch (e) {
    out.replaceChildren(el("p", { className: "empty" }, `${t("failed")}: ${e.message}`));
    return;
  }
  if (!answer) { out.replaceChildren(el("p", { className: "empty" }, t("not_available"))); return; }
  $("dl-summary").textContent = `${t("total")}: ${fmtNumber(answer.total)}`;
  $("dl-admin").hidden = C.role === "admin";
  if (!answer.deadletters.length) { out.replaceChildren(el("p", { className: "empty" }, t("none"))); return; }
  out.replaceChildren(el("table", { className: "grid deadletters" },
    el("caption", { className: "sr-only" }, t("deadletters")),
    el("thead", {}, el("tr", {}, ["received_at", "reason", "detail", "source", "event_id", "replayed", "actions"]
      .map((k) => el("th", { scope: "col" }, t(k))))),
    el("tbody", {}, answer.deadletters.flatMap(deadLetterRows))));
}

function deadLetterRows(d) {
  const label = `${d.event_id || d.id} (${d.reason})`;
  const replay = el("button", { type: "button", className: "act replay", disabled: C.role !== "admin",
    title: C.role === "admin" ? null : t("admin_only"), dataset: { deadletter: d.id },
    "aria-label": `${t("replay")}: ${label}`, onclick: () => replayDeadLetter(d.id) }, t("replay"));
  const fix = el("button", { type: "button", className: "act", disabled: C.role !== "admin", "aria-expanded": "false",
    "aria-controls": `fix-${d.id}`, "aria-label": `${t("edit_fix")}: ${label}`,
    onclick: (ev) => toggleFix(d, ev.currentTarget) }, t("edit_fix"));
  const row = el("tr", { dataset: { deadletter: d.id }, className: d.replayed_at ? "replayed" : "" },
    el("td", {}, fmtTime(d.received_at)),
    el("td", {}, el("code", { className: "reason" }, d.reason)),
    el("td", { className: "detail" }, d.detail || "—",
      el("details", {}, el("summary", {}, t("body")), el("pre", {}, prettyBody(d.body)))),
    el("td", {}, d.source || "—"),
    el("td", {}, d.event_id ? el("code", {}, d.event_id) : "—"),
    el("td", { className: "replayed-at" }, d.replayed_at ? fmtTime(d.replayed_at) : "—"),
    el("td", {}, el("div", { className: "actions" }, replay, fix)));
  const editor = el("tr", { id: `fix-${d.id}`, hidden: true, className: "fix-row" },
    el("td", { colSpan: 7 }, el("form", { className: "fix-form", onsubmit: (ev) => { ev.preventDefault(); replayDeadLetter(d.id, ev.target.querySelector("textarea").value); } },
      el("label", { htmlFor: `fix-text-${d.id}` }, `${t("edit_fix")}: ${label}`),
      el("textarea", { id: `fix-text-${d.id}`, rows: 8, spellcheck: false, value: prettyBody(d.body) }),
      el("div", { className: "actions" }, el("button", { type: "submit" }, t("replay_fixed")),
        el("button", { type: "button", onclick: () => toggleFix(d, fix) }, t("cancel"))))));
  return [row, editor];
}

function prettyBody(body) {
  try { return JSON.stringify(JSON.parse(body), null, 2); } catch (e) { return body; }
}

function toggleFix(d, button) {
  const row = $(`fix-${d.id}`);
  row.hidden = !row.hidden;
  button.setAttribute("aria-expanded", String(!row.hidden));
  if (!row.hidden) row.querySelector("textarea").focus(); else button.focus();
}

async function replayDeadLetter(id, corrected) {
  let body;
  if (corrected !== undefined) {
    try { JSON.parse(corrected); } catch (e) { announce(`${t("failed")}: JSON — ${e.message}`, true); return; }
    body = corrected;
  }
  try {
    const answer = await api(`/api/v1/deadletters/${encodeURIComponent(id)}/replay`,
      { method: "POST", body, raw: true });
    const rejected = (answer.rejected || []).map((r) => r.reason).join("; ");
    announce(`${t("replay_result")}: ${answer.accepted} ${t("accepted")}` +
      (rejected ? `, ${answer.rejected.length} ${t("rejected")} — ${rejected}` : ""), Boolean(rejected));
  } catch (e) { announce(`${t("failed")}: ${e.message}`, true); }
  await renderDeadLetters();
  const again = document.querySelector(`button.replay[data-deadletter="${CSS.escape(String(id))}"]`);
  if (again) again.focus();
}
