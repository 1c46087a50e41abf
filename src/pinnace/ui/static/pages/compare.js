// Compare runs (#/compare?runs=a,b): parameters and metrics side by side, differences marked.

import * as api from "../api.js";
import { registerPage } from "../app.js";
import { badge, fmtDuration, h, link, mount } from "../dom.js";
import { formatMetric, runDuration } from "./runs.js";

const V2 = "/apis/v2beta1";
const UI = "/apis/pinnace/v1/ui";

const show = (v) => (v === undefined ? "—" : typeof v === "number" ? formatMetric(v) : typeof v === "string" ? v : JSON.stringify(v));

/** Rows [key, ...values] for every key any run has; `differs` when the values are not all equal. */
export function sideBySide(maps) {
  const keys = [...new Set(maps.flatMap((m) => Object.keys(m || {})))].sort();
  return keys.map((key) => {
    const values = maps.map((m) => (m || {})[key]);
    const differs = new Set(values.map((v) => JSON.stringify(v))).size > 1;
    return { key, values, differs };
  });
}

function section(title, runs, rows) {
  if (!rows.length) return [h("h2", null, title), h("div", { class: "muted" }, "None.")];
  return [h("h2", null, title), h("div", { class: "table-wrap" }, h("table", { class: "table compare" },
    h("thead", null, h("tr", null, h("th", null, ""), runs.map((r) => h("th", null, r.display_name || r.run_id)))),
    h("tbody", null, rows.map((row) => h("tr", { class: row.differs ? "diff" : null },
      h("th", null, row.key), row.values.map((v) => h("td", { class: "mono" }, show(v))))))))];
}

registerPage("/compare", async (root, params, query) => {
  const ids = String(query.get("runs") || "").split(",").filter(Boolean);
  if (ids.length < 2) {
    mount(root, h("h1", null, "Compare runs"), h("div", { class: "empty" }, "Pick two or more runs in the ", link("#/runs", "runs list"), " and press Compare."));
    return;
  }
  const runs = await Promise.all(ids.map((id) => api.get(`${V2}/runs/${encodeURIComponent(id)}`)));
  const metrics = (await api.get(`${UI}/metrics`, { run_ids: ids.join(",") })).runs;
  const overview = {
    key: "run",
    rows: [
      ["state", runs.map((r) => badge(r.state))],
      ["duration", runs.map((r) => fmtDuration(runDuration(r)))],
    ],
  };
  const onlyDiff = h("input", { type: "checkbox" });
  const body = h("div");
  const draw = () => {
    const filter = (rows) => (onlyDiff.checked ? rows.filter((r) => r.differs) : rows);
    mount(body,
      h("table", { class: "table" }, h("thead", null, h("tr", null, h("th", null, ""), runs.map((r) => h("th", null, link(`#/runs/${encodeURIComponent(r.run_id)}`, r.display_name || r.run_id))))),
        h("tbody", null, overview.rows.map(([k, cells]) => h("tr", null, h("th", null, k), cells.map((c) => h("td", null, c)))))),
      section("Parameters", runs, filter(sideBySide(runs.map((r) => (r.runtime_config || {}).parameters || {})))),
      section("Metrics", runs, filter(sideBySide(runs.map((r) => metrics[r.run_id] || {})))));
  };
  onlyDiff.addEventListener("change", draw);
  mount(root, h("h1", null, "Compare runs"), h("label", { class: "inline" }, onlyDiff, "Only differences"), body);
  draw();
});
