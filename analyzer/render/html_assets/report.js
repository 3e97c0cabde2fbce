"use strict";
// tls-analyzer HTML report. Data sits in the page's own script blocks (see analyzer/render/html.py):
// rows of every connection (inflated at load, they feed the list), details per chunk (inflated
// when one of their connections is opened), and a meta block. Every value is put into the page
// with textContent or setAttribute: no string from the data is ever parsed as markup.
(() => {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const ROW_H = 28;
  const OVERSCAN = 12;
  const PRINT_ROWS = 5000;
  const DETAIL_CACHE = 8;
  const meta = JSON.parse(document.getElementById("tls-meta").textContent);
  const COL = Object.fromEntries(meta.columns.map((name, i) => [name, i]));
  const SEVERITIES = ["", ...meta.severities];

  // ------------------------------------------------------------------ DOM helpers
  function el(tag, attrs, ...kids) {
    const node = document.createElement(tag);
    return fill(node, attrs, kids);
  }
  function sv(tag, attrs, ...kids) {
    const node = document.createElementNS(SVG_NS, tag);
    return fill(node, attrs, kids);
  }
  function fill(node, attrs, kids) {
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.setAttribute("class", value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, String(value));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      node.append(typeof kid === "object" ? kid : document.createTextNode(String(kid)));
    }
    return node;
  }
  function sevBadge(rank, extra) {
    if (!rank) return el("span", { class: "muted" }, "–");
    const name = SEVERITIES[rank];
    return el("span", { class: "sev sev-" + name }, extra ? name + " " + extra : name);
  }

  // ------------------------------------------------------------------ data blocks
  function bytesOf(b64) {
    const bin = atob(b64.trim());
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  async function blocksText(blocks) {
    if (!blocks.length) return "";
    if (blocks[0].dataset.encoding !== "deflate") return blocks.map((b) => b.textContent).join("\n");
    if (typeof DecompressionStream === "undefined") {
      throw new Error("this browser cannot inflate the report's data (no DecompressionStream): " +
                      "open it in a current Firefox, Chrome, Edge or Safari");
    }
    const stream = new Blob(blocks.map((b) => bytesOf(b.textContent))).stream()
      .pipeThrough(new DecompressionStream("deflate"));
    return new Response(stream).text();
  }
  async function loadRows() {
    const text = await blocksText([...document.querySelectorAll("script.tls-rows")]);
    const lines = text.split("\n").filter((line) => line);
    return JSON.parse("[" + lines.join(",") + "]");
  }
  const detailCache = new Map();
  function loadDetails(chunk) {
    let pending = detailCache.get(chunk);
    if (pending) {
      detailCache.delete(chunk);
    } else {
      const block = document.querySelector(`script.tls-details[data-chunk="${chunk}"]`);
      pending = blocksText(block ? [block] : []).then((text) => (text ? JSON.parse(text) : []));
    }
    detailCache.set(chunk, pending); // most recently used last
    while (detailCache.size > DETAIL_CACHE) detailCache.delete(detailCache.keys().next().value);
    return pending;
  }

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

  // ------------------------------------------------------------------ connection sections
  async function openSection(index) {
    const existing = opened.get(index);
    if (existing) {
      existing.scrollIntoView({ block: "start" });
      existing.classList.remove("flash");
      void existing.offsetWidth;
      existing.classList.add("flash");
      return;
    }
    const section = el("section", { class: "conn", id: "c" + index, "aria-busy": "true" }, el("p", { class: "muted" }, "loading…"));
    opened.set(index, section);
    sections.prepend(section);
    renderList();
    try {
      const details = await loadDetails(Math.floor(index / meta.chunk));
      const d = details[index % meta.chunk];
      section.replaceChildren(...buildSection(d, index));
    } catch (err) {
      section.replaceChildren(el("p", { class: "message" }, "cannot show this connection: " + err.message));
    }
    section.removeAttribute("aria-busy");
    section.scrollIntoView({ block: "start" });
    try { history.replaceState(null, "", "#c" + index); } catch (e) { /* a sandboxed viewer */ }
  }
  function closeSection(index) {
    opened.get(index)?.remove();
    opened.delete(index);
    renderList();
  }
  function buildSection(d, index) {
    const out = [];
    const capture = multiCapture && d.capture ? el("span", { class: "muted wire" }, d.capture) : null;
    out.push(el("header", {},
      el("h2", { class: "mono" }, d.title),
      capture,
      el("button", { type: "button", title: "close this section", onclick: () => closeSection(index) }, "close")));
    out.push(el("p", { class: "head wire" }, [d.head.join(" · "), d.start ? " · first message " + d.start : ""]));
    out.push(el("h3", {}, "Handshake"));
    out.push(el("div", { class: "ladder-wrap" }, ladderSvg(d)));
    out.push(legend());
    if (d.notes.length) out.push(el("ul", { class: "notes" }, d.notes.map((n) => el("li", { class: "wire" }, n))));
    out.push(el("h3", {}, `Findings (${d.findings.length})`));
    out.push(d.findings.length ? findingsTable(d.findings) : el("p", { class: "muted" }, "No finding."));
    out.push(el("h3", {}, "Certificates"));
    if (d.certificates.length) out.push(el("div", { class: "certs" }, d.certificates.map(certCard)));
    if (d.certificates_note) out.push(el("p", { class: "muted" }, d.certificates_note));
    out.push(el("h3", {}, "Facts"));
    out.push(el("dl", { class: "kv" }, d.facts.map(([k, v]) => [el("dt", {}, k), el("dd", { class: "wire" }, v)])));
    return out;
  }
  function findingsTable(findings) {
    return el("div", { class: "scroll-x" }, el("table", { class: "plain findings" },
      el("thead", {}, el("tr", {}, ["severity", "id", "finding", "scope", "frame", "evidence", "source"].map((h) => el("th", {}, h)))),
      el("tbody", {}, findings.map((f) => el("tr", { "data-id": f.id },
        el("td", {}, sevBadge(SEVERITIES.indexOf(f.severity))),
        el("td", { class: "mono" }, f.id),
        el("td", { class: "wire" }, f.title),
        el("td", {}, f.scope),
        el("td", {}, f.frame),
        el("td", { class: "wire" }, el("ul", { class: "evidence" }, f.evidence.map(([k, v]) => el("li", {}, el("span", { class: "muted" }, k + ": "), el("span", { class: "wire" }, v))))),
        el("td", {}, f.source))))));
  }
  function certCard(c) {
    const flags = c.flags.length ? " · " + c.flags.join(", ") : "";
    return el("div", { class: "cert" },
      el("h4", {}, `${c.side} certificate ${c.position}${c.position === 0 ? " (leaf)" : ""}${flags}`),
      el("dl", { class: "kv" },
        el("dt", {}, "subject"), el("dd", { class: "wire" }, c.subject || "–"),
        el("dt", {}, "issuer"), el("dd", { class: "wire" }, c.issuer || "–"),
        el("dt", {}, "validity"), el("dd", {}, `${c.not_before || "?"} → ${c.not_after || "?"}`,
          c.validity ? el("span", { class: "bad" }, " " + c.validity) : null),
        el("dt", {}, "key"), el("dd", {}, c.key || "–"),
        el("dt", {}, "signature"), el("dd", {}, c.signature || "–"),
        el("dt", {}, "SANs"), el("dd", { class: "wire" }, c.sans.length ? c.sans.join(", ") : "none"),
        el("dt", {}, "SHA-256"), el("dd", { class: "mono" }, c.sha256)));
  }

  // ------------------------------------------------------------------ the ladder as SVG
  const LADDER = { top: 62, row: 34, timeX: 84, frameX: 150, clientX: 210, serverX: 590, noteX: 610, charW: 6.4 };
  function ladderSvg(d) {
    const L = LADDER;
    const rowsOf = d.ladder;
    const marksLength = (r) => (r.marks ? r.marks.map(([id]) => id).join(",").length * 1.15 + 5 : 0); // bold
    const longest = rowsOf.reduce((m, r) => Math.max(m, (r.note || "").length + marksLength(r)), 20);
    const width = Math.round(Math.max(900, L.noteX + longest * L.charW + 20));
    const height = L.top + rowsOf.length * L.row + 16;
    const svgEl = sv("svg", { class: "ladder", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": `message ladder of connection ${d.title}` });
    svgEl.append(sv("title", {}, `handshake ladder: ${rowsOf.length} rows`));
    const [client, server] = d.title.replace(/^#\S+\s+/, "").split(" ⇄ ");
    svgEl.append(
      sv("text", { x: L.timeX, y: 44, "text-anchor": "end", class: "col" }, "time (s)"),
      sv("text", { x: L.frameX, y: 44, "text-anchor": "end", class: "col" }, "frame"),
      sv("text", { x: L.clientX, y: 20, "text-anchor": "middle", class: "who" }, "client"),
      sv("text", { x: L.clientX, y: 36, "text-anchor": "middle", class: "col" }, client || ""),
      sv("text", { x: L.serverX, y: 20, "text-anchor": "middle", class: "who" }, "server"),
      sv("text", { x: L.serverX, y: 36, "text-anchor": "middle", class: "col" }, server || ""),
      sv("line", { x1: L.clientX, y1: L.top - 14, x2: L.clientX, y2: height - 6, class: "life" }),
      sv("line", { x1: L.serverX, y1: L.top - 14, x2: L.serverX, y2: height - 6, class: "life" }));
    rowsOf.forEach((r, i) => svgEl.append(ladderRow(r, L.top + i * L.row + L.row / 2, width)));
    return svgEl;
  }
  function ladderRow(r, y, width) {
    const L = LADDER;
    const cls = r.cls || [];
    const g = sv("g", { class: ["step", r.kind, r.from, ...cls].join(" "), "data-frame": r.frame });
    g.append(sv("title", {}, `${r.label} (frame ${r.frame || "?"}) ${r.full || r.note || ""}`));
    const band = cls.includes("gap") ? "band-gap" : cls.includes("hrr") ? "band-hrr" : cls.includes("fatal") ? "band-alert" : null;
    if (band) g.append(sv("rect", { x: 0, y: y - L.row / 2, width, height: L.row, class: band }));
    g.append(sv("text", { x: L.timeX, y: y + 4, "text-anchor": "end", class: "time" }, r.t));
    g.append(sv("text", { x: L.frameX, y: y + 4, "text-anchor": "end", class: "frame" }, r.frame));
    if (r.kind === "gap") {
      const x1 = L.clientX - 10;
      const x2 = L.serverX + 10;
      let path = `M ${x1} ${y}`;
      for (let x = x1 + 10, up = true; x <= x2; x += 10, up = !up) path += ` L ${x} ${y + (up ? -4 : 4)}`;
      g.append(sv("path", { d: path, class: "gapline" }),
        sv("text", { x: (L.clientX + L.serverX) / 2, y: y - 8, "text-anchor": "middle", class: "label" }, `${r.label}, ${r.from} side`),
        sv("text", { x: L.noteX, y: y + 4, class: "note" }, r.note));
      return g;
    }
    const toServer = r.from === "client";
    const from = toServer ? L.clientX : L.serverX;
    const to = toServer ? L.serverX : L.clientX;
    const tip = toServer ? to - 2 : to + 2;
    const back = toServer ? -9 : 9;
    g.append(
      sv("line", { x1: from, y1: y, x2: tip + back * 0.6, y2: y, class: "shaft" }),
      sv("polygon", { points: `${tip},${y} ${tip + back},${y - 5} ${tip + back},${y + 5}`, class: "head" }),
      sv("text", { x: (L.clientX + L.serverX) / 2, y: y - 6, "text-anchor": "middle", class: "label" },
        r.label, r.retrans ? sv("tspan", { class: "retrans" }, " ↻" + (r.retrans > 1 ? r.retrans : "")) : null));
    const note = sv("text", { x: L.noteX, y: y + 4, class: "note" });
    if (r.marks) {
      const worst = r.marks.reduce((m, [, sev]) => Math.max(m, SEVERITIES.indexOf(sev)), 0);
      note.append(sv("tspan", { class: "mark mark-" + SEVERITIES[worst] }, "⚠ " + r.marks.map(([id]) => id).join(",") + "  "));
    }
    note.append(r.note || "");
    g.append(note);
    return g;
  }
  function legend() {
    const item = (cls, text, dash) => el("li", {},
      (() => {
        const s = sv("svg", { width: 34, height: 10, class: "ladder" });
        const g = sv("g", { class: cls });
        g.append(sv("line", { x1: 2, y1: 5, x2: 32, y2: 5, class: dash || "shaft" }));
        s.append(g);
        return s;
      })(), text);
    return el("ul", { class: "legend no-print" },
      item("client", "client → server"), item("server", "server → client"), item("client enc", "encrypted"),
      item("client enc run", "encrypted run (×records)"), item("client dec", "decrypted with the key log"),
      item("server hrr", "HelloRetryRequest"), item("server alert", "alert"), item("gap", "TCP gap (bytes lost)", "gapline"),
      el("li", {}, "↻ retransmitted · ⚠ findings on that frame"));
  }

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
})();
