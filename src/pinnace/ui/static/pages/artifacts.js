// Artifacts (#/artifacts, ?lineage=<id>) and executions (#/executions): filtered lists, lineage.

import * as api from "../api.js";
import { hashFor, registerPage } from "../app.js";
import { badge, errorBox, fmtDuration, fmtTime, h, link, loading, mount } from "../dom.js";
import { downloadLink, renderPreview } from "../preview.js";

const UI = "/apis/pinnace/v1/ui";
const enc = encodeURIComponent;
const runLink = (runId, task) => link(`#/runs/${enc(runId)}${task ? hashFor("", { task }).slice(1) : ""}`, task || runId.slice(0, 8));

/** A filtered, paged list: `fields` [[name, placeholder]], `draw(items)` → table. */
function pagedList(root, { path, key, fields, query, draw, route }) {
  const inputs = fields.map(([name, placeholder]) => h("input", { type: "search", name, placeholder, value: query.get(name) || "" }));
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
  mount(root, h("form", { class: "toolbar", onSubmit: apply }, inputs, h("button", { type: "submit" }, "Filter")), body, pager);
  load("");
}

function artifactsTable(items, onLineage) {
  return h("div", { class: "table-wrap" }, h("table", { class: "table" },
    h("thead", null, h("tr", null, ["Name", "Type", "Run / task", "Created", "URI", ""].map((x) => h("th", null, x)))),
    h("tbody", null, items.map((a) => h("tr", null,
      h("td", null, a.name), h("td", null, h("span", { class: "tag" }, a.type)),
      h("td", null, runLink(a.run_id, a.task)), h("td", null, fmtTime(a.created_at)),
      h("td", { class: "mono" }, a.uri),
      h("td", null, h("button", { type: "button", class: "link", onClick: () => onLineage(a.artifact_id) }, "Lineage"), " ", downloadLink(a.artifact_id)))))));
}

/** The producer, the artifact's preview, and the tasks that read it. */
export async function renderLineage(root, artifactId) {
  mount(root, loading());
  try {
    const l = await api.get(`${UI}/artifacts/${enc(artifactId)}/lineage`);
    const preview = h("div");
    mount(root, h("div", { class: "card lineage" },
      h("h2", null, `Lineage of ${l.artifact.name}`),
      h("div", { class: "lineage-flow" },
        h("div", null, h("h3", null, "Produced by"), h("div", null, runLink(l.producer.run_id, l.producer.task)), h("div", { class: "muted" }, `run ${l.producer.run_name || l.producer.run_id}, output ${l.producer.output}`)),
        h("div", { class: "lineage-arrow", "aria-hidden": "true" }, "→"),
        h("div", null, h("h3", null, l.artifact.name), h("span", { class: "tag" }, l.artifact.type), h("div", { class: "mono muted" }, l.artifact.uri)),
        h("div", { class: "lineage-arrow", "aria-hidden": "true" }, "→"),
        h("div", null, h("h3", null, "Read by"), l.consumers.length
          ? h("ul", null, l.consumers.map((c) => h("li", null, runLink(c.run_id, c.task), ` (${c.input}, run ${c.run_name || c.run_id.slice(0, 8)}) `, badge(c.state))))
          : h("div", { class: "muted" }, "No task read it."))),
      h("h3", null, "Preview"), preview));
    renderPreview(preview, artifactId);
  } catch (error) {
    mount(root, errorBox(error));
  }
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
    fields: [["run_id", "Run id"], ["task", "Task path"], ["state", "State"]],
    draw: (items) => h("div", { class: "table-wrap" }, h("table", { class: "table" },
      h("thead", null, h("tr", null, ["Task", "Attempt", "State", "Started", "Duration", "Exit", "Error"].map((x) => h("th", null, x)))),
      h("tbody", null, items.map((e) => h("tr", null,
        h("td", null, runLink(e.run_id, e.task)), h("td", null, String(e.attempt)), h("td", null, badge(e.state)),
        h("td", null, fmtTime(e.started_at)), h("td", null, fmtDuration(e.duration)),
        h("td", null, e.exit_code == null ? "" : String(e.exit_code)), h("td", { class: "mono" }, e.error || "")))))),
  });
});
