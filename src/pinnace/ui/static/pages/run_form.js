// Shared by the new-run and recurring-run forms: pickers for pipeline/version/experiment and
// a parameter form built from a pipeline spec's root inputDefinitions.

import * as api from "../api.js";
import { h, mount } from "../dom.js";
import { unwrapSpec } from "../graph.js";

const V2 = "/apis/v2beta1";

/** `{element, read()}`: inputs for the spec's pipeline parameters; read() → {values, errors}. */
export function parameterForm(spec, prefill = {}) {
  const root = unwrapSpec(spec) || {};
  const declared = ((root.root || {}).inputDefinitions || {}).parameters || {};
  const fields = Object.entries(declared).map(([name, def]) => field(name, def, prefill[name]));
  const element = fields.length
    ? h("div", { class: "form-grid" }, fields.map((f) => f.label))
    : h("div", { class: "muted" }, "This pipeline has no parameters.");
  return {
    element,
    read() {
      const values = {};
      let ok = true;
      for (const f of fields) {
        const { value, error } = f.read();
        mount(f.message, error || "");
        if (error) ok = false;
        else if (value !== undefined) values[f.name] = value;
      }
      return { values, ok };
    },
  };
}

function field(name, def, prefilled) {
  const type = def.parameterType || "STRING";
  const initial = prefilled !== undefined ? prefilled : def.defaultValue;
  const optional = def.isOptional || def.defaultValue !== undefined;
  const message = h("span", { class: "field-error", role: "alert" });
  let input;
  if (type === "BOOLEAN") {
    input = h("select", { name }, h("option", { value: "true", selected: initial === true }, "true"),
      h("option", { value: "false", selected: initial !== true }, "false"));
  } else if (type === "LIST" || type === "STRUCT") {
    input = h("textarea", { name, placeholder: type === "LIST" ? "[1, 2]" : '{"key": "value"}' });
    input.value = initial === undefined ? "" : JSON.stringify(initial);
  } else {
    const numeric = type === "NUMBER_INTEGER" || type === "NUMBER_DOUBLE";
    input = h("input", { name, type: numeric ? "number" : "text", step: type === "NUMBER_DOUBLE" ? "any" : "1" });
    input.value = initial === undefined || initial === null ? "" : String(initial);
  }
  const label = h("label", null, h("span", null, name, h("span", { class: "muted" }, ` (${typeName(type)}${optional ? "" : ", required"})`)),
    input, def.description ? h("span", { class: "muted" }, def.description) : null, message);
  return { name, label, message, read: () => parse(input.value, type, optional) };
}

function typeName(type) {
  return { NUMBER_INTEGER: "integer", NUMBER_DOUBLE: "number", BOOLEAN: "boolean", LIST: "list", STRUCT: "object" }[type] || "string";
}

/** {value} or {error}; an empty optional field is left out (its default applies). */
export function parse(text, type, optional) {
  const raw = String(text ?? "");
  if (!raw.trim() && type !== "STRING") return optional ? { value: undefined } : { error: "A value is required." };
  if (!raw && !optional) return { error: "A value is required." };
  if (type === "NUMBER_INTEGER") {
    return /^-?\d+$/.test(raw.trim()) ? { value: Number(raw) } : { error: "Enter a whole number." };
  }
  if (type === "NUMBER_DOUBLE") {
    const n = Number(raw);
    return Number.isFinite(n) ? { value: n } : { error: "Enter a number." };
  }
  if (type === "BOOLEAN") return { value: raw === "true" };
  if (type === "LIST" || type === "STRUCT") {
    try {
      const value = JSON.parse(raw);
      const good = type === "LIST" ? Array.isArray(value) : value && typeof value === "object" && !Array.isArray(value);
      return good ? { value } : { error: type === "LIST" ? "Enter a JSON list." : "Enter a JSON object." };
    } catch {
      return { error: "This is not valid JSON." };
    }
  }
  return { value: raw };
}

/** A <select> filled from `items` ([value, label]); `chosen` is pre-selected. */
export function select(name, items, chosen, placeholder) {
  return h("select", { name },
    placeholder ? h("option", { value: "" }, placeholder) : null,
    items.map(([value, label]) => h("option", { value, selected: value === chosen }, label)));
}

export async function listPipelines() {
  const res = await api.get(`${V2}/pipelines`, { page_size: 200, sort_by: "created_at desc" });
  return (res.pipelines || []).map((p) => [p.pipeline_id, p.display_name || p.name]);
}

export async function listVersions(pipelineId) {
  if (!pipelineId) return [];
  const res = await api.get(`${V2}/pipelines/${encodeURIComponent(pipelineId)}/versions`, { page_size: 200, sort_by: "created_at desc" });
  return (res.pipeline_versions || []).map((v) => [v.pipeline_version_id, v.display_name || v.name]);
}

export async function listExperiments() {
  const res = await api.get(`${V2}/experiments`, { page_size: 200, sort_by: "created_at desc" });
  return (res.experiments || []).map((e) => [e.experiment_id, e.display_name]);
}

export const getVersion = (pipelineId, versionId) =>
  api.get(`${V2}/pipelines/${encodeURIComponent(pipelineId)}/versions/${encodeURIComponent(versionId)}`);

/**
 * The pipeline / version / experiment pickers and the parameter form, wired together.
 * `onChange` is not needed: read() returns {version_ref | pipeline_spec, experiment_id, values, ok}.
 */
export async function sourcePicker(root, { pipeline, version, experiment, spec, parameters } = {}) {
  const [pipelines, experiments] = await Promise.all([listPipelines(), listExperiments()]);
  const pipelineSel = select("pipeline", pipelines, pipeline, "Choose a pipeline");
  const versionSel = select("version", [], null, "Latest version");
  const experimentSel = select("experiment", experiments, experiment, "Default experiment");
  const formBox = h("div");
  let form = null;
  let fixedSpec = spec || null; // a run cloned from a spec without a pipeline version
  const showForm = (s, prefill) => {
    form = parameterForm(s, prefill);
    mount(formBox, h("h2", null, "Parameters"), form.element);
  };
  const loadVersions = async (chosen) => {
    const versions = await listVersions(pipelineSel.value);
    mount(versionSel, h("option", { value: "" }, "Latest version"),
      versions.map(([value, label]) => h("option", { value, selected: value === chosen }, label)));
    const id = chosen || (versions[0] && versions[0][0]);
    if (id) showForm((await getVersion(pipelineSel.value, id)).pipeline_spec, parameters || {});
    else mount(formBox);
  };
  pipelineSel.addEventListener("change", () => { fixedSpec = null; loadVersions(null); });
  versionSel.addEventListener("change", () => loadVersions(versionSel.value));
  mount(root, h("div", { class: "form-grid" },
    h("label", null, "Pipeline", pipelineSel), h("label", null, "Version", versionSel),
    h("label", null, "Experiment", experimentSel)), formBox);
  if (fixedSpec && !pipeline) showForm(fixedSpec, parameters || {});
  else if (pipeline) await loadVersions(version);
  return {
    read() {
      const { values, ok } = form ? form.read() : { values: {}, ok: false };
      const source = fixedSpec && !pipelineSel.value
        ? { pipeline_spec: unwrapSpec(fixedSpec) }
        : { pipeline_version_reference: { pipeline_id: pipelineSel.value, pipeline_version_id: versionSel.value || undefined } };
      return { ...source, experiment_id: experimentSel.value || undefined, values, ok: ok && Boolean(fixedSpec || pipelineSel.value) };
    },
  };
}
