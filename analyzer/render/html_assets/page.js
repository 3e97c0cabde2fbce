// The page: header, totals, start.
// ------------------------------------------------------------------ page
const main = el("main");
const sections = el("div", { class: "sections" });
function totals() {
  const byState = distinct("state");
  const bySev = new Map();
  for (const r of rows) if (r[COL.severity]) bySev.set(r[COL.severity], (bySev.get(r[COL.severity]) || 0) + 1);
  const sev = [...bySev.entries()].sort((a, b) => b[0] - a[0]);
  return el("p", { class: "totals" },
    el("span", {}, `${rows.length} connection${rows.length === 1 ? "" : "s"}`),
    byState.map(([s, n]) => el("span", { class: "state-" + s.replace(/\W/g, "") }, `${n} ${s}`)),
    sev.length ? el("span", {}, "worst finding: ", sev.map(([rank, n]) => [sevBadge(rank, "×" + n), " "])) : null);
}
function captureList(caps) {
  const list = el("ul", { class: "captures" }, caps.map((c) => el("li", {},
    el("span", { class: "wire" }, c.file === undefined ? fmt(c) : String(c.file)),
    c.frames !== undefined ? ` · ${c.frames} frames` : "",
    c.format ? ` · ${c.format}` : "", c.compressed ? " (compressed)" : "",
    c.truncated ? el("span", { class: "bad" }, " · cut off") : "",
    (c.warnings || []).length ? el("span", { class: "bad wire" }, " · " + c.warnings.join("; ")) : "")));
  if (caps.length <= 3) return list;
  const frames = caps.reduce((n, c) => n + (typeof c.frames === "number" ? c.frames : 0), 0);
  const warned = caps.filter((c) => c.truncated || (c.warnings || []).length).length;
  return el("details", { class: "captures" },
    el("summary", {}, `${caps.length} captures, ${frames} frames`, warned ? el("span", { class: "bad" }, ` · ${warned} with warnings`) : ""),
    list);
}
function header() {
  const caps = meta.captures || [];
  return el("header", {},
    el("div", { class: "topbar" },
      el("h1", { class: "wire" }, meta.title),
      el("button", { type: "button", class: "no-print", onclick: () => window.print() }, "print")),
    captureList(caps),
    el("p", { class: "muted" }, meta.generator + " · open a row to see its handshake"));
}
async function start() {
  document.body.append(main);
  try {
    rows = await loadRows();
  } catch (err) {
    main.append(header(), el("p", { class: "message" }, "cannot read the report's data: " + err.message));
    return;
  }
  main.append(header(), totals());
  if (meta.summary && typeof meta.summary === "object") main.append(summaryPanel(meta.summary));
  main.append(filtersBar(), listEl, el("p", { class: "print-only muted" }, "Opened connections follow."), sections);
  applyFilters();
  document.documentElement.dataset.ready = String(Math.round(performance.now()));
  openFromHash();
  window.addEventListener("hashchange", openFromHash);
}
function openFromHash() { // #c<row>: a link to one connection's section
  const target = /^#c(\d+)$/.exec(location.hash);
  if (target && Number(target[1]) < rows.length) openSection(Number(target[1]));
}
start();
