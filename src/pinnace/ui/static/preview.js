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

/** An iframe showing `text` as a document with every sandbox restriction (no scripts): SVG. */
export function sandboxFrame(text, title = "preview") {
  return h("iframe", { sandbox: "", srcdoc: text, title, class: "preview-frame", referrerpolicy: "no-referrer" });
}

/** An HTML artifact as a page: its styles and scripts run (Plotly, Bokeh reports), in a frame
 * sandboxed without the same-origin flag. The server sends it with a CSP sandbox too, so it has
 * an opaque origin even if opened on its own: it can never read the dashboard or its cookies. */
export function htmlFrame(id, title = "HTML artifact") {
  return h("iframe", {
    sandbox: "allow-scripts allow-popups allow-popups-to-escape-sandbox",
    src: artifactUrl(id, "render"),
    title,
    class: "preview-frame html-frame",
    referrerpolicy: "no-referrer",
    loading: "lazy",
  });
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
      return h("div", null, htmlFrame(id, p.artifact.name));
    case "svg":
      return h("div", null, sandboxFrame(p.text, p.artifact.name), note);
    case "image":
      return h("img", { src: artifactUrl(id, "content"), alt: p.artifact.name, class: "preview-image" });
    case "folder":
      return h("div", null, h("div", { class: "muted" }, "A folder:"),
        h("ul", null, p.entries.map((e) => h("li", { class: "mono" }, e))));
    case "missing": {
      // Metrics artifacts hold their values as metadata; they often have no file at all.
      const meta = (p.artifact && p.artifact.metadata) || {};
      const type = String((p.artifact && p.artifact.type) || "");
      if (type.endsWith("ClassificationMetrics")) return classification(meta);
      if (Object.keys(meta).some((k) => k !== "display_name")) return metricsTable(meta);
      return h("div", { class: "muted" }, "The artifact's file is not in the store.");
    }
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

const VIZ_TYPES = ["Metrics", "ClassificationMetrics", "SlicedClassificationMetrics", "Markdown", "HTML"];

/** Blocks (title + view) for the visualizable artifacts of `artifacts` ({name: [artifact]}). */
export function visualizationBlocks(artifacts) {
  const blocks = [];
  for (const [name, items] of Object.entries(artifacts || {})) {
    for (const a of items) {
      const type = String(a.type || "").replace(/^system\./, "");
      if (!VIZ_TYPES.includes(type)) continue;
      const title = h("h3", null, `${String(name).replace(/^pipelinechannel--/, "")} `, h("span", { class: "tag" }, type));
      if (type === "Metrics") blocks.push(title, metricsTable(a.metadata));
      else if (type.endsWith("ClassificationMetrics")) blocks.push(title, classification(a.metadata));
      else if (a.artifact_id && type === "HTML") blocks.push(title, htmlFrame(a.artifact_id, name));
      else if (a.artifact_id) {
        const box = h("div");
        renderPreview(box, a.artifact_id);
        blocks.push(title, box);
      }
    }
  }
  return blocks;
}

/** The visualizations of a task's output artifacts (the `outputs.artifacts` of task details). */
export function renderVisualizations(root, artifacts) {
  const blocks = visualizationBlocks(artifacts);
  mount(root, blocks.length ? blocks : h("div", { class: "empty" }, "No visualizations for this task."));
}

/** A metric's value as written: 0.3 stays 0.3 (never 0.3000). */
export function metricValue(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

export function metricsTable(metadata) {
  const rows = Object.entries(metadata || {})
    .filter(([k, v]) => k !== "display_name" && (typeof v !== "object" || v === null))
    .map(([k, v]) => [k, h("span", { class: "mono" }, metricValue(v))]);
  return rows.length ? table(["Metric", "Value"], rows, { class: "metrics" }) : h("div", { class: "muted" }, "No metrics.");
}

function classification(metadata) {
  const parts = [];
  const matrix = metadata && metadata.confusionMatrix;
  if (matrix && Array.isArray(matrix.rows)) parts.push(confusionMatrix(matrix));
  const roc = metadata && metadata.confidenceMetrics;
  if (Array.isArray(roc) && roc.length) parts.push(rocChart([{ name: "ROC", points: roc }]));
  return parts.length ? h("div", { class: "viz-row" }, parts) : metricsTable(metadata);
}

/** A confusion matrix table, cells shaded by their share of the largest count. */
export function confusionMatrix(matrix, caption) {
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
  return h("div", { class: "table-wrap" }, h("table", { class: "table confusion" },
    caption ? h("caption", null, caption) : null,
    h("thead", null, h("tr", null, h("th", null, "actual \\ predicted"), labels.map((l) => h("th", null, l)))),
    h("tbody", null, body)));
}

/** [[fpr, tpr, threshold]] sorted for drawing, from KFP's confidenceMetrics. */
export function rocPoints(points) {
  return (points || [])
    .map((p) => [Number(p.falsePositiveRate ?? 0), Number(p.recall ?? 0), p.confidenceThreshold])
    .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
}

const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#4d7c0f"];

/** ROC curves ([{name, points}]) on one chart: axes with ticks, the chance diagonal, a legend,
 * and on hover the nearest point's threshold, false positive rate and recall. */
export function rocChart(series) {
  const size = 260;
  const pad = { l: 44, t: 12, r: 12, b: 40 };
  const curves = series.map((c, i) => ({ ...c, color: COLORS[i % COLORS.length], pts: rocPoints(c.points) }));
  const X = (v) => pad.l + v * size;
  const Y = (v) => pad.t + (1 - v) * size;
  const ticks = [0, 0.2, 0.4, 0.6, 0.8, 1];
  const grid = ticks.flatMap((v) => [
    s("line", { x1: X(v), y1: Y(0), x2: X(v), y2: Y(1), class: "grid" }),
    s("line", { x1: X(0), y1: Y(v), x2: X(1), y2: Y(v), class: "grid" }),
    s("text", { x: X(v), y: Y(0) + 16, "text-anchor": "middle", class: "tick" }, String(v)),
    s("text", { x: X(0) - 6, y: Y(v) + 4, "text-anchor": "end", class: "tick" }, String(v)),
  ]);
  const marker = s("circle", { r: 4, class: "roc-marker hidden" });
  const tip = h("div", { class: "roc-tip muted" }, "Hover the curve for thresholds.");
  const svg = s("svg", { viewBox: `0 0 ${size + pad.l + pad.r} ${size + pad.t + pad.b}`, class: "roc", role: "img", "aria-label": "ROC curve" },
    grid,
    s("rect", { x: X(0), y: Y(1), width: size, height: size, class: "frame" }),
    s("line", { x1: X(0), y1: Y(0), x2: X(1), y2: Y(1), class: "chance" }),
    curves.map((c) => s("polyline", { points: c.pts.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(" "), stroke: c.color, class: "curve" })),
    s("text", { x: X(0.5), y: size + pad.t + 34, "text-anchor": "middle", class: "axis" }, "False positive rate"),
    s("text", { x: 12, y: Y(0.5), "text-anchor": "middle", class: "axis", transform: `rotate(-90 12 ${Y(0.5)})` }, "True positive rate (recall)"),
    marker);
  svg.addEventListener("pointermove", (event) => {
    const r = svg.getBoundingClientRect();
    const scale = (size + pad.l + pad.r) / r.width;
    const fx = ((event.clientX - r.left) * scale - pad.l) / size;
    const fy = 1 - ((event.clientY - r.top) * scale - pad.t) / size;
    let best = null;
    for (const c of curves) {
      for (const p of c.pts) {
        const d = (p[0] - fx) ** 2 + (p[1] - fy) ** 2;
        if (!best || d < best.d) best = { d, p, c };
      }
    }
    if (!best) return;
    const [x, y, threshold] = best.p;
    marker.setAttribute("cx", X(x).toFixed(1));
    marker.setAttribute("cy", Y(y).toFixed(1));
    marker.setAttribute("fill", best.c.color);
    marker.classList.remove("hidden");
    mount(tip, `${curves.length > 1 ? `${best.c.name}: ` : ""}threshold ${threshold ?? "?"} · FPR ${x} · TPR ${y}`);
  });
  svg.addEventListener("pointerleave", () => marker.classList.add("hidden"));
  const legend = curves.length > 1
    ? h("div", { class: "legend" }, curves.map((c) => {
      const swatch = h("span", { class: "swatch" });
      swatch.style.backgroundColor = c.color;
      return h("span", { class: "legend-item" }, swatch, c.name);
    }))
    : null;
  return h("figure", { class: "roc-figure" }, svg, legend, tip,
    h("figcaption", { class: "muted" }, `ROC curve${curves.length > 1 ? "s" : ""}, ${curves.map((c) => c.pts.length).join(" / ")} thresholds`));
}

/** The single-curve chart (kept for callers of the first dashboard). */
export function rocCurve(points) {
  return rocChart([{ name: "ROC", points }]);
}
