// A connection's section: header, ladder as an SVG sequence diagram, findings, certificates, facts.
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
  svgEl.append(
    sv("text", { x: L.timeX, y: 44, "text-anchor": "end", class: "col" }, "time (s)"),
    sv("text", { x: L.frameX, y: 44, "text-anchor": "end", class: "col" }, "frame"),
    sv("text", { x: L.clientX, y: 20, "text-anchor": "middle", class: "who" }, "client"),
    sv("text", { x: L.clientX, y: 36, "text-anchor": "middle", class: "col" }, d.client),
    sv("text", { x: L.serverX, y: 20, "text-anchor": "middle", class: "who" }, "server"),
    sv("text", { x: L.serverX, y: 36, "text-anchor": "middle", class: "col" }, d.server),
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
