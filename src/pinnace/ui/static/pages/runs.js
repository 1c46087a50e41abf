// Runs: the list (#/runs: filter, sort, pages, metrics, compare) and starting a run (#/runs/new).

import * as api from "../api.js";
import { hashFor, navigate, registerPage } from "../app.js";
import { badge, errorBox, fmtDuration, fmtTime, h, link, loading, mount } from "../dom.js";
import { listExperiments, select, sourcePicker } from "./run_form.js";

const V2 = "/apis/v2beta1";
const UI = "/apis/pinnace/v1/ui";
const STATES = ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELING", "CANCELED"];
const SORTS = [
  ["created_at desc", "Newest first"],
  ["created_at", "Oldest first"],
  ["display_name", "Name A–Z"],
  ["display_name desc", "Name Z–A"],
  ["finished_at desc", "Recently finished"],
];

export function runDuration(run) {
  const start = run.scheduled_at || run.created_at;
  if (!start) return null;
  const end = run.finished_at ? Date.parse(run.finished_at) : Date.now();
  return Math.max(0, (end - Date.parse(start)) / 1000);
}

/**
 * The runs table with its filters into `root`. Options: experimentId (fixed filter),
 * query (initial {name, state, experiment, sort, archived}), onQuery(query) when it changes.
 */
export function renderRunsTable(root, options = {}) {
  const query = { ...(options.query || {}) };
  const tokens = [""]; // page tokens of the pages seen, for "previous"
  let controller = null;
  const chosen = new Set();
  const name = h("input", { type: "search", placeholder: "Filter by name", value: query.name || "" });
  const state = select("state", STATES.map((s) => [s, s]), query.state, "Any state");
  const sort = select("sort", SORTS, query.sort || "created_at desc");
  const archived = h("input", { type: "checkbox", checked: query.archived === "1" });
  const experiment = select("experiment", [], null, "Any experiment");
  const compare = h("button", { type: "button", disabled: true, onClick: () => navigate("/compare", { runs: [...chosen].join(",") }) }, "Compare selected");
  const body = h("div", null, loading());
  const pager = h("div", { class: "pager" });
  const filters = [name, state, sort, archived];
  if (!options.experimentId) {
    filters.push(experiment);
    listExperiments().then((items) => {
      mount(experiment, h("option", { value: "" }, "Any experiment"),
        items.map(([v, l]) => h("option", { value: v, selected: v === query.experiment }, l)));
    }).catch(() => {});
  }
  const reload = () => {
    Object.assign(query, { name: name.value, state: state.value, sort: sort.value, archived: archived.checked ? "1" : "", experiment: experiment.value || query.experiment });
    if (options.onQuery) options.onQuery(query);
    tokens.length = 1;
    load("");
  };
  let timer = null;
  name.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(reload, 250); });
  for (const el of [state, sort, archived, experiment]) el.addEventListener("change", reload);

  async function load(token) {
    if (controller) controller.abort();
    controller = new AbortController();
    const params = {
      page_size: 20,
      page_token: token || undefined,
      sort_by: query.sort || "created_at desc",
      experiment_id: options.experimentId || query.experiment || undefined,
      filter: api.filter([
        ["display_name", "IS_SUBSTRING", query.name],
        ["state", "EQUALS", query.state],
        ["recurring_run_id", "EQUALS", options.recurringRunId],
        ["storage_state", "EQUALS", query.archived === "1" ? "ARCHIVED" : "AVAILABLE"],
      ]),
    };
    try {
      const res = await api.get(`${V2}/runs`, params, { signal: controller.signal });
      const runs = res.runs || [];
      const metrics = runs.length
        ? (await api.get(`${UI}/metrics`, { run_ids: runs.map((r) => r.run_id).join(",") })).runs
        : {};
      mount(body, runsTable(runs, metrics, chosen, () => { compare.disabled = chosen.size < 2; }));
      const index = tokens.indexOf(token);
      mount(pager,
        h("button", { type: "button", disabled: index <= 0, onClick: () => load(tokens[index - 1]) }, "Previous"),
        h("span", { class: "muted" }, `${res.total_size || 0} runs`),
        h("button", { type: "button", disabled: !res.next_page_token, onClick: () => {
          if (!tokens.includes(res.next_page_token)) tokens.push(res.next_page_token);
          load(res.next_page_token);
        } }, "Next"));
    } catch (error) {
      if (error.name !== "AbortError") mount(body, errorBox(error));
    }
  }
  mount(root,
    h("div", { class: "toolbar" }, filters.map((f) => (f === archived ? h("label", { class: "inline" }, archived, "Archived") : f)),
      h("span", { class: "spacer" }), compare),
    body, pager);
  load("");
  return () => controller && controller.abort();
}

function runsTable(runs, metrics, chosen, onPick) {
  if (!runs.length) return h("div", { class: "empty" }, "No runs match.");
  const names = [...new Set(runs.flatMap((r) => Object.keys(metrics[r.run_id] || {})))].slice(0, 6);
  const head = ["", "Name", "State", "Duration", "Created", ...names];
  const rows = runs.map((run) => {
    const box = h("input", { type: "checkbox", checked: chosen.has(run.run_id), "aria-label": `select ${run.display_name}`, onChange: (e) => {
      if (e.target.checked) chosen.add(run.run_id);
      else chosen.delete(run.run_id);
      onPick();
    } });
    const values = metrics[run.run_id] || {};
    return [
      box,
      link(`#/runs/${encodeURIComponent(run.run_id)}`, run.display_name || run.run_id),
      badge(run.state),
      fmtDuration(runDuration(run)),
      fmtTime(run.created_at),
      ...names.map((n) => (n in values ? formatMetric(values[n]) : "")),
    ];
  });
  return h("div", { class: "table-wrap" }, h("table", { class: "table runs" },
    h("thead", null, h("tr", null, head.map((x) => h("th", null, x)))),
    h("tbody", null, rows.map((r) => h("tr", null, r.map((c) => h("td", null, c)))))));
}

export function formatMetric(value) {
  return typeof value === "number" && !Number.isInteger(value) ? value.toPrecision(4) : String(value);
}

registerPage("/runs", (root, params, query) => {
  const box = h("div");
  mount(root, h("div", { class: "page-head" }, h("h1", null, "Runs"), h("a", { href: "#/runs/new", class: "button" }, "Start a run")), box);
  return renderRunsTable(box, {
    query,
    onQuery: (q) => history.replaceState(null, "", hashFor("/runs", q)),
  });
});

// -- start a run ------------------------------------------------------------------------------

registerPage("/runs/new", async (root, params, query) => {
  let prefill = {};
  let spec = null;
  const cloneId = query.get("clone");
  const source = { pipeline: query.get("pipeline"), version: query.get("version"), experiment: query.get("experiment") };
  if (cloneId) {
    const run = await api.get(`${V2}/runs/${encodeURIComponent(cloneId)}`);
    prefill = { name: `Clone of ${run.display_name}`, description: run.description };
    const ref = run.pipeline_version_reference || {};
    Object.assign(source, { pipeline: ref.pipeline_id, version: ref.pipeline_version_id, experiment: run.experiment_id });
    spec = run.pipeline_spec || null;
    source.parameters = (run.runtime_config || {}).parameters || {};
  }
  const name = h("input", { name: "display_name", required: true, value: prefill.name || "" });
  const description = h("textarea", { name: "description" });
  description.value = prefill.description || "";
  const pickerBox = h("div");
  const message = h("div");
  const submit = h("button", { type: "submit", class: "primary" }, "Start");
  let picker = null;
  const form = h("form", { class: "card", onSubmit: async (event) => {
    event.preventDefault();
    if (!picker) return;
    const chosen = picker.read();
    if (!name.value.trim()) return mount(message, errorBox({ message: "Give the run a name." }));
    if (!chosen.ok) return mount(message, errorBox({ message: "Choose a pipeline and fix the parameters marked above." }));
    submit.disabled = true;
    try {
      const run = await api.post(`${V2}/runs`, {
        display_name: name.value.trim(),
        description: description.value,
        experiment_id: chosen.experiment_id,
        pipeline_spec: chosen.pipeline_spec,
        pipeline_version_reference: chosen.pipeline_version_reference,
        runtime_config: { parameters: chosen.values },
      });
      navigate(`/runs/${encodeURIComponent(run.run_id)}`);
    } catch (error) {
      mount(message, errorBox(error));
      submit.disabled = false;
    }
  } }, h("div", { class: "form-grid" }, h("label", null, "Run name", name), h("label", null, "Description", description)),
  pickerBox, message, submit);
  mount(root, h("h1", null, cloneId ? "Clone a run" : "Start a run"), form);
  picker = await sourcePicker(pickerBox, { ...source, spec });
});
