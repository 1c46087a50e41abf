// Compare runs (#/compare?runs=a,b): one table whose columns line up (run facts, parameters,
// metrics, values as written, differences marked), ROC curves overlaid, confusion matrices side
// by side.

import * as api from "../api.js";
import { registerPage } from "../app.js";
import { badge, fmtDuration, fmtTime, h, link, mount, paramValue, runDuration } from "../dom.js";
import { confusionMatrix, rocChart } from "../preview.js";

const V2 = "/apis/v2beta1";
const UI = "/apis/pinnace/v1/ui";
const enc = encodeURIComponent;

/** Rows [key, ...values] for every key any run has; `differs` when the values are not all equal. */
export function sideBySide(maps) {
  const keys = [...new Set(maps.flatMap((m) => Object.keys(m || {})))].sort();
  return keys.map((key) => {
    const values = maps.map((m) => (m || {})[key]);
    const differs = new Set(values.map((v) => JSON.stringify(v))).size > 1;
    return { key, values, differs };
  });
}

const show = (v) => (v === undefined ? h("span", { class: "muted" }, "—") : paramValue(v));

async function versionNames(runs) {
  const names = new Map();
  await Promise.all(runs.map(async (r) => {
    const ref = r.pipeline_version_reference || {};
    if (!ref.pipeline_id) return;
    try {
      const [pipeline, version] = await Promise.all([
        api.get(`${V2}/pipelines/${enc(ref.pipeline_id)}`),
        ref.pipeline_version_id ? api.get(`${V2}/pipelines/${enc(ref.pipeline_id)}/versions/${enc(ref.pipeline_version_id)}`) : null,
      ]);
      names.set(r.run_id, `${pipeline.display_name || pipeline.name}${version ? ` / ${version.display_name || version.name}` : ""}`);
    } catch {
      names.set(r.run_id, ref.pipeline_version_id || ref.pipeline_id);
    }
  }));
  return names;
}

async function classificationOf(runs) {
  const found = await Promise.all(runs.map((r) =>
    api.get(`${UI}/artifacts`, { run_id: r.run_id, type: "ClassificationMetrics", page_size: 50 })
      .then((res) => res.artifacts || []).catch(() => [])));
  return runs.map((r, i) => ({ run: r, artifacts: found[i] }));
}

function compareTable(runs, facts, parameters, metrics, onlyDiff) {
  const cols = runs.length;
  const section = (title) => h("tr", null, h("th", { class: "section", colspan: cols + 1 }, title));
  const row = (key, cells, differs) => h("tr", { class: differs ? "diff" : null }, h("th", { scope: "row" }, key),
    cells.map((c) => h("td", { class: "mono" }, c)));
  const keep = (rows) => (onlyDiff ? rows.filter((r) => r.differs) : rows);
  const body = [
    section("Run"),
    facts.map(([key, cells]) => row(key, cells, false)),
    section("Parameters"),
    keep(parameters).map((r) => row(r.key, r.values.map(show), r.differs)),
    parameters.length ? null : h("tr", null, h("td", { colspan: cols + 1, class: "muted" }, "No parameters.")),
    section("Metrics"),
    keep(metrics).map((r) => row(r.key, r.values.map(show), r.differs)),
    metrics.length ? null : h("tr", null, h("td", { colspan: cols + 1, class: "muted" }, "No scalar metrics.")),
  ];
  return h("div", { class: "table-wrap" }, h("table", { class: "table compare-table" },
    h("thead", null, h("tr", null, h("th", null, ""), runs.map((r) => h("th", null, link(`#/runs/${enc(r.run_id)}`, r.display_name || r.run_id))))),
    h("tbody", null, body)));
}

function charts(classified) {
  const curves = [];
  const matrices = [];
  for (const { run, artifacts } of classified) {
    for (const a of artifacts) {
      const meta = a.metadata || {};
      const label = `${run.display_name || run.run_id}${artifacts.length > 1 ? ` · ${a.task}` : ""}`;
      if (Array.isArray(meta.confidenceMetrics) && meta.confidenceMetrics.length) curves.push({ name: label, points: meta.confidenceMetrics });
      if (meta.confusionMatrix && Array.isArray(meta.confusionMatrix.rows)) {
        matrices.push(h("div", { class: "card" }, h("h3", null, label), confusionMatrix(meta.confusionMatrix)));
      }
    }
  }
  if (!curves.length && !matrices.length) return null;
  return [
    curves.length ? [h("h2", null, "ROC curves"), rocChart(curves)] : null,
    matrices.length ? [h("h2", null, "Confusion matrices"), h("div", { class: "compare-charts" }, matrices)] : null,
  ];
}

registerPage("/compare", async (root, params, query) => {
  const ids = String(query.get("runs") || "").split(",").filter(Boolean);
  if (ids.length < 2) {
    mount(root, h("h1", null, "Compare runs"), h("div", { class: "empty" }, "Pick two or more runs in the ", link("#/runs", "runs list"), " and press Compare."));
    return;
  }
  const runs = await Promise.all(ids.map((id) => api.get(`${V2}/runs/${enc(id)}`)));
  const [metrics, versions, classified] = await Promise.all([
    api.get(`${UI}/metrics`, { run_ids: ids.join(",") }).then((r) => r.runs),
    versionNames(runs),
    classificationOf(runs),
  ]);
  const facts = [
    ["State", runs.map((r) => badge(r.state))],
    ["Pipeline version", runs.map((r) => versions.get(r.run_id) || h("span", { class: "muted" }, "spec given with the run"))],
    ["Started", runs.map((r) => fmtTime(r.scheduled_at || r.created_at))],
    ["Duration", runs.map((r) => fmtDuration(runDuration(r)))],
  ];
  const parameters = sideBySide(runs.map((r) => (r.runtime_config || {}).parameters || {}));
  const scalar = sideBySide(runs.map((r) => metrics[r.run_id] || {}));
  const onlyDiff = h("input", { type: "checkbox" });
  const tableBox = h("div");
  const draw = () => mount(tableBox, compareTable(runs, facts, parameters, scalar, onlyDiff.checked));
  onlyDiff.addEventListener("change", draw);
  mount(root, h("h1", null, "Compare runs"),
    h("label", { class: "inline" }, onlyDiff, "Only rows that differ"),
    tableBox, charts(classified));
  draw();
});
