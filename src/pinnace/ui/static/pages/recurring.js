// Recurring runs (#/recurring, #/recurring/<id>): create (cron or interval), enable/disable,
// and the runs each one started.

import * as api from "../api.js";
import { navigate, registerPage } from "../app.js";
import { badge, errorBox, fmtTime, h, link, loading, mount } from "../dom.js";
import { renderRunsTable } from "./runs.js";
import { sourcePicker } from "./run_form.js";

const V2 = "/apis/v2beta1";
const enc = encodeURIComponent;

function trigger(r) {
  const t = r.trigger || {};
  if (t.cron_schedule) return `cron ${t.cron_schedule.cron}`;
  if (t.periodic_schedule) return `every ${t.periodic_schedule.interval_second}s`;
  return "";
}

function toggle(r, after) {
  const enabled = r.status === "ENABLED" || r.mode === "ENABLE";
  return h("button", { type: "button", onClick: async () => {
    await api.post(`${V2}/recurringruns/${enc(r.recurring_run_id)}:${enabled ? "disable" : "enable"}`, {});
    after();
  } }, enabled ? "Disable" : "Enable");
}

registerPage("/recurring", async (root) => {
  const list = h("div", null, loading());
  const formBox = h("div");
  const load = async () => {
    try {
      const res = await api.get(`${V2}/recurringruns`, { page_size: 100, sort_by: "created_at desc" });
      const items = res.recurringRuns || res.recurring_runs || [];
      mount(list, items.length ? h("table", { class: "table" },
        h("thead", null, h("tr", null, ["Name", "Schedule", "Status", "Created", ""].map((x) => h("th", null, x)))),
        h("tbody", null, items.map((r) => h("tr", null,
          h("td", null, link(`#/recurring/${enc(r.recurring_run_id)}`, r.display_name)),
          h("td", { class: "mono" }, trigger(r)), h("td", null, r.status || r.mode),
          h("td", null, fmtTime(r.created_at)), h("td", null, toggle(r, load))))))
        : h("div", { class: "empty" }, "No recurring runs yet."));
    } catch (error) {
      mount(list, errorBox(error));
    }
  };
  const open = h("button", { type: "button", class: "primary", onClick: () => createForm(formBox, load) }, "New recurring run");
  mount(root, h("div", { class: "page-head" }, h("h1", null, "Recurring runs"), open), formBox, list);
  await load();
});

async function createForm(root, done) {
  const name = h("input", { required: true });
  const kind = h("select", null, h("option", { value: "cron" }, "Cron"), h("option", { value: "interval" }, "Interval"));
  const cron = h("input", { placeholder: "0 0 * * * *", value: "0 0 * * * *" });
  const seconds = h("input", { type: "number", min: "1", value: "3600" });
  const concurrency = h("input", { type: "number", min: "1", value: "1" });
  const catchup = h("input", { type: "checkbox", checked: true });
  const pickerBox = h("div");
  const message = h("div");
  let picker = null;
  const form = h("form", { class: "card", onSubmit: async (event) => {
    event.preventDefault();
    const chosen = picker && picker.read();
    if (!name.value.trim() || !chosen || !chosen.ok) return mount(message, errorBox({ message: "Give it a name, choose a pipeline and fix the parameters." }));
    const schedule = kind.value === "cron" ? { cron_schedule: { cron: cron.value.trim() } } : { periodic_schedule: { interval_second: String(Number(seconds.value)) } };
    try {
      const created = await api.post(`${V2}/recurringruns`, {
        display_name: name.value.trim(), experiment_id: chosen.experiment_id, mode: "ENABLE",
        pipeline_spec: chosen.pipeline_spec, pipeline_version_reference: chosen.pipeline_version_reference,
        runtime_config: { parameters: chosen.values }, trigger: schedule,
        max_concurrency: String(Number(concurrency.value) || 1), no_catchup: !catchup.checked,
      });
      navigate(`/recurring/${enc(created.recurring_run_id)}`);
    } catch (error) {
      mount(message, errorBox(error));
    }
  } },
  h("div", { class: "form-grid" }, h("label", null, "Name", name), h("label", null, "Trigger", kind),
    h("label", null, "Cron (seconds first, as KFP)", cron), h("label", null, "Interval (seconds)", seconds),
    h("label", null, "Max concurrent runs", concurrency), h("label", { class: "inline" }, catchup, "Catch up missed slots")),
  pickerBox, message, h("button", { type: "submit", class: "primary" }, "Create"));
  mount(root, form);
  picker = await sourcePicker(pickerBox, {});
  done();
}

registerPage("/recurring/:id", async (root, params) => {
  const id = params.id;
  const draw = async () => {
    const r = await api.get(`${V2}/recurringruns/${enc(id)}`);
    const runs = h("div");
    mount(root, h("div", { class: "page-head" }, h("h1", null, r.display_name), badge(r.status === "ENABLED" ? "RUNNING" : "PENDING"), toggle(r, draw)),
      h("dl", { class: "props" }, h("dt", null, "Schedule"), h("dd", { class: "mono" }, trigger(r)),
        h("dt", null, "Status"), h("dd", null, r.status || ""), h("dt", null, "Parameters"),
        h("dd", { class: "mono" }, JSON.stringify((r.runtime_config || {}).parameters || {})),
        h("dt", null, "Created"), h("dd", null, fmtTime(r.created_at))),
      h("h2", null, "Runs it started"), runs);
    renderRunsTable(runs, { query: {}, recurringRunId: id, experimentId: r.experiment_id });
  };
  await draw();
});
