// The connection list: state, filters, sorting, the virtual list, the filters bar.
// ------------------------------------------------------------------ state
let rows = [];
let view = [];
const state = { sort: null, dir: 1, filters: {} };
const opened = new Map(); // row key -> section element
let printing = false;

const multiCapture = (meta.captures || []).length > 1;
const COLUMNS = [ // min: width in em; grow: share of the room left (0: fixed); print: share of the page
  multiCapture && { key: "capture", title: "capture", min: 8, grow: 1, print: 1 },
  { key: "id", title: "#", min: 3.5, grow: 0, print: 0.45 },
  { key: "client", title: "client", min: 10.5, grow: 0, print: 1.2 },
  { key: "server", title: "server", min: 10.5, grow: 0, print: 1.2 },
  { key: "sni", title: "SNI", min: 11, grow: 2, print: 1.6 },
  { key: "version", title: "version", min: 5.5, grow: 0, print: 0.8 },
  { key: "suite", title: "cipher suite", min: 12, grow: 2, print: 2 },
  { key: "group", title: "group", min: 7, grow: 0, print: 0.9 },
  { key: "alpn", title: "ALPN", min: 6, grow: 0, print: 0.7 },
  { key: "severity", title: "findings", min: 7.5, grow: 0, print: 0.9 },
  { key: "ja4", title: "JA4", min: 14, grow: 1, print: 1.6 },
  { key: "state", title: "state", min: 8, grow: 1, print: 1 },
].filter(Boolean);

function cellValue(row, key) {
  if (key === "severity") return row[COL.severity] * 100000 + row[COL.findings];
  return row[COL[key]];
}

// ------------------------------------------------------------------ filters
function globOrText(value) {
  const v = value.trim().toLowerCase();
  if (!v) return null;
  if (/[*?]/.test(v)) {
    const re = new RegExp("^" + v.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$");
    return (s) => re.test(s.toLowerCase());
  }
  return (s) => s.toLowerCase().includes(v);
}
function applyFilters() {
  const f = state.filters;
  const tests = [];
  const sni = globOrText(f.sni || "");
  if (sni) tests.push((r) => sni(r[COL.sni]));
  const addr = globOrText(f.address || "");
  if (addr) tests.push((r) => addr(r[COL.client]) || addr(r[COL.server]));
  const ja4 = globOrText(f.ja4 || "");
  if (ja4) tests.push((r) => ja4(r[COL.ja4]));
  for (const key of ["version", "suite", "group", "state", "capture"]) {
    if (f[key]) tests.push((r) => r[COL[key]] === f[key]);
  }
  if (f.severity) {
    const min = Number(f.severity);
    tests.push((r) => r[COL.severity] >= min);
  }
  view = [];
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (tests.every((t) => t(r))) view.push(i);
  }
  sortView();
}
function sortView() {
  if (state.sort) {
    const key = state.sort;
    const dir = state.dir;
    view.sort((a, b) => {
      const x = cellValue(rows[a], key);
      const y = cellValue(rows[b], key);
      if (x === y) return a - b;
      if (x === "" || x === null) return 1; // empty values last in both directions
      if (y === "" || y === null) return -1;
      return (x < y ? -1 : 1) * dir;
    });
  }
  renderList();
}

// ------------------------------------------------------------------ the list
const listEl = el("div", { class: "list", role: "table", "aria-label": "connections" });
const viewport = el("div", { class: "viewport" });
const head = el("div", { class: "thead", role: "row" });
const spacer = el("div", { class: "spacer", role: "rowgroup" });
const countEl = el("span", { class: "count", "aria-live": "polite" });
viewport.append(head, spacer);
listEl.append(viewport);
// Fixed minimums and the viewport's width only: a row's content never changes the columns.
listEl.style.setProperty("--cols", COLUMNS.map((c) => (c.grow ? `minmax(${c.min}em, ${c.grow}fr)` : `${c.min}em`)).join(" "));
listEl.style.setProperty("--list-min", COLUMNS.reduce((sum, c) => sum + c.min, 0) + "em");
listEl.style.setProperty("--print-cols", COLUMNS.map((c) => `minmax(0, ${c.print}fr)`).join(" "));

for (const c of COLUMNS) {
  head.append(el("button", {
    type: "button", role: "columnheader", "data-key": c.key, "aria-sort": "none",
    title: "sort by " + c.title,
    onclick: () => {
      if (state.sort === c.key) state.dir = -state.dir;
      else { state.sort = c.key; state.dir = c.key === "severity" ? -1 : 1; }
      for (const b of head.children) b.setAttribute("aria-sort", "none");
      head.querySelector(`[data-key="${c.key}"]`)
        .setAttribute("aria-sort", state.dir > 0 ? "ascending" : "descending");
      sortView();
    },
  }, c.title));
}

const pool = [];
function rowElement() {
  const r = el("div", { class: "row", role: "row", tabindex: "0" });
  for (const c of COLUMNS) r.append(el("div", { class: "cell", role: "cell", "data-key": c.key }));
  r.addEventListener("click", () => openSection(Number(r.dataset.row)));
  r.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); openSection(Number(r.dataset.row)); }
    else if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      focusPosition(Number(r.dataset.pos) + (ev.key === "ArrowDown" ? 1 : -1));
    }
  });
  return r;
}
function fillRow(r, index, pos) {
  const row = rows[index];
  r.dataset.row = String(index);
  r.dataset.pos = String(pos);
  r.setAttribute("aria-rowindex", String(pos + 2));
  r.classList.toggle("open", opened.has(index));
  if (!printing) r.style.top = pos * ROW_H + "px";
  else r.style.removeProperty("top");
  COLUMNS.forEach((c, i) => {
    const cell = r.children[i];
    cell.replaceChildren();
    cell.removeAttribute("title");
    cell.removeAttribute("class");
    cell.setAttribute("class", "cell");
    if (c.key === "severity") {
      cell.append(row[COL.findings] ? sevBadge(row[COL.severity], "(" + row[COL.findings] + ")") : sevBadge(0));
    } else if (c.key === "state") {
      const st = row[COL.state];
      cell.classList.add("state-" + st.replace(/\W/g, ""));
      cell.textContent = row[COL.tags] ? st + " · " + row[COL.tags] : st;
    } else {
      const value = row[COL[c.key]];
      cell.textContent = value === null || value === undefined ? "" : String(value);
      if (["sni", "alpn", "suite", "ja4", "capture", "client", "server"].includes(c.key) && value) {
        cell.setAttribute("title", String(value));
      }
      if (["sni", "alpn", "ja4"].includes(c.key)) cell.classList.add("wire");
    }
  });
}
function renderList() {
  countEl.textContent = view.length === rows.length
    ? `${rows.length} connection${rows.length === 1 ? "" : "s"}`
    : `${view.length} of ${rows.length} connections`;
  viewport.classList.toggle("short", view.length * ROW_H < 400);
  if (printing) return renderAll();
  spacer.style.height = Math.max(view.length * ROW_H, view.length ? 0 : 48) + "px";
  if (!view.length) {
    pool.forEach((r) => r.remove());
    if (!spacer.querySelector(".empty")) {
      spacer.append(el("div", { class: "empty" }, rows.length ? "No connection matches the filters." : "No connection in this report."));
    }
    return;
  }
  spacer.querySelector(".empty")?.remove();
  const first = Math.max(0, Math.floor(viewport.scrollTop / ROW_H) - OVERSCAN);
  const visible = Math.ceil((viewport.clientHeight || 600) / ROW_H) + 2 * OVERSCAN;
  const last = Math.min(view.length, first + visible);
  while (pool.length < last - first) pool.push(rowElement());
  for (let k = 0; k < pool.length; k++) {
    const r = pool[k];
    if (k < last - first) {
      fillRow(r, view[first + k], first + k);
      if (r.parentNode !== spacer) spacer.append(r);
    } else if (r.parentNode) r.remove();
  }
}
function renderAll() { // for print: every filtered row in the flow (up to PRINT_ROWS)
  spacer.replaceChildren();
  spacer.style.removeProperty("height");
  const n = Math.min(view.length, PRINT_ROWS);
  for (let i = 0; i < n; i++) {
    const r = rowElement();
    fillRow(r, view[i], i);
    spacer.append(r);
  }
  if (view.length > n) spacer.append(el("div", { class: "empty" }, `${view.length - n} more connections not printed: filter the list to print them.`));
}
function focusPosition(pos) {
  if (pos < 0 || pos >= view.length) return;
  const top = pos * ROW_H;
  if (top < viewport.scrollTop + ROW_H) viewport.scrollTop = top - ROW_H;
  else if (top + ROW_H > viewport.scrollTop + viewport.clientHeight) viewport.scrollTop = top + 2 * ROW_H - viewport.clientHeight;
  renderList();
  spacer.querySelector(`.row[data-pos="${pos}"]`)?.focus();
}
let scheduled = false;
viewport.addEventListener("scroll", () => {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => { scheduled = false; renderList(); });
});
window.addEventListener("resize", () => renderList());
window.addEventListener("beforeprint", () => {
  printing = true;
  document.querySelectorAll("details").forEach((d) => { d.open = true; });
  renderList();
});
window.addEventListener("afterprint", () => {
  printing = false;
  spacer.replaceChildren();
  pool.length = 0;
  renderList();
});

// ------------------------------------------------------------------ filters bar
function distinct(key) {
  const counts = new Map();
  for (const r of rows) {
    const v = r[COL[key]];
    if (v) counts.set(v, (counts.get(v) || 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}
const controls = {};
function textFilter(key, label, placeholder) {
  const input = el("input", { type: "search", placeholder, "data-filter": key, autocomplete: "off", spellcheck: "false" });
  let timer = 0;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { state.filters[key] = input.value; applyFilters(); }, 120);
  });
  controls[key] = input;
  return el("label", {}, label, input);
}
function selectFilter(key, label, options) {
  const select = el("select", { "data-filter": key },
    el("option", { value: "" }, "any"),
    options.map(([value, text]) => el("option", { value }, text)));
  select.addEventListener("change", () => { state.filters[key] = select.value; applyFilters(); });
  controls[key] = select;
  return el("label", {}, label, select);
}
function setFilter(key, value) {
  const control = controls[key];
  if (!control) return;
  if (control.tagName === "SELECT" && ![...control.options].some((o) => o.value === value)) {
    control.append(el("option", { value }, value));
  }
  control.value = value;
  state.filters[key] = value;
  applyFilters();
  listEl.scrollIntoView({ block: "start" });
}
function filtersBar() {
  const bar = el("div", { class: "filters no-print", role: "search" });
  if (multiCapture) bar.append(selectFilter("capture", "capture", distinct("capture").map(([v, n]) => [v, `${v} (${n})`])));
  bar.append(
    textFilter("sni", "SNI", "name or glob"),
    textFilter("address", "address", "client or server"),
    selectFilter("version", "version", distinct("version").map(([v, n]) => [v, `${v} (${n})`])),
    selectFilter("suite", "cipher suite", distinct("suite").map(([v, n]) => [v, `${v} (${n})`])),
    selectFilter("group", "group", distinct("group").map(([v, n]) => [v, `${v} (${n})`])),
    selectFilter("severity", "findings at least", SEVERITIES.slice(1).map((name, i) => [String(i + 1), name])),
    selectFilter("state", "state", distinct("state").map(([v, n]) => [v, `${v} (${n})`])),
    textFilter("ja4", "JA4", "fingerprint or glob"),
    el("button", { type: "button", onclick: () => {
      for (const [key, control] of Object.entries(controls)) { control.value = ""; state.filters[key] = ""; }
      applyFilters();
    } }, "clear"),
    countEl);
  return bar;
}
