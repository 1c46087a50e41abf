// Recurring runs (#/recurring, #/recurring/<id>): create (cron or interval, start and end
// dates), enable/disable, delete, and a page with the schedule, next fire time and history.

import * as api from "../api.js";
import { navigate, registerPage } from "../app.js";
import { badge, confirmDialog, errorBox, fmtTime, h, link, loading, mount, paramValue } from "../dom.js";
import { renderRunsTable } from "./runs.js";
import { sourcePicker } from "./run_form.js";

const V2 = "/apis/v2beta1";
const UI = "/apis/pinnace/v1/ui";
const enc = encodeURIComponent;

/** "cron 0 0 * * * *" / "every 1h" in words. */
export function trigger(r) {
  const t = r.trigger || {};
  if (t.cron_schedule) return `cron ${t.cron_schedule.cron}`;
  if (t.periodic_schedule) return `every ${interval(Number(t.periodic_schedule.interval_second))}`;
  return "";
}

function interval(seconds) {
  if (!Number.isFinite(seconds)) return "?";
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60]]) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

const schedule = (r) => (r.trigger || {}).cron_schedule || (r.trigger || {}).periodic_schedule || {};
const enabled = (r) => r.status === "ENABLED" || r.mode === "ENABLE";

function toggle(r, after, message) {
  return h("button", { type: "button", onClick: async () => {
    try {
      await api.post(`${V2}/recurringruns/${enc(r.recurring_run_id)}:${enabled(r) ? "disable" : "enable"}`, {});
      after();
    } catch (error) {
      if (message) mount(message, errorBox(error));
    }
  } }, enabled(r) ? "Disable" : "Enable");
}

function deleteButton(r, after, message) {
  return h("button", { type: "button", class: "danger", onClick: async () => {
    const ok = await confirmDialog(`Delete the recurring run “${r.display_name}”?`,
      "It stops starting runs. The runs it already started are kept.", "Delete");
    if (!ok) return;
    try {
      await api.del(`${V2}/recurringruns/${enc(r.recurring_run_id)}`);
      after();
    } catch (error) {
      if (message) mount(message, errorBox(error));
    }
  } }, "Delete");
}

registerPage("/recurring", async (root) => {
  const list = h("div", null, loading());
  const formBox = h("div");
  const message = h("div");
  const load = async () => {
    try {
      const res = await api.get(`${V2}/recurringruns`, { page_size: 100, sort_by: "created_at desc" });
      const items = res.recurringRuns || res.recurring_runs || [];
      mount(list, items.length ? h("div", { class: "table-wrap" }, h("table", { class: "table recurring" },
        h("thead", null, h("tr", null, ["Name", "Status", "Schedule", "Starts", "Ends", "Created", ""].map((x) => h("th", null, x)))),
        h("tbody", null, items.map((r) => h("tr", null,
          h("td", { class: "nowrap" }, link(`#/recurring/${enc(r.recurring_run_id)}`, r.display_name)),
          h("td", null, badge(enabled(r) ? "ENABLED" : "DISABLED")),
          h("td", { class: "mono" }, trigger(r)),
          h("td", { class: "nowrap" }, fmtTime(schedule(r).start_time) || "—"),
          h("td", { class: "nowrap" }, fmtTime(schedule(r).end_time) || "—"),
          h("td", { class: "nowrap" }, fmtTime(r.created_at)),
          h("td", { class: "nowrap" }, toggle(r, load, message), " ", deleteButton(r, load, message)))))))
        : h("div", { class: "empty" }, "No recurring runs yet."));
    } catch (error) {
      mount(list, errorBox(error));
    }
  };
  const open = h("button", { type: "button", class: "primary", onClick: () => createForm(formBox, () => mount(formBox)) }, "New recurring run");
  mount(root, h("div", { class: "page-head" }, h("h1", null, "Recurring runs"), open), formBox, message, list);
  await load();
});

/** A local date-time input's value as RFC 3339 (UTC), or undefined when empty. */
export function isoFrom(value) {
  if (!value) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

async function createForm(root, cancel) {
  const name = h("input", { name: "display_name", required: true });
  const description = h("input", { name: "description" });
  const kind = h("select", { name: "trigger" }, h("option", { value: "cron" }, "Cron"), h("option", { value: "interval" }, "Interval"));
  const cron = h("input", { name: "cron", placeholder: "0 0 * * * *", value: "0 0 * * * *" });
  const every = h("input", { name: "interval", type: "number", min: "1", value: "1" });
  const unit = h("select", { name: "unit" }, [["60", "minutes"], ["3600", "hours"], ["86400", "days"], ["1", "seconds"]]
    .map(([v, l]) => h("option", { value: v, selected: v === "3600" }, l)));
  const start = h("input", { name: "start_time", type: "datetime-local" });
  const end = h("input", { name: "end_time", type: "datetime-local" });
  const concurrency = h("input", { name: "max_concurrency", type: "number", min: "1", value: "1" });
  const catchup = h("input", { type: "checkbox", checked: true, name: "catchup" });
  const cronRow = h("label", null, "Cron (six fields, seconds first, as KFP)", cron);
  const intervalRow = h("label", { class: "hidden" }, "Every", h("span", { class: "toolbar interval-row" }, every, unit));
  kind.addEventListener("change", () => {
    cronRow.classList.toggle("hidden", kind.value !== "cron");
    intervalRow.classList.toggle("hidden", kind.value !== "interval");
  });
  const pickerBox = h("div");
  const message = h("div");
  let picker = null;
  const form = h("form", { class: "card recurring-form", onSubmit: async (event) => {
    event.preventDefault();
    const chosen = picker && picker.read();
    if (!name.value.trim() || !chosen || !chosen.ok) return mount(message, errorBox({ message: "Give it a name, choose a pipeline and fix the parameters." }));
    const span = { start_time: isoFrom(start.value), end_time: isoFrom(end.value) };
    if (span.start_time && span.end_time && span.end_time <= span.start_time) return mount(message, errorBox({ message: "The end must come after the start." }));
    const seconds = Math.round(Number(every.value) * Number(unit.value));
    const trigger = kind.value === "cron"
      ? { cron_schedule: { cron: cron.value.trim(), ...span } }
      : { periodic_schedule: { interval_second: String(seconds), ...span } };
    try {
      const created = await api.post(`${V2}/recurringruns`, {
        display_name: name.value.trim(), description: description.value.trim() || undefined,
        experiment_id: chosen.experiment_id, mode: "ENABLE",
        pipeline_spec: chosen.pipeline_spec, pipeline_version_reference: chosen.pipeline_version_reference,
        runtime_config: { parameters: chosen.values }, trigger,
        max_concurrency: String(Number(concurrency.value) || 1), no_catchup: !catchup.checked,
      });
      navigate(`/recurring/${enc(created.recurring_run_id)}`);
    } catch (error) {
      mount(message, errorBox(error));
    }
  } },
  h("h2", null, "New recurring run"),
  h("div", { class: "form-grid" }, h("label", null, "Name", name), h("label", null, "Description", description),
    h("label", null, "Trigger", kind), cronRow, intervalRow,
    h("label", null, "Start (optional)", start), h("label", null, "End (optional)", end),
    h("label", null, "Max concurrent runs", concurrency), h("label", { class: "inline" }, catchup, "Catch up missed runs")),
  pickerBox, message,
  h("div", { class: "toolbar" }, h("button", { type: "submit", class: "primary" }, "Create"), h("button", { type: "button", onClick: cancel }, "Cancel")));
  mount(root, form);
  picker = await sourcePicker(pickerBox, {});
}

registerPage("/recurring/:id", async (root, params) => {
  const id = params.id;
  let cleanup = null;
  const draw = async () => {
    const [r, when] = await Promise.all([
      api.get(`${V2}/recurringruns/${enc(id)}`),
      api.get(`${UI}/recurringruns/${enc(id)}/schedule`).catch(() => ({})),
    ]);
    const named = (path, pick) => (path ? api.get(path).then(pick, () => null) : Promise.resolve(null));
    const ref0 = r.pipeline_version_reference || {};
    const [pipelineName, experimentName] = await Promise.all([
      named(ref0.pipeline_id && `${V2}/pipelines/${enc(ref0.pipeline_id)}`, (p) => p.display_name || p.name),
      named(r.experiment_id && `${V2}/experiments/${enc(r.experiment_id)}`, (e) => e.display_name),
    ]);
    const runs = h("div");
    const message = h("div");
    const prop = (k, v) => [h("dt", null, k), h("dd", null, v || "—")];
    const ref = r.pipeline_version_reference || {};
    mount(root, h("div", { class: "muted" }, link("#/recurring", "Recurring runs"), " / "),
      h("div", { class: "page-head" }, h("h1", null, r.display_name), badge(enabled(r) ? "ENABLED" : "DISABLED"),
        h("span", { class: "spacer" }), toggle(r, draw, message), deleteButton(r, () => navigate("/recurring"), message)),
      message,
      h("dl", { class: "props card" },
        prop("Schedule", h("code", null, trigger(r))),
        prop("Next run", enabled(r) ? fmtTime(when.next_fire_at) || "none (past the end date)" : "none while disabled"),
        prop("Last scheduled", fmtTime(when.last_scheduled_at)),
        prop("Starts", fmtTime(schedule(r).start_time)), prop("Ends", fmtTime(schedule(r).end_time)),
        prop("Max concurrent runs", r.max_concurrency), prop("Catch up", r.no_catchup ? "no" : "yes"),
        prop("Pipeline", ref.pipeline_id ? link(`#/pipelines/${enc(ref.pipeline_id)}`, pipelineName || ref.pipeline_id) : "spec given with the recurring run"),
        prop("Experiment", r.experiment_id ? link(`#/experiments/${enc(r.experiment_id)}`, experimentName || r.experiment_id) : ""),
        prop("Parameters", h("span", { class: "mono" }, paramValue((r.runtime_config || {}).parameters || {}))),
        prop("Created", fmtTime(r.created_at))),
      h("h2", null, "History: the runs it started"), runs);
    cleanup = renderRunsTable(runs, { query: {}, recurringRunId: id });
  };
  await draw();
  return () => cleanup && cleanup();
});
