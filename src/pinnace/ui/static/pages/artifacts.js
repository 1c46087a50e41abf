// Artifacts (#/artifacts, ?lineage=<id>) and executions (#/executions): filtered lists, lineage.

import * as api from "../api.js";
import { hashFor, registerPage } from "../app.js";
import { badge, copyButton, errorBox, fmtDuration, fmtTime, h, link, loading, mount } from "../dom.js";
import { renderGraph } from "../graph.js";
import { downloadLink, renderPreview } from "../preview.js";

const UI = "/apis/pinnace/v1/ui";
const enc = encodeURIComponent;
const taskLink = (runId, task) => link(`#/runs/${enc(runId)}${task ? hashFor("", { task }).slice(1) : ""}`, task || runId.slice(0, 8));
const runLink = (runId, name) => link(`#/runs/${enc(runId)}`, name || runId.slice(0, 8));

/** A filtered, paged list: `fields` [[name, placeholder]], `draw(items)` → table. */
function pagedList(root, { path, key, fields, query, draw, route }) {
  const inputs = fields.map(([name, placeholder, options]) => (options
    ? h("select", { name, "aria-label": placeholder }, h("option", { value: "" }, placeholder),
      options.map((o) => h("option", { value: o, selected: o === query.get(name) }, o)))
    : h("input", { type: "search", name, placeholder, "aria-label": placeholder, value: query.get(name) || "" })));
  const body = h("div", null, loading());
  const pager = h("div", { class: "pager" });
  const tokens = [""];
  const load = async (token) => {
    const params = Object.fromEntries(inputs.map((i) => [i.name, i.value.trim() || undefined]));
    try {
      const res = await api.get(path, { ...params, page_size: 25, page_token: token || undefined });
      const items = res[key] || [];
      mount(body, items.length ? draw(items) : h("div", { class: "empty" }, "Nothing matches."));
      const index = tokens.indexOf(token);
      mount(pager,
        h("button", { type: "button", disabled: index <= 0, onClick: () => load(tokens[index - 1]) }, "Previous"),
        h("span", { class: "muted" }, `${res.total_size || 0} in all`),
        h("button", { type: "button", disabled: !res.next_page_token, onClick: () => {
          if (!tokens.includes(res.next_page_token)) tokens.push(res.next_page_token);
          load(res.next_page_token);
        } }, "Next"));
    } catch (error) {
      mount(body, errorBox(error));
    }
  };
  const apply = (event) => {
    event.preventDefault();
    history.replaceState(null, "", hashFor(route, Object.fromEntries(inputs.map((i) => [i.name, i.value.trim()]))));
    tokens.length = 1;
    load("");
  };
  for (const input of inputs) if (input.tagName === "SELECT") input.addEventListener("change", apply);
  mount(root, h("form", { class: "toolbar", onSubmit: apply }, inputs, h("button", { type: "submit" }, "Filter")), body, pager);
  load("");
}

function artifactsTable(items, onLineage) {
  return h("div", { class: "table-wrap" }, h("table", { class: "table artifacts" },
    h("thead", null, h("tr", null, ["Name", "Type", "Run", "Task", "Created", "URI", ""].map((x) => h("th", null, x)))),
    h("tbody", null, items.map((a) => h("tr", null,
      h("td", { class: "nowrap" }, a.name), h("td", null, h("span", { class: "tag" }, a.type)),
      h("td", { class: "nowrap" }, runLink(a.run_id, a.run_name)), h("td", { class: "nowrap" }, taskLink(a.run_id, a.task)),
      h("td", { class: "nowrap" }, fmtTime(a.created_at)),
      h("td", null, h("span", { class: "uri-row" }, h("code", { class: "uri" }, a.uri), copyButton(a.uri, "Copy URI"))),
      h("td", { class: "nowrap" }, h("button", { type: "button", class: "link", onClick: () => onLineage(a.artifact_id) }, "Lineage"), " ", downloadLink(a.artifact_id)))))));
}

/** The lineage graph (artifacts and the tasks between them, several hops each way) and a
 * preview; clicking a node opens the artifact's lineage or the task on its run page. */
export async function renderLineage(root, artifactId) {
  mount(root, loading());
  let graph = null;
  try {
    const l = await api.get(`${UI}/artifacts/${enc(artifactId)}/lineage`);
    const preview = h("div");
    const box = h("div", { class: "lineage-graph" });
    const nodes = l.nodes.map((n) => ({ ...n, label: n.kind === "artifact" ? `${n.label}${n.task ? ` (${n.task})` : ""}` : n.label, title: n.uri || n.task, kind: n.kind === "task" ? "task" : "artifact" }));
    mount(root, h("div", { class: "card lineage" },
      h("h2", null, `Lineage of ${l.artifact.name}`),
      h("div", { class: "muted" }, "In run ", runLink(l.run.run_id, l.run.run_name), `: made by ${l.producer.task}, read by `,
        l.consumers.length ? l.consumers.map((c, i) => [i ? ", " : "", taskLink(c.run_id, c.task), " ", badge(c.state)]) : "no task", "."),
      box,
      h("h3", null, "Preview"), preview));
    graph = renderGraph(box, { nodes, edges: l.edges }, {
      selected: `art:${l.artifact.uri}`,
      onSelect: (id) => {
        const node = l.nodes.find((n) => n.id === id);
        if (!node) return;
        if (node.kind === "task") location.hash = hashFor(`/runs/${enc(l.run.run_id)}`, { task: node.task });
        else if (node.artifact_id && node.artifact_id !== artifactId) location.hash = hashFor("/artifacts", { lineage: node.artifact_id });
      },
    });
    renderPreview(preview, artifactId);
  } catch (error) {
    mount(root, errorBox(error));
  }
  return () => graph && graph.destroy();
}

registerPage("/artifacts", (root, params, query) => {
  const lineage = h("div");
  const list = h("div");
  const showLineage = (id) => {
    history.replaceState(null, "", hashFor("/artifacts", { ...query, lineage: id }));
    renderLineage(lineage, id);
  };
  mount(root, h("h1", null, "Artifacts"), lineage, list);
  if (query.get("lineage")) renderLineage(lineage, query.get("lineage"));
  pagedList(list, {
    path: `${UI}/artifacts`, key: "artifacts", query, route: "/artifacts",
    fields: [["type", "Type (Dataset, Model, Metrics…)"], ["run_id", "Run id"], ["task", "Task path"]],
    draw: (items) => artifactsTable(items, showLineage),
  });
});

registerPage("/executions", (root, params, query) => {
  const list = h("div");
  mount(root, h("h1", null, "Executions"), list);
  pagedList(list, {
    path: `${UI}/executions`, key: "executions", query, route: "/executions",
    fields: [["run_id", "Run id"], ["task", "Task path"], ["state", "Any state", ["RUNNING", "SUCCEEDED", "FAILED", "CANCELED", "SKIPPED"]]],
    draw: (items) => h("div", { class: "table-wrap" }, h("table", { class: "table" },
      h("thead", null, h("tr", null, ["Run", "Task", "Attempt", "State", "Started", "Duration", "Exit", "Error"].map((x) => h("th", null, x)))),
      h("tbody", null, items.map((e) => h("tr", null,
        h("td", { class: "nowrap" }, runLink(e.run_id, e.run_name)), h("td", { class: "nowrap" }, taskLink(e.run_id, e.task)),
        h("td", null, String(e.attempt)), h("td", null, badge(e.state)),
        h("td", { class: "nowrap" }, fmtTime(e.started_at)), h("td", { class: "nowrap" }, fmtDuration(e.duration)),
        h("td", null, e.exit_code == null ? "" : String(e.exit_code)), h("td", { class: "mono" }, e.error || "")))))),
  });
});
