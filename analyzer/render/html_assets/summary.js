// The summary panel: renders what a tls-analyzer-summary/1 document holds, tolerates what it lacks.
// ------------------------------------------------------------------ summary
const LABELS = { cipher_suites: "cipher suites", groups: "groups", versions: "versions", pq: "post-quantum key exchange" };
function countOf(v) {
  if (typeof v === "number") return v;
  if (v && typeof v === "object") {
    for (const k of ["count", "connections", "total"]) if (typeof v[k] === "number") return v[k];
  }
  return null;
}
function fmt(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (Array.isArray(v)) return v.slice(0, 20).map(fmt).join(", ") + (v.length > 20 ? ` (+${v.length - 20})` : "");
  if (typeof v === "object") return Object.entries(v).map(([k, x]) => `${k}: ${fmt(x)}`).join(", ");
  return String(v);
}
function distribution(key, value) {
  const entries = Object.entries(value).map(([k, v]) => [k, countOf(v)]).filter(([, n]) => n !== null);
  if (!entries.length) return null;
  entries.sort((a, b) => b[1] - a[1]);
  const max = Math.max(...entries.map(([, n]) => n), 1);
  const filterKey = { versions: "version", cipher_suites: "suite", groups: "group" }[key];
  const shown = entries.slice(0, 30);
  return el("div", { "data-summary": key },
    el("h3", {}, LABELS[key] || key.replace(/_/g, " ")),
    el("ul", { class: "dist" }, shown.map(([name, n]) => {
      const bar = el("span", { class: "bar" });
      bar.style.width = (100 * n / max).toFixed(1) + "%";
      return el("li", filterKey ? { class: "pick", title: "show these connections", onclick: () => setFilter(filterKey, name) } : {},
        bar, el("span", { class: "wire" }, name), el("span", {}, String(n)));
    })),
    entries.length > shown.length ? el("p", { class: "muted" }, `+${entries.length - shown.length} more`) : null);
}
function pqBlock(pq) {
  const parts = [["negotiated", "neg"], ["offered_not_negotiated", "off"], ["not_offered", "non"]];
  const counts = parts.map(([k]) => countOf(pq[k]) || 0);
  const total = counts.reduce((a, b) => a + b, 0);
  const bar = el("div", { class: "pq", role: "img", "aria-label": "post-quantum share" });
  parts.forEach(([, cls], i) => {
    if (!total || !counts[i]) return;
    const seg = el("span", { class: cls, title: `${parts[i][0].replace(/_/g, " ")}: ${counts[i]}` });
    seg.style.width = (100 * counts[i] / total).toFixed(2) + "%";
    bar.append(seg);
  });
  const rest = Object.entries(pq).filter(([k]) => !parts.some(([p]) => p === k));
  return el("div", { "data-summary": "pq" }, el("h3", {}, LABELS.pq), bar,
    el("dl", { class: "kv" }, parts.map(([k], i) => [el("dt", {}, k.replace(/_/g, " ")), el("dd", {}, String(counts[i]))]),
      rest.map(([k, v]) => [el("dt", {}, k.replace(/_/g, " ")), el("dd", { class: "wire" }, fmt(v))])));
}
function recordsTable(key, list) {
  const records = list.filter((x) => x && typeof x === "object" && !Array.isArray(x));
  if (!records.length) return null;
  const cols = [];
  for (const r of records.slice(0, 200)) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  const shownCols = cols.slice(0, 10);
  const shown = records.slice(0, 200);
  return el("div", { "data-summary": key, class: "wide" },
    el("h3", {}, `${key.replace(/_/g, " ")} (${records.length})`),
    el("div", { class: "scroll-x" }, el("table", { class: "plain" },
      el("thead", {}, el("tr", {}, shownCols.map((c) => el("th", {}, c.replace(/_/g, " "))))),
      el("tbody", {}, shown.map((r) => el("tr", {}, shownCols.map((c) => el("td", { class: "wire" }, fmt(r[c])))))))),
    records.length > shown.length ? el("p", { class: "muted" }, `+${records.length - shown.length} more`) : null);
}
function findingsSummary(value) {
  const entries = Object.entries(value).filter(([, v]) => v && typeof v === "object");
  if (!entries.length) return null;
  entries.sort((a, b) => SEVERITIES.indexOf(b[1].severity) - SEVERITIES.indexOf(a[1].severity) || (countOf(b[1]) || 0) - (countOf(a[1]) || 0));
  return el("div", { "data-summary": "findings", class: "wide" }, el("h3", {}, "findings"),
    el("div", { class: "scroll-x" }, el("table", { class: "plain" },
      el("thead", {}, el("tr", {}, ["severity", "id", "connections", ""].map((h) => el("th", {}, h)))),
      el("tbody", {}, entries.map(([id, v]) => el("tr", {},
        el("td", {}, sevBadge(SEVERITIES.indexOf(v.severity))), el("td", { class: "mono" }, id),
        el("td", {}, fmt(countOf(v))),
        el("td", { class: "wire" }, fmt(Object.fromEntries(Object.entries(v).filter(([k]) => !["severity", "connections", "count"].includes(k)))))))))));
}
const SUMMARY_ORDER = ["captures", "connections", "pq", "versions", "cipher_suites", "groups", "findings", "servers", "clients"];
const SUMMARY_TOTALS = ["captures", "connections"]; // said in a line, never drawn as bars
function summaryPanel(summary) {
  const scalars = [];
  const blocks = [];
  const wide = [];
  const keys = Object.keys(summary).sort((a, b) => {
    const [x, y] = [SUMMARY_ORDER.indexOf(a), SUMMARY_ORDER.indexOf(b)].map((i) => (i < 0 ? SUMMARY_ORDER.length : i));
    return x - y || (a < b ? -1 : 1);
  });
  for (const key of keys) {
    const value = summary[key];
    if (key === "schema") continue;
    let block = null;
    if (SUMMARY_TOTALS.includes(key)) {
      scalars.push([key, fmt(value)]);
      continue;
    }
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      if (key === "pq") block = pqBlock(value);
      else if (key === "findings") block = findingsSummary(value);
      else if (Object.values(value).every((v) => countOf(v) !== null)) block = distribution(key, value);
      if (!block) scalars.push([key, fmt(value)]);
    } else if (Array.isArray(value)) {
      block = recordsTable(key, value);
      if (!block) scalars.push([key, fmt(value)]);
    } else {
      scalars.push([key, fmt(value)]);
    }
    if (block) (block.classList.contains("wide") ? wide : blocks).push(block);
  }
  return el("section", { class: "summary", "aria-label": "summary" },
    el("h2", {}, "Summary"),
    scalars.length ? el("dl", { class: "kv" }, scalars.map(([k, v]) => [el("dt", {}, k.replace(/_/g, " ")), el("dd", { class: "wire" }, v)])) : null,
    blocks.length ? el("div", { class: "grid" }, blocks) : null,
    wide);
}
