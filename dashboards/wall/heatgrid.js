// The wall's ranked heat grid: every unit of the province (xã, phường, đặc khu; in the historic
// profile huyện, thị xã, thành phố) on one screen, coloured by the chosen KPI against its
// target, worst first, and the worst few named large. Loaded before wall.js, whose state,
// t(), fmt(), kpiName() and goalOf() it uses when called.
// Updates are incremental: a cell's text and class change only when its value does, and the
// ranking moves cells with the CSS `order` property (no DOM moves, no re-render of every cell).
"use strict";

const GRID_I18N = {
  vi: { areas_units: "Theo xã, phường, đặc khu", areas_historic: "Theo huyện, thị xã, thành phố (trước 1/7/2025)",
        rank_by: "Xếp hạng theo", worst_first: "Kém nhất xếp trước", units: "đơn vị", worst: "Cần chú ý nhất",
        no_data: "Chưa có số liệu", all_met: "Mọi đơn vị có số liệu đều đạt mục tiêu", lv_met: "Đạt mục tiêu", lv_near: "Thiếu ≤ 5%", lv_bad: "Thiếu 5–20%",
        lv_far: "Thiếu > 20%", lv_none: "Chưa có số liệu", at_least: "≥", at_most: "≤", gap: "so với mục tiêu", points: "điểm %",
        rank: "Hạng" },
  en: { areas_units: "By commune, ward and special zone", areas_historic: "By district (before 1 July 2025)",
        rank_by: "Rank by", worst_first: "Worst first", units: "units", worst: "Needs attention most",
        no_data: "No data yet", all_met: "Every unit with data meets the target", lv_met: "Target met", lv_near: "Short by ≤ 5%", lv_bad: "Short by 5–20%",
        lv_far: "Short by > 20%", lv_none: "No data yet", at_least: "≥", at_most: "≤", gap: "against target", points: "pts",
        rank: "Rank" },
};
// Unit kinds as GET /api/v1/areas names them: a badge's letters and the legend's words.
const KINDS = {
  "phường": { abbr: "P", vi: "Phường", en: "Ward (phường)" },
  "xã": { abbr: "X", vi: "Xã", en: "Commune (xã)" },
  "đặc khu": { abbr: "ĐK", vi: "Đặc khu", en: "Special zone (đặc khu)" },
  "thành phố": { abbr: "TP", vi: "Thành phố", en: "City (thành phố)" },
  "thị xã": { abbr: "TX", vi: "Thị xã", en: "Town (thị xã)" },
  "huyện": { abbr: "H", vi: "Huyện", en: "District (huyện)" },
};
const HISTORIC_KINDS = ["huyện", "thị xã", "thành phố"];
const LEVELS = ["far", "bad", "near", "met", "none"];
const WORST_SHOWN = 5;

// Text written only when it changed (the head and panel are refreshed at every frame).
function setText(el, text) { if (el.textContent !== text) el.textContent = text; }

function kindOf(kind) {
  return KINDS[kind] || { abbr: (kind || "?").split(" ").map((w) => w[0] || "").join("").toUpperCase(), vi: kind, en: kind };
}

// "Phường Thành Đông" shown as "Thành Đông" beside its badge "P" (the full name is the cell's
// title and accessible name); a name that does not begin with its kind is shown whole.
function shortName(unit) {
  const kind = unit.kind || "";
  return kind && unit.name.toLowerCase().startsWith(kind.toLowerCase() + " ") ? unit.name.slice(kind.length + 1) : unit.name;
}

// How far a value is from its goal ({target, higher}): met, near, bad, far, or none (no value).
function level(goal, value) {
  if (!goal || value === null || value === undefined) return "none";
  if (goal.higher ? value >= goal.target : value <= goal.target) return "met";
  const gap = goal.higher ? (goal.target - value) / (goal.target || 1) : (value - goal.target) / Math.max(goal.target, 10);
  return gap <= 0.05 ? "near" : gap <= 0.2 ? "bad" : "far";
}

const grid = { cells: new Map(), short: new Map(), built: null, fitKey: "", worstKey: "", collator: new Intl.Collator("vi") };

// The units ranked worst first by the chosen KPI; units without a value last, by name.
function ranked(kpi, goal) {
  const higher = goal ? goal.higher : true;
  const rows = state.areas.map((unit) => {
    const v = state.values.get(key(kpi, unit.code));
    return { unit, value: v && v.value !== undefined ? v.value : null };
  });
  rows.sort((a, b) => {
    if ((a.value === null) !== (b.value === null)) return a.value === null ? 1 : -1;
    if (a.value !== null && a.value !== b.value) return higher ? a.value - b.value : b.value - a.value;
    return grid.collator.compare(grid.short.get(a.unit.code), grid.short.get(b.unit.code));
  });
  return rows;
}

function buildGrid() {
  const box = $("area-grid");
  grid.cells.clear();
  grid.short = new Map(state.areas.map((unit) => [unit.code, shortName(unit)]));
  box.replaceChildren(...state.areas.map((unit) => {
    const el = document.createElement("div");
    const kind = kindOf(unit.kind);
    el.className = "area lv-none";
    el.dataset.area = unit.code;
    el.dataset.kind = unit.kind;
    el.title = unit.name;
    el.setAttribute("aria-label", unit.name);
    el.innerHTML = `<div class="cell-top"><span class="badge"></span><span class="value">—</span></div><div class="name"></div>`;
    el.querySelector(".badge").textContent = kind.abbr;
    el.querySelector(".name").textContent = shortName(unit);
    grid.cells.set(unit.code, { el, value: el.querySelector(".value"), text: "—", cls: "area lv-none", order: -1 });
    return el;
  }));
  grid.built = state.areas;
  grid.fitKey = "";
}

// The columns and rows whose cells take the largest font (two lines: badge and value, then
// the name on one line), from the widest name as the canvas measures it; then, should the
// browser's layout differ, smaller until every name fits (at 11 px at least).
function fitGrid() {
  const box = $("area-grid");
  const n = state.areas.length;
  const width = box.clientWidth, height = box.clientHeight;
  const fitKey = `${n}|${width}|${height}|${state.lang}`;
  if (!n || !width || !height || fitKey === grid.fitKey) return;
  grid.fitKey = fitKey;
  const gap = parseFloat(getComputedStyle(box).columnGap) || 4;
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.font = `500 100px ${getComputedStyle(box).fontFamily}`;
  const nameEm = Math.max(...state.areas.map((u) => ctx.measureText(shortName(u)).width)) / 100;
  const needEm = Math.max(nameEm, 6.2) + 1.1; // the top row ("ĐK 100,0 %") and the padding
  const base = parseFloat(getComputedStyle(document.body).fontSize);
  let best = { cols: 1, rows: n, size: 0, skew: Infinity };
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    const cw = (width - gap * (cols - 1)) / cols, ch = (height - gap * (rows - 1)) / rows;
    const size = Math.min(ch / 2.75, cw / needEm, base * 1.8);
    const skew = Math.abs(Math.log(cw / ch / 2.6)); // among equals (few units), cells nearest 2.6:1
    if (size > best.size + 0.01 || (size > best.size - 0.01 && skew < best.skew)) best = { cols, rows, size, skew };
  }
  box.style.gridTemplateColumns = `repeat(${best.cols}, minmax(0, 1fr))`;
  box.style.gridTemplateRows = `repeat(${best.rows}, minmax(0, 1fr))`;
  let size = Math.max(11, Math.floor(best.size * 2) / 2);
  const names = [...box.querySelectorAll(".name")];
  const overflows = () => names.some((x) => x.scrollWidth > x.clientWidth + 0.5);
  box.classList.remove("wrap");
  for (;;) {
    box.style.setProperty("--cell-font", `${size.toFixed(1)}px`);
    if (size <= 11 || !overflows()) break;
    size = Math.max(11, size - 0.5);
  }
  if (overflows()) box.classList.add("wrap"); // still too long at 11 px: a second line
}

function renderGrid() {
  if (grid.built !== state.areas) buildGrid();
  const kpi = state.areaKpi;
  const goal = goalOf(kpi);
  const alerting = new Set([...state.alerts.values()].filter((a) => a.area && a.state !== "pending").map((a) => a.area));
  const rows = ranked(kpi, goal);
  rows.forEach((row, i) => {
    const cell = grid.cells.get(row.unit.code);
    if (!cell) return;
    const text = fmt(kpi, row.value);
    const cls = `area lv-${level(goal, row.value)}${alerting.has(row.unit.code) ? " alerting" : ""}`;
    if (cell.text !== text) { cell.value.textContent = text; cell.text = text; }
    if (cell.cls !== cls) { cell.el.className = cls; cell.cls = cls; }
    if (cell.order !== i) { cell.el.style.order = String(i); cell.el.dataset.rank = String(i + 1); cell.order = i; }
  });
  fitGrid();
  renderHead(goal);
  // the worst few that miss the target (a unit that meets it needs no attention)
  const withData = rows.filter((r) => r.value !== null);
  renderWorst(kpi, goal, withData.filter((r) => level(goal, r.value) !== "met").slice(0, WORST_SHOWN),
              withData.length > 0);
}

function renderHead(goal) {
  const historic = state.areas.some((u) => HISTORIC_KINDS.includes(u.kind));
  setText($("areas-title"), t(historic ? "areas_historic" : "areas_units"));
  setText($("areas-count"), `${state.province ? state.province.name + " · " : ""}${state.areas.length} ${t("units")}`);
  setText($("areas-order"), `${t("worst_first")} →`);
  setText($("worst-kpi"), kpiName(state.areaKpi) +
    (goal ? ` · ${t("target")} ${t(goal.higher ? "at_least" : "at_most")} ${fmt(state.areaKpi, goal.target)}` : ""));
  const kinds = [...new Set(state.areas.map((u) => u.kind))];
  const legend = kinds.map(() => `<span class="legend-kind"><span class="badge"></span><span></span></span>`).join("") +
    LEVELS.map((lv) => `<span class="legend-level"><span class="swatch lv-${lv}"></span><span></span></span>`).join("");
  const box = $("areas-legend");
  const keyOf = `${state.lang}|${kinds.join(",")}`;
  if (box.dataset.key === keyOf) return;
  box.dataset.key = keyOf;
  box.innerHTML = legend;
  box.querySelectorAll(".legend-kind").forEach((el, i) => {
    const kind = kindOf(kinds[i]);
    el.dataset.kind = kinds[i];
    el.firstChild.textContent = kind.abbr;
    el.lastChild.textContent = kind[state.lang] || kind.vi;
  });
  box.querySelectorAll(".legend-level").forEach((el, i) => { el.lastChild.textContent = t(`lv_${LEVELS[i]}`); });
}

// The worst few, named large: rank, full name, value and its distance from the target.
function renderWorst(kpi, goal, rows, anyData) {
  const worstKey = `${state.lang}|${kpi}|${anyData}|` + rows.map((r) => `${r.unit.code}=${r.value}`).join(",");
  if (worstKey === grid.worstKey) return;
  grid.worstKey = worstKey;
  const list = $("worst-list");
  if (rows.length === 0) {
    const none = document.createElement("li");
    none.className = "worst-none";
    none.textContent = t(anyData ? "all_met" : "no_data");
    list.replaceChildren(none);
    return;
  }
  list.replaceChildren(...rows.map((row, i) => {
    const el = document.createElement("li");
    el.className = `worst-item lv-${level(goal, row.value)}`;
    el.dataset.area = row.unit.code;
    el.dataset.kind = row.unit.kind;
    el.innerHTML = `<span class="worst-rank"></span><div class="worst-body"><div class="name"></div>` +
      `<div class="worst-detail"><span class="badge"></span><span class="worst-value"></span><span class="gap"></span></div></div>`;
    el.querySelector(".worst-rank").textContent = String(i + 1);
    el.querySelector(".name").textContent = row.unit.name;
    el.querySelector(".badge").textContent = kindOf(row.unit.kind).abbr;
    el.querySelector(".worst-value").textContent = fmt(kpi, row.value);
    if (goal) {
      const diff = row.value - goal.target;
      const unit = state.kpis[kpi] && state.kpis[kpi].unit === "%" ? ` ${t("points")}` : "";
      const sign = diff > 0 ? "+" : diff < 0 ? "−" : "±";
      el.querySelector(".gap").textContent = `${sign}${new Intl.NumberFormat(locale(), { maximumFractionDigits: 1 }).format(Math.abs(diff))}${unit} ${t("gap")}`;
    }
    return el;
  }));
}
