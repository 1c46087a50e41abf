// The run page (#/runs/<id>): live graph (SSE), actions, and the task panel with its tabs.

import * as api from "../api.js";
import { hashFor, navigate, registerPage } from "../app.js";
import { badge, errorBox, fmtDuration, fmtTime, h, loading, mount } from "../dom.js";
import { renderGraph } from "../graph.js";
import { downloadLink, renderPreview, renderVisualizations } from "../preview.js";

const V2 = "/apis/v2beta1";
const UI = "/apis/pinnace/v1/ui";
const TABS = [["io", "Input/Output"], ["viz", "Visualizations"], ["details", "Details"], ["logs", "Logs"]];
const enc = encodeURIComponent;
const taskUrl = (runId, path, rest = "") => `${UI}/runs/${enc(runId)}/tasks/${path.split("/").map(enc).join("/")}${rest}`;

const forGraph = (nodes) => nodes.map((n) => ({ ...n, duration: n.duration == null ? "" : fmtDuration(n.duration) }));

registerPage("/runs/:id", async (root, params, query) => {
  const runId = params.id;
  const state = { task: query.get("task"), tab: query.get("tab") || "io", graph: null, source: null, panelCleanup: null };
  const run = await api.get(`${V2}/runs/${enc(runId)}`);
  const head = h("div", { class: "page-head" });
  const graphBox = h("div", { class: "graph-box" });
  const panel = h("div", { class: "side-panel" }, h("div", { class: "muted" }, "Select a task to see its inputs, outputs and logs."));
  const message = h("div");
  mount(root, head, message, h("div", { class: "split run-split" }, graphBox, panel));

  const showHead = (r) => mount(head, h("h1", null, r.display_name || r.run_id), badge(r.state), actions(r, message));
  showHead(run);

  const selectTask = (path) => {
    state.task = path;
    history.replaceState(null, "", hashFor(`/runs/${runId}`, { task: path, tab: state.tab }));
    if (state.panelCleanup) state.panelCleanup();
    state.panelCleanup = renderPanel(panel, runId, path, state);
  };
  const drawGraph = async () => {
    const graph = await api.get(`${UI}/runs/${enc(runId)}/graph`);
    if (state.graph) state.graph.destroy();
    mount(graphBox);
    state.graph = renderGraph(graphBox, { nodes: forGraph(graph.nodes), edges: graph.edges }, { onSelect: selectTask, selected: state.task });
    state.known = new Set(graph.nodes.map((n) => n.id));
  };
  await drawGraph();
  if (state.task) selectTask(state.task);

  const source = new EventSource(api.url(`${UI}/runs/${enc(runId)}/events`));
  let redraw = null;
  source.addEventListener("tasks", (event) => {
    const { tasks } = JSON.parse(event.data);
    if (tasks.some((t) => !state.known.has(t.id))) {
      clearTimeout(redraw); // a loop expanded: lay the graph out again, at most twice a second
      redraw = setTimeout(() => drawGraph().catch(() => {}), 500);
    }
    state.graph.update(forGraph(tasks));
  });
  source.addEventListener("run", (event) => {
    const data = JSON.parse(event.data);
    showHead({ ...run, state: data.state });
    run.state = data.state;
  });
  source.addEventListener("end", () => source.close());
  return () => {
    source.close();
    clearTimeout(redraw);
    if (state.panelCleanup) state.panelCleanup();
    if (state.graph) state.graph.destroy();
  };
});

function actions(run, message) {
  const act = (label, verb, opts = {}) => h("button", { type: "button", class: opts.danger ? "danger" : null, onClick: async () => {
    if (opts.confirm && !window.confirm(opts.confirm)) return;
    try {
      await api.post(`${V2}/runs/${enc(run.run_id)}:${verb}`, {});
      mount(message, h("div", { class: "notice" }, `${label}: done.`));
      if (verb !== "terminate") setTimeout(() => location.reload(), 300);
    } catch (error) {
      mount(message, errorBox(error));
    }
  } }, label);
  const terminal = ["SUCCEEDED", "FAILED", "CANCELED"].includes(run.state);
  return h("div", { class: "toolbar" },
    terminal ? null : act("Terminate", "terminate", { danger: true, confirm: "Terminate this run?" }),
    run.state === "FAILED" || run.state === "CANCELED" ? act("Retry", "retry") : null,
    h("button", { type: "button", onClick: () => navigate("/runs/new", { clone: run.run_id }) }, "Clone"),
    run.storage_state === "ARCHIVED" ? act("Restore", "unarchive") : act("Archive", "archive"),
    run.experiment_id ? h("a", { href: `#/experiments/${enc(run.experiment_id)}` }, "Experiment") : null);
}

// -- the task panel ----------------------------------------------------------------------------

function renderPanel(panel, runId, path, state) {
  let cleanup = null;
  let live = true;
  const body = h("div", null, loading());
  const tabs = h("div", { class: "tabs", role: "tablist" });
  mount(panel, h("h2", null, path), tabs, body);
  let details = null;
  const show = (tab) => {
    state.tab = tab;
    history.replaceState(null, "", hashFor(`/runs/${runId}`, { task: path, tab }));
    mount(tabs, TABS.map(([id, label]) => h("button", { type: "button", role: "tab", class: id === tab ? "active" : null, onClick: () => show(id) }, label)));
    if (cleanup) cleanup();
    cleanup = null;
    if (tab === "logs") cleanup = renderLogs(body, runId, path, details);
    else if (tab === "viz") renderVisualizations(body, details.outputs.artifacts);
    else if (tab === "details") renderDetails(body, details);
    else renderIO(body, details);
  };
  api.get(taskUrl(runId, path)).then((d) => {
    if (!live) return;
    details = d;
    show(TABS.some(([id]) => id === state.tab) ? state.tab : "io");
  }).catch((error) => mount(body, errorBox(error)));
  return () => {
    live = false;
    if (cleanup) cleanup();
  };
}

function paramTable(parameters) {
  const rows = Object.entries(parameters || {});
  if (!rows.length) return h("div", { class: "muted" }, "None.");
  return h("dl", { class: "props" }, rows.flatMap(([k, v]) => [h("dt", null, k), h("dd", { class: "mono" }, typeof v === "string" ? v : JSON.stringify(v))]));
}

function artifactList(artifacts) {
  const items = Object.entries(artifacts || {}).flatMap(([name, list]) => list.map((a) => ({ name, ...a })));
  if (!items.length) return h("div", { class: "muted" }, "None.");
  return items.map((a) => {
    const box = h("div");
    const open = h("button", { type: "button", class: "link", onClick: () => renderPreview(box, a.artifact_id) }, "Preview");
    return h("div", { class: "card artifact" },
      h("div", null, h("strong", null, a.name), " ", h("span", { class: "tag" }, a.type)),
      h("div", { class: "mono muted" }, a.uri || ""),
      a.artifact_id ? h("div", { class: "toolbar" }, open, downloadLink(a.artifact_id), h("a", { href: `#/artifacts?lineage=${enc(a.artifact_id)}` }, "Lineage")) : null,
      box);
  });
}

function renderIO(body, d) {
  mount(body,
    h("h3", null, "Input parameters"), paramTable(d.inputs.parameters),
    h("h3", null, "Input artifacts"), artifactList(d.inputs.artifacts),
    h("h3", null, "Output parameters"), paramTable(d.outputs.parameters),
    h("h3", null, "Output artifacts"), artifactList(d.outputs.artifacts));
}

function renderDetails(body, d) {
  const c = d.container || {};
  const prop = (k, v) => (v === undefined || v === null || v === "" ? [] : [h("dt", null, k), h("dd", null, v)]);
  mount(body,
    h("dl", { class: "props" },
      prop("State", badge(d.state)), prop("Component", d.component), prop("Started", fmtTime(d.started_at)),
      prop("Finished", fmtTime(d.finished_at)), prop("Duration", fmtDuration(d.duration)),
      prop("Cache", d.cached_from ? `reused from ${d.cached_from}` : d.cache_key ? "miss (stored for reuse)" : "off"),
      prop("Error", d.error), prop("Image", c.image),
      prop("Packages", (c.packages || []).join(", ")),
      prop("Resources", Object.keys(c.resources || {}).length ? JSON.stringify(c.resources) : ""),
      prop("Python", (d.environment || {}).python || (d.environment || {}).interpreter)),
    c.command ? [h("h3", null, "Command"), h("pre", null, [...(c.command || []), ...(c.args || [])].map((x) => (typeof x === "string" ? x : JSON.stringify(x))).join("\n"))] : null,
    Object.keys(d.environment || {}).length ? [h("h3", null, "Environment"), h("pre", null, JSON.stringify(d.environment, null, 2))] : null,
    h("h3", null, "Attempts"),
    d.attempts.length
      ? h("table", { class: "table" }, h("thead", null, h("tr", null, ["#", "State", "Exit", "Duration", "Error"].map((x) => h("th", null, x)))),
        h("tbody", null, d.attempts.map((a) => h("tr", null, h("td", null, String(a.attempt)), h("td", null, badge(a.state)),
          h("td", null, a.exit_code == null ? "" : String(a.exit_code)), h("td", null, fmtDuration(a.duration)), h("td", { class: "mono" }, a.error || "")))))
      : h("div", { class: "muted" }, "No executions (cached, skipped or not started)."));
}

function renderLogs(body, runId, path, d) {
  const pre = h("pre", { class: "log" });
  const note = h("div", { class: "muted" });
  const full = h("a", { href: api.url(taskUrl(runId, path, "/logs"), { download: 1 }), download: "" }, "Download full log");
  mount(body, h("div", { class: "toolbar" }, note, h("span", { class: "spacer" }), full), pre);
  if (!d.has_log) {
    mount(note, "This task has no log (cached, skipped or not started).");
    return null;
  }
  const source = new EventSource(api.url(taskUrl(runId, path, "/logs/stream")));
  const append = (text) => {
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.appendChild(document.createTextNode(text));
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  };
  source.addEventListener("tail", (e) => {
    const tail = JSON.parse(e.data);
    if (tail.truncated) mount(note, `Showing the last ${Math.round((tail.size - tail.offset) / 1024)} KiB of ${Math.round(tail.size / 1024)} KiB.`);
    append(tail.text);
  });
  source.addEventListener("lines", (e) => append(JSON.parse(e.data).text));
  source.addEventListener("end", () => source.close());
  source.onerror = () => source.close();
  return () => source.close();
}
