// The run page (#/runs/<id>): a header a person reads at a glance (state, pipeline, version,
// experiment, recurring run, times, parameters, id), an error banner naming the failed task,
// and three tabs: the live graph (SSE) with the task panel, Run output, and Config.

import * as api from "../api.js";
import { hashFor, navigate, registerPage } from "../app.js";
import { badge, copyButton, errorBox, fmtDuration, fmtTime, h, mount, paramValue, runDuration } from "../dom.js";
import { renderGraph } from "../graph.js";
import { renderPanel, resizablePanel } from "./run_panel.js";
import { renderConfig, renderRunOutput } from "./run_output.js";

const V2 = "/apis/v2beta1";
const UI = "/apis/pinnace/v1/ui";
const TABS = [["graph", "Graph"], ["output", "Run output"], ["config", "Config"]];
const TERMINAL = ["SUCCEEDED", "FAILED", "CANCELED", "SKIPPED"];
const enc = encodeURIComponent;

const forGraph = (nodes) => nodes.map((n) => ({ ...n, duration: n.duration == null ? "" : fmtDuration(n.duration) }));

/** Names of what a run points at (pipeline, version, experiment, recurring run); none fails. */
async function neighbours(run) {
  const ref = run.pipeline_version_reference || {};
  const quiet = (p) => p.catch(() => null);
  const [pipeline, version, experiment, recurring] = await Promise.all([
    ref.pipeline_id ? quiet(api.get(`${V2}/pipelines/${enc(ref.pipeline_id)}`)) : null,
    ref.pipeline_id && ref.pipeline_version_id
      ? quiet(api.get(`${V2}/pipelines/${enc(ref.pipeline_id)}/versions/${enc(ref.pipeline_version_id)}`))
      : null,
    run.experiment_id ? quiet(api.get(`${V2}/experiments/${enc(run.experiment_id)}`)) : null,
    run.recurring_run_id ? quiet(api.get(`${V2}/recurringruns/${enc(run.recurring_run_id)}`)) : null,
  ]);
  return { ref, pipeline, version, experiment, recurring };
}

function header(run, near, actionsBox) {
  const { ref, pipeline, version, experiment, recurring } = near;
  const item = (label, ...value) => h("div", { class: "fact" }, h("span", { class: "fact-label" }, label), h("span", { class: "fact-value" }, ...value));
  const pipelineHref = ref.pipeline_id ? hashFor(`/pipelines/${enc(ref.pipeline_id)}`, { version: ref.pipeline_version_id }) : null;
  const params = Object.entries((run.runtime_config || {}).parameters || {});
  return h("div", { class: "run-header card" },
    h("div", { class: "page-head" }, h("h1", null, run.display_name || run.run_id), badge(run.state), actionsBox),
    h("div", { class: "facts" },
      ref.pipeline_id
        ? item("Pipeline", h("a", { href: pipelineHref }, pipeline ? pipeline.display_name || pipeline.name : ref.pipeline_id),
          version ? [" / ", h("a", { href: pipelineHref, class: "version-link" }, version.display_name || version.name)] : null)
        : item("Pipeline", h("span", { class: "muted" }, "uploaded with the run (no pipeline version)")),
      run.experiment_id ? item("Experiment", h("a", { href: `#/experiments/${enc(run.experiment_id)}` }, experiment ? experiment.display_name : run.experiment_id)) : null,
      run.recurring_run_id ? item("Recurring run", h("a", { href: `#/recurring/${enc(run.recurring_run_id)}` }, recurring ? recurring.display_name : run.recurring_run_id)) : null,
      item("Started", fmtTime(run.scheduled_at || run.created_at) || "—"),
      item("Finished", fmtTime(run.finished_at) || (TERMINAL.includes(run.state) ? "—" : "still running")),
      item("Duration", h("span", { class: "run-duration" }, fmtDuration(runDuration(run)) || "—")),
      item("Run id", h("code", { class: "run-id" }, run.run_id), copyButton(run.run_id, "Copy run id"))),
    params.length
      ? h("div", { class: "run-params" }, h("span", { class: "fact-label" }, "Parameters"),
        params.map(([k, v]) => h("span", { class: "param-chip", title: `${k} = ${paramValue(v)}` }, h("span", { class: "param-key" }, k), " = ", h("span", { class: "mono" }, paramValue(v)))))
      : null);
}

function actions(run, message) {
  const act = (label, verb, opts = {}) => h("button", { type: "button", class: opts.danger ? "danger" : null, onClick: async () => {
    if (opts.confirm && !window.confirm(opts.confirm)) return;
    try {
      await api.post(`${V2}/runs/${enc(run.run_id)}:${verb}`, {});
      mount(message, h("div", { class: "notice" }, `${label}: done.`));
      if (verb !== "terminate") setTimeout(() => window.dispatchEvent(new HashChangeEvent("hashchange")), 300);
    } catch (error) {
      mount(message, errorBox(error));
    }
  } }, label);
  const terminal = TERMINAL.includes(run.state);
  return h("div", { class: "toolbar head-actions" },
    terminal ? null : act("Terminate", "terminate", { danger: true, confirm: "Terminate this run?" }),
    run.state === "FAILED" || run.state === "CANCELED" ? act("Retry", "retry") : null,
    h("button", { type: "button", onClick: () => navigate("/runs/new", { clone: run.run_id }) }, "Clone"),
    run.storage_state === "ARCHIVED" ? act("Restore", "unarchive") : act("Archive", "archive"));
}

/** The failed tasks' banner: each names the task and its error, with a button to open it. */
function errorBanner(run, nodes, open) {
  if (run.state !== "FAILED") return null;
  const failed = nodes.filter((n) => n.state === "FAILED" && n.kind === "task");
  const runError = run.error && run.error.message;
  return h("div", { class: "error run-error", role: "alert" },
    h("strong", null, failed.length ? `This run failed: ${failed.length === 1 ? "task" : `${failed.length} tasks`} failed.` : "This run failed."),
    failed.slice(0, 5).map((n) => h("div", { class: "failed-task" },
      h("button", { type: "button", class: "link", onClick: () => open(n.id) }, `${n.label} (${n.id})`),
      n.error ? h("pre", { class: "error-text" }, n.error) : null)),
    !failed.length && runError ? h("pre", { class: "error-text" }, runError) : null);
}

registerPage("/runs/:id", async (root, params, query) => {
  const runId = params.id;
  const state = {
    task: query.get("task"), tab: query.get("tab") || "io", view: TABS.some(([id]) => id === query.get("view")) ? query.get("view") : "graph",
    artifacts: query.get("artifacts") === "1", graph: null, panelCleanup: null, nodes: [],
  };
  // The graph is fetched while the run and its neighbours' names are.
  const graphFetch = api.get(`${UI}/runs/${enc(runId)}/graph`, { artifacts: state.artifacts ? 1 : undefined });
  graphFetch.catch(() => {}); // awaited below; a failure shows there
  let run = await api.get(`${UI}/runs/${enc(runId)}`); // without the spec: the page does not use it
  const near = await neighbours(run);
  const head = h("div");
  const banner = h("div");
  const message = h("div");
  const graphBox = h("div", { class: "graph-box" });
  const panel = h("div", { class: "side-panel" }, h("div", { class: "muted" }, "Select a task to see its inputs, outputs, visualizations, details and logs."));
  const artifactsToggle = h("input", { type: "checkbox", checked: state.artifacts, "aria-label": "Show artifacts" });
  const graphTab = h("div", null,
    h("div", { class: "toolbar graph-options" }, h("label", { class: "inline" }, artifactsToggle, "Show artifacts"),
      h("span", { class: "muted" }, "Wheel to zoom, drag to pan.")),
    resizablePanel(graphBox, panel));
  const otherTab = h("div");
  const rendered = new Map(); // Run output and Config, drawn once per visit of the page
  const tabButtons = TABS.map(([id, label]) => h("button", { type: "button", role: "tab", dataset: { tab: id }, onClick: () => showView(id) }, label));
  const remember = () => history.replaceState(null, "", hashFor(`/runs/${runId}`, {
    view: state.view === "graph" ? "" : state.view, task: state.task, tab: state.task ? state.tab : "", artifacts: state.artifacts ? "1" : "",
  }));
  const showHead = () => {
    mount(head, header(run, near, actions(run, message)));
    mount(banner, errorBanner(run, state.nodes, openTask));
  };
  mount(root, head, banner, message, h("div", { class: "tabs run-tabs", role: "tablist" }, tabButtons), graphTab, otherTab);

  function showView(id) {
    state.view = id;
    remember();
    tabButtons.forEach((b) => b.classList.toggle("active", b.dataset.tab === id));
    graphTab.classList.toggle("hidden", id !== "graph");
    otherTab.classList.toggle("hidden", id === "graph");
    for (const [name, box] of rendered) box.classList.toggle("hidden", name !== id);
    if (id !== "graph" && !rendered.has(id)) {
      const box = otherTab.appendChild(h("div"));
      rendered.set(id, box);
      if (id === "output") renderRunOutput(box, runId);
      else renderConfig(box, runId);
    }
  }
  function selectTask(path) {
    state.task = path;
    remember();
    if (state.panelCleanup) state.panelCleanup();
    state.panelCleanup = renderPanel(panel, runId, path, state, { onTab: remember, openTask });
  }
  function openTask(path) {
    if (state.view !== "graph") showView("graph");
    if (state.graph) state.graph.reveal(path);
    selectTask(path);
  }
  const drawGraph = async (prefetched) => {
    const graph = await (prefetched || api.get(`${UI}/runs/${enc(runId)}/graph`, { artifacts: state.artifacts ? 1 : undefined }));
    const keep = state.graph ? state.graph.view.transform() : null;
    if (state.graph) state.graph.destroy();
    mount(graphBox);
    state.nodes = graph.nodes;
    state.graph = renderGraph(graphBox, { nodes: forGraph(graph.nodes), edges: graph.edges }, {
      onSelect: (id) => (String(id).includes("::") ? selectArtifact(id) : selectTask(id)), selected: state.task, transform: keep,
    });
    state.known = new Set(graph.nodes.map((n) => n.id));
    mount(banner, errorBanner(run, state.nodes, openTask));
  };
  const selectArtifact = (id) => {
    const producer = id.split("::")[0];
    state.tab = "io";
    selectTask(producer);
  };
  artifactsToggle.addEventListener("change", () => {
    state.artifacts = artifactsToggle.checked;
    remember();
    drawGraph().catch((error) => mount(message, errorBox(error)));
  });
  showHead();
  await drawGraph(graphFetch);
  showView(state.view);
  if (state.task) selectTask(state.task);

  const source = new EventSource(api.url(`${UI}/runs/${enc(runId)}/events`));
  let redraw = null;
  source.addEventListener("tasks", (event) => {
    const { tasks } = JSON.parse(event.data);
    if (tasks.some((t) => !state.known.has(t.id))) {
      clearTimeout(redraw); // a loop expanded: lay the graph out again, at most twice a second
      redraw = setTimeout(() => drawGraph().catch(() => {}), 500);
    }
    const byId = new Map(tasks.map((t) => [t.id, t]));
    const before = state.nodes.find((n) => n.id === state.task);
    state.nodes = state.nodes.map((n) => (byId.has(n.id) ? { ...n, state: byId.get(n.id).state, error: byId.get(n.id).error } : n));
    state.graph.update(forGraph(tasks));
    // The open task changed state: show its new outputs (a log follows by itself).
    const now = state.task && byId.get(state.task);
    if (now && before && now.state !== before.state && state.tab !== "logs") selectTask(state.task);
  });
  source.addEventListener("run", async (event) => {
    const data = JSON.parse(event.data);
    if (data.state === run.state) return;
    run = await api.get(`${UI}/runs/${enc(runId)}`).catch(() => ({ ...run, state: data.state }));
    showHead();
  });
  source.addEventListener("end", () => source.close());
  // A running run's duration counts up in the header.
  const ticker = setInterval(() => {
    if (TERMINAL.includes(run.state)) return;
    const el = head.querySelector(".run-duration");
    if (el) el.textContent = fmtDuration(runDuration(run)) || "—";
  }, 1000);
  return () => {
    clearInterval(ticker);
    source.close();
    clearTimeout(redraw);
    if (state.panelCleanup) state.panelCleanup();
    if (state.graph) state.graph.destroy();
  };
});
