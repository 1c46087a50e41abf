// Runs: the list (#/runs: filter, sort, pages, metrics, compare) and starting a run (#/runs/new).

import * as api from "../api.js";
import { hashFor, navigate, registerPage } from "../app.js";
import { badge, errorBox, fmtDuration, fmtTime, h, link, loading, mount, runDuration } from "../dom.js";
import { listExperiments, select, sourcePicker } from "./run_form.js";

const V2 = "/apis/v2beta1";
const UI = "/apis/pinnace/v1/ui";
const STATES = ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELING", "CANCELED"];
const COLUMNS_KEY = "pinnace.runColumns";
const enc = encodeURIComponent;

/** The runs table's columns: [id, header, sort key or null, shown by default]. */
export const COLUMNS = [
  ["name", "Name", "display_name", true],
  ["state", "State", "state", true],
  ["duration", "Duration", null, true],
  ["pipeline", "Pipeline / version", null, true],
  ["experiment", "Experiment", null, true],
  ["started", "Started", "scheduled_at", true],
  ["created", "Created", "created_at", false],
  ["finished", "Finished", "finished_at", false],
  ["recurring", "Recurring run", null, true],
  ["metrics", "Metrics", null, true],
];

export { runDuration };

function shownColumns() {
  try {
    const saved = JSON.parse(localStorage.getItem(COLUMNS_KEY) || "null");
    if (Array.isArray(saved)) return new Set(saved.filter((id) => COLUMNS.some(([c]) => c === id)));
  } catch {
    // A broken saved value falls back to the defaults.
  }
  return new Set(COLUMNS.filter((c) => c[3]).map(([id]) => id));
}

function saveColumns(shown) {
  try {
    localStorage.setItem(COLUMNS_KEY, JSON.stringify([...shown]));
  } catch {
    // Not remembered in private mode; the table still changes.
  }
}

/** Names of pipelines, versions, experiments and recurring runs, fetched once per id. */
const names = { pipelines: new Map(), versions: new Map(), experiments: new Map(), recurring: new Map() };

async function nameAll(runs) {
  const wanted = [];
  const want = (map, id, path, pick) => {
    if (!id || map.has(id)) return;
    map.set(id, id);
    wanted.push(api.get(path).then((x) => map.set(id, pick(x))).catch(() => map.set(id, id)));
  };
  for (const r of runs) {
    const ref = r.pipeline_version_reference || {};
    want(names.pipelines, ref.pipeline_id, `${V2}/pipelines/${enc(ref.pipeline_id)}`, (p) => p.display_name || p.name);
    if (ref.pipeline_id) {
      want(names.versions, ref.pipeline_version_id, `${V2}/pipelines/${enc(ref.pipeline_id)}/versions/${enc(ref.pipeline_version_id)}`, (v) => v.display_name || v.name);
    }
    want(names.experiments, r.experiment_id, `${V2}/experiments/${enc(r.experiment_id)}`, (e) => e.display_name);
    want(names.recurring, r.recurring_run_id, `${V2}/recurringruns/${enc(r.recurring_run_id)}`, (x) => x.display_name);
  }
  await Promise.all(wanted);
}

/**
 * The runs table with its filters into `root`. Options: experimentId, recurringRunId (fixed
 * filters), query (initial {name, state, experiment, sort, archived}), onQuery(query).
 */
export function renderRunsTable(root, options = {}) {
  const query = { ...(options.query || {}) };
  const tokens = [""]; // page tokens of the pages seen, for "previous"
  let controller = null;
  let last = null;
  const chosen = new Set();
  const shown = shownColumns();
  const name = h("input", { type: "search", placeholder: "Filter by name", value: query.name || "", "aria-label": "Filter by name" });
  const state = select("state", STATES.map((x) => [x, x]), query.state, "Any state");
  const archived = h("input", { type: "checkbox", checked: query.archived === "1" });
  const experiment = select("experiment", [], null, "Any experiment");
  const compare = h("button", { type: "button", disabled: true, onClick: () => navigate("/compare", { runs: [...chosen].join(",") }) }, "Compare selected");
  const body = h("div", null, loading());
  const pager = h("div", { class: "pager" });
  const filters = [name, state, h("label", { class: "inline" }, archived, "Archived")];
  if (!options.experimentId) {
    filters.push(experiment);
    listExperiments().then((items) => {
      mount(experiment, h("option", { value: "" }, "Any experiment"),
        items.map(([v, l]) => h("option", { value: v, selected: v === query.experiment }, l)));
    }).catch(() => {});
  }
  const chooser = h("details", { class: "column-chooser" }, h("summary", null, "Columns"),
    h("div", { class: "chooser-menu" }, COLUMNS.map(([id, label]) => h("label", { class: "inline" },
      h("input", { type: "checkbox", checked: shown.has(id), name: `column-${id}`, onChange: (e) => {
        if (e.target.checked) shown.add(id);
        else shown.delete(id);
        saveColumns(shown);
        if (last) draw(last.runs, last.metrics);
      } }), label))));
  const reload = () => {
    Object.assign(query, { name: name.value, state: state.value, archived: archived.checked ? "1" : "", experiment: experiment.value || query.experiment });
    if (options.onQuery) options.onQuery(query);
    tokens.length = 1;
    load("");
  };
  const sortBy = (key) => {
    const [current, dir] = String(query.sort || "created_at desc").split(" ");
    query.sort = current === key && dir !== "desc" ? `${key} desc` : current === key ? key : `${key}${key.endsWith("_at") ? " desc" : ""}`;
    reload();
  };
  let timer = null;
  name.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(reload, 250); });
  for (const el of [state, archived, experiment]) el.addEventListener("change", reload);

  const draw = (runs, metrics) => {
    last = { runs, metrics };
    mount(body, runsTable(runs, metrics, { chosen, shown, sort: query.sort || "created_at desc", sortBy, onPick: () => { compare.disabled = chosen.size < 2; } }));
  };
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
      const [metrics] = await Promise.all([
        runs.length ? api.get(`${UI}/metrics`, { run_ids: runs.map((r) => r.run_id).join(",") }).then((m) => m.runs) : {},
        nameAll(runs),
      ]);
      draw(runs, metrics);
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
  mount(root, h("div", { class: "toolbar" }, filters, h("span", { class: "spacer" }), chooser, compare), body, pager);
  load("");
  return () => controller && controller.abort();
}

function cellOf(id, run, values, metricNames) {
  const ref = run.pipeline_version_reference || {};
  switch (id) {
    case "name": return link(`#/runs/${enc(run.run_id)}`, run.display_name || run.run_id);
    case "state": return badge(run.state);
    case "duration": return fmtDuration(runDuration(run));
    case "pipeline":
      return ref.pipeline_id
        ? link(hashFor(`/pipelines/${enc(ref.pipeline_id)}`, { version: ref.pipeline_version_id }),
          `${names.pipelines.get(ref.pipeline_id) || ref.pipeline_id}${ref.pipeline_version_id ? ` / ${names.versions.get(ref.pipeline_version_id) || ""}` : ""}`)
        : h("span", { class: "muted" }, "—");
    case "experiment":
      return run.experiment_id ? link(`#/experiments/${enc(run.experiment_id)}`, names.experiments.get(run.experiment_id) || run.experiment_id) : "";
    case "started": return fmtTime(run.scheduled_at || run.created_at);
    case "created": return fmtTime(run.created_at);
    case "finished": return fmtTime(run.finished_at);
    case "recurring":
      return run.recurring_run_id ? link(`#/recurring/${enc(run.recurring_run_id)}`, names.recurring.get(run.recurring_run_id) || run.recurring_run_id) : "";
    default: return metricNames.map((n) => (n in values ? h("div", { class: "nowrap" }, `${n}: `, h("span", { class: "mono" }, formatMetric(values[n]))) : null));
  }
}

function runsTable(runs, metrics, { chosen, shown, sort, sortBy, onPick }) {
  if (!runs.length) return h("div", { class: "empty" }, "No runs match.");
  const metricNames = [...new Set(runs.flatMap((r) => Object.keys(metrics[r.run_id] || {})))].slice(0, 6);
  const columns = COLUMNS.filter(([id]) => shown.has(id) && (id !== "metrics" || metricNames.length));
  const [sortKey, sortDir] = String(sort).split(" ");
  const head = columns.map(([id, label, key]) => h("th", {
    class: key ? ["sortable", key === sortKey ? (sortDir === "desc" ? "sorted-desc" : "sorted-asc") : null] : null,
    "aria-sort": key === sortKey ? (sortDir === "desc" ? "descending" : "ascending") : null,
    dataset: { column: id },
    title: key ? "Sort by this column" : null,
    onClick: key ? () => sortBy(key) : null,
  }, label));
  const rows = runs.map((run) => {
    const box = h("input", { type: "checkbox", checked: chosen.has(run.run_id), "aria-label": `select ${run.display_name}`, onChange: (e) => {
      if (e.target.checked) chosen.add(run.run_id);
      else chosen.delete(run.run_id);
      onPick();
    } });
    const values = metrics[run.run_id] || {};
    return h("tr", null, h("td", null, box), columns.map(([id]) => h("td", { dataset: { column: id } }, cellOf(id, run, values, metricNames))));
  });
  return h("div", { class: "table-wrap" }, h("table", { class: "table runs" },
    h("thead", null, h("tr", null, h("th", null, ""), head)), h("tbody", null, rows)));
}

/** A metric as written (0.3 stays 0.3). */
export function formatMetric(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
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
