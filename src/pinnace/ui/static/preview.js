// Artifact previews (tables, text/JSON, images, sandboxed HTML/SVG), a small safe Markdown
// renderer that builds DOM nodes (no HTML passthrough) and the metrics visualizations.

import * as api from "./api.js";
import { errorBox, h, loading, mount, s, table } from "./dom.js";

const UI = "/apis/pinnace/v1/ui";

export const artifactUrl = (id, what) => api.url(`${UI}/artifacts/${encodeURIComponent(id)}/${what}`);

/** A download link for an artifact. */
export function downloadLink(id, label = "Download") {
  return h("a", { href: artifactUrl(id, "download"), download: "", class: "download" }, label);
}

/** An iframe showing `text` as a document with every sandbox restriction (no scripts). */
export function sandboxFrame(text, title = "preview") {
  return h("iframe", { sandbox: "", srcdoc: text, title, class: "preview-frame", referrerpolicy: "no-referrer" });
}

/** Fill `root` with the preview of artifact `id` (fetched from the server). */
export async function renderPreview(root, id) {
  mount(root, loading());
  let preview;
  try {
    preview = await api.get(`${UI}/artifacts/${encodeURIComponent(id)}/preview`);
  } catch (error) {
    mount(root, errorBox(error));
    return;
  }
  mount(root, previewBody(preview, id), h("div", { class: "toolbar" }, downloadLink(id)));
}

function previewBody(p, id) {
  const note = p.truncated ? h("div", { class: "muted" }, "Showing the beginning only.") : null;
  switch (p.kind) {
    case "table":
      return h("div", { class: "table-wrap" }, table(p.columns, p.rows),
        p.more_rows ? h("div", { class: "muted" }, `First ${p.rows.length} rows.`) : null);
    case "json":
      return h("div", null, h("pre", null, JSON.stringify(p.value, null, 2)));
    case "text":
      return h("div", null, h("pre", null, p.text), note);
    case "markdown":
      return h("div", { class: "markdown" }, renderMarkdown(p.text), note);
    case "html":
    case "svg":
      return h("div", null, sandboxFrame(p.text, p.artifact.name), note);
    case "image":
      return h("img", { src: artifactUrl(id, "content"), alt: p.artifact.name, class: "preview-image" });
    case "folder":
      return h("div", null, h("div", { class: "muted" }, "A folder:"),
        h("ul", null, p.entries.map((e) => h("li", { class: "mono" }, e))));
    case "missing":
      return h("div", { class: "muted" }, "The artifact's file is not in the store.");
    default:
      return h("div", { class: "muted" }, "No preview for this kind of file.");
  }
}

// -- Markdown ---------------------------------------------------------------------------------

/** Markdown → a DocumentFragment: headings, paragraphs, lists, quotes, code, tables, links. */
export function renderMarkdown(text) {
  const out = document.createDocumentFragment();
  const lines = String(text || "").replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) { i++; continue; }
    const fence = line.match(/^\s*(```|~~~)/);
    if (fence) {
      const code = [];
      for (i++; i < lines.length && !lines[i].trim().startsWith(fence[1]); i++) code.push(lines[i]);
      out.appendChild(h("pre", null, h("code", null, code.join("\n"))));
      i++;
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (heading) {
      out.appendChild(h(`h${heading[1].length}`, null, inline(heading[2].replace(/\s+#+\s*$/, ""))));
      i++;
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) { out.appendChild(h("hr")); i++; continue; }
    if (/^\s*\|/.test(line) && i + 1 < lines.length && /^\s*\|?\s*:?-{2,}/.test(lines[i + 1])) {
      const rows = [];
      for (; i < lines.length && /^\s*\|/.test(lines[i]); i++) rows.push(cells(lines[i]));
      const [head, , ...body] = rows;
      out.appendChild(table(head.map(inline), body.map((r) => r.map(inline))));
      continue;
    }
    if (/^\s*>/.test(line)) {
      const quoted = [];
      for (; i < lines.length && /^\s*>/.test(lines[i]); i++) quoted.push(lines[i].replace(/^\s*>\s?/, ""));
      out.appendChild(h("blockquote", null, renderMarkdown(quoted.join("\n"))));
      continue;
    }
    const item = /^\s*([-*+]|\d+[.)])\s+/;
    if (item.test(line)) {
      const ordered = /^\s*\d/.test(line);
      const list = h(ordered ? "ol" : "ul");
      for (; i < lines.length && item.test(lines[i]); i++) list.appendChild(h("li", null, inline(lines[i].replace(item, ""))));
      out.appendChild(list);
      continue;
    }
    const para = [];
    for (; i < lines.length && lines[i].trim() && !/^(#{1,6}\s|\s*```|\s*>|\s*([-*+]|\d+[.)])\s)/.test(lines[i]); i++) para.push(lines[i].trim());
    out.appendChild(h("p", null, inline(para.join(" "))));
  }
  return out;
}

function cells(line) {
  return line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());
}

const INLINE = /(`[^`]+`)|(\*\*[^*]+\*\*|__[^_]+__)|(\*[^*\s][^*]*\*|_[^_\s][^_]*_)|(!?\[[^\]]*\]\([^)\s]+\))/;

/** Inline Markdown → nodes: `code`, **bold**, *italic*, [links](https://...), images as links. */
export function inline(text) {
  const nodes = [];
  let rest = String(text);
  while (rest) {
    const m = rest.match(INLINE);
    if (!m) { nodes.push(rest); break; }
    if (m.index) nodes.push(rest.slice(0, m.index));
    const token = m[0];
    if (m[1]) nodes.push(h("code", null, token.slice(1, -1)));
    else if (m[2]) nodes.push(h("strong", null, inline(token.slice(2, -2))));
    else if (m[3]) nodes.push(h("em", null, inline(token.slice(1, -1))));
    else {
      const [, label, href] = token.match(/^!?\[([^\]]*)\]\(([^)\s]+)\)$/);
      nodes.push(/^(https?:|mailto:|#)/i.test(href)
        ? h("a", { href, rel: "noopener noreferrer", target: "_blank" }, label || href)
        : label);
    }
    rest = rest.slice(m.index + token.length);
  }
  return nodes;
}

// -- visualizations ---------------------------------------------------------------------------

/** The visualizations of a task's output artifacts (the `outputs.artifacts` of task details). */
export function renderVisualizations(root, artifacts) {
  const blocks = [];
  for (const [name, items] of Object.entries(artifacts || {})) {
    for (const a of items) {
      const type = String(a.type || "").replace(/^system\./, "");
      const title = h("h3", null, `${name} (${type})`);
      if (type === "Metrics") blocks.push(title, metricsTable(a.metadata));
      else if (type === "ClassificationMetrics") blocks.push(title, classification(a.metadata));
      else if ((type === "Markdown" || type === "HTML") && a.artifact_id) {
        const box = h("div");
        renderPreview(box, a.artifact_id);
        blocks.push(title, box);
      }
    }
  }
  mount(root, blocks.length ? blocks : h("div", { class: "empty" }, "No visualizations for this task."));
}

export function metricsTable(metadata) {
  const rows = Object.entries(metadata || {})
    .filter(([k, v]) => k !== "display_name" && (typeof v !== "object" || v === null))
    .map(([k, v]) => [k, String(v)]);
  return rows.length ? table(["metric", "value"], rows) : h("div", { class: "muted" }, "No metrics.");
}

function classification(metadata) {
  const parts = [];
  const matrix = metadata && metadata.confusionMatrix;
  if (matrix && Array.isArray(matrix.rows)) parts.push(confusionMatrix(matrix));
  const roc = metadata && metadata.confidenceMetrics;
  if (Array.isArray(roc) && roc.length) parts.push(rocCurve(roc));
  return parts.length ? h("div", null, parts) : metricsTable(metadata);
}

/** A confusion matrix table, cells shaded by their share of the largest count. */
export function confusionMatrix(matrix) {
  const labels = (matrix.annotationSpecs || []).map((a) => a.displayName || "");
  const rows = matrix.rows.map((r) => (r.row || []).map(Number));
  const max = Math.max(1, ...rows.flat());
  const body = rows.map((row, i) => h("tr", null, h("th", null, labels[i] ?? String(i)),
    row.map((v) => {
      const cell = h("td", { class: "heat", title: String(v) }, String(v));
      cell.style.backgroundColor = `rgba(37, 99, 235, ${(0.08 + 0.8 * (v / max)).toFixed(2)})`;
      if (v / max > 0.55) cell.style.color = "#fff";
      return cell;
    })));
  return h("table", { class: "table confusion" },
    h("thead", null, h("tr", null, h("th", null, "actual \\ predicted"), labels.map((l) => h("th", null, l)))),
    h("tbody", null, body));
}

/** An ROC curve (recall against false positive rate) as an SVG polyline. */
export function rocCurve(points) {
  const size = 240;
  const pts = points
    .map((p) => [Number(p.falsePositiveRate ?? 0), Number(p.recall ?? 0)])
    .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const coords = pts.map(([x, y]) => `${(x * size).toFixed(1)},${((1 - y) * size).toFixed(1)}`).join(" ");
  return h("figure", { class: "roc" },
    s("svg", { viewBox: `-30 -10 ${size + 40} ${size + 40}`, width: size + 40, height: size + 40, class: "roc-curve" },
      s("rect", { x: 0, y: 0, width: size, height: size, fill: "none", stroke: "#cbd5e1" }),
      s("line", { x1: 0, y1: size, x2: size, y2: 0, stroke: "#cbd5e1", "stroke-dasharray": "4 3" }),
      s("polyline", { points: coords, fill: "none", stroke: "#2563eb", "stroke-width": 2 }),
      s("text", { x: size / 2, y: size + 24, "text-anchor": "middle", "font-size": 11 }, "false positive rate"),
      s("text", { x: -18, y: size / 2, "font-size": 11, transform: `rotate(-90 -18 ${size / 2})`, "text-anchor": "middle" }, "recall")),
    h("figcaption", { class: "muted" }, `ROC curve, ${pts.length} thresholds`));
}
