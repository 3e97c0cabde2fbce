// tls-analyzer HTML report, first of its script files (html.py joins them, in the order of
// SCRIPTS, into one function: they share its names). Data sits in the page's own script blocks:
// rows of every connection (inflated at load, they feed the list), details per chunk (inflated
// when one of their connections is opened), and a meta block. Every value is put into the page
// with textContent or setAttribute: no string from the data is ever parsed as markup.

// Constants, DOM helpers, the data blocks.
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
