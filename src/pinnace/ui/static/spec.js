// Reading a pipeline spec for people: a task's inputs, outputs, image, command, packages; YAML.

import { unwrapSpec } from "./graph.js";

/** The task at `path` ("outer/inner") of a spec: {task, component, executor, name} or null. */
export function findTask(pipelineSpec, path) {
  const spec = unwrapSpec(pipelineSpec);
  const components = spec.components || {};
  let dag = spec.root && spec.root.dag;
  let found = null;
  for (const segment of String(path).split("/")) {
    const name = segment.replace(/\[\d+\]$/, ""); // a loop iteration is its loop's task
    const task = dag && dag.tasks ? dag.tasks[name] : undefined;
    if (!task) return null;
    const component = components[task.componentRef && task.componentRef.name] || {};
    found = { name, task, component };
    dag = component.dag;
  }
  if (!found) return null;
  const executors = (spec.deploymentSpec && spec.deploymentSpec.executors) || {};
  found.executor = executors[found.component.executorLabel] || null;
  return found;
}

function typeOf(definition) {
  if (!definition) return "";
  if (definition.parameterType) return definition.parameterType;
  if (definition.artifactType) return definition.artifactType.schemaTitle || "artifact";
  return "";
}

/** Where a task input's value comes from, in words. */
export function sourceOf(spec) {
  if (!spec) return "";
  if (spec.runtimeValue) return `= ${JSON.stringify(spec.runtimeValue.constant ?? spec.runtimeValue.constantValue ?? null)}`;
  if (spec.componentInputParameter) return `pipeline input ${spec.componentInputParameter}`;
  if (spec.componentInputArtifact) return `pipeline input ${spec.componentInputArtifact}`;
  if (spec.taskOutputParameter) {
    return `${spec.taskOutputParameter.producerTask}.${spec.taskOutputParameter.outputParameterKey}`;
  }
  if (spec.taskOutputArtifact) {
    return `${spec.taskOutputArtifact.producerTask}.${spec.taskOutputArtifact.outputArtifactKey}`;
  }
  if (spec.taskFinalStatus) return `final status of ${spec.taskFinalStatus.producerTask}`;
  return "";
}

/** [{name, type, source, optional, default}] for a task's inputs. */
export function inputsOf(found) {
  const defs = found.component.inputDefinitions || {};
  const given = (found.task && found.task.inputs) || {};
  const rows = [];
  for (const kind of ["parameters", "artifacts"]) {
    for (const [name, def] of Object.entries(defs[kind] || {})) {
      const value = (given[kind] || {})[name];
      rows.push({
        name,
        type: typeOf(def),
        source: value ? sourceOf(value) : "",
        optional: Boolean(def.isOptional),
        default: def.defaultValue,
      });
    }
  }
  return rows;
}

/** [{name, type}] for a task's outputs. */
export function outputsOf(found) {
  const defs = found.component.outputDefinitions || {};
  const rows = [];
  for (const kind of ["parameters", "artifacts"]) {
    for (const [name, def] of Object.entries(defs[kind] || {})) rows.push({ name, type: typeOf(def) });
  }
  return rows;
}

/** The packages a lightweight component pip-installs (quoted or bare words after "pip install"). */
export function packagesOf(command) {
  const text = (command || []).join("\n");
  const packages = [];
  const pattern = /pip\s+install\b([^&\n]*)/g;
  let m;
  while ((m = pattern.exec(text))) {
    const words = m[1].match(/'[^']*'|"[^"]*"|\S+/g) || [];
    for (const word of words) {
      const bare = word.replace(/^['"]|['"]$/g, "");
      if (!bare || bare.startsWith("-") || bare.includes("$")) continue;
      if (!packages.includes(bare)) packages.push(bare);
    }
  }
  return packages;
}

/** The Python program of a lightweight component (the argument after its launcher script). */
export function programOf(container) {
  if (!container) return null;
  const parts = [...(container.command || []), ...(container.args || [])];
  const at = parts.findIndex((p) => p.includes("ephemeral_component.py"));
  if (at >= 0 && at + 1 < parts.length) return parts[at + 1];
  return parts.find((p) => /\ndef \w+\(/.test(p)) || null;
}

// --- YAML (for display only: the stored spec is JSON) ---

const PLAIN = /^[A-Za-z_][\w.\-/ ]*$/;
const RESERVED = /^(true|false|null|yes|no|on|off|~)$/i;

function scalar(value, indent) {
  if (value === null || value === undefined) return "null";
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  const text = String(value);
  if (text.includes("\n")) {
    const pad = " ".repeat(indent);
    // Chomping: "+" keeps several final newlines, "" keeps one, "-" none.
    const ending = text.endsWith("\n\n") ? "+" : text.endsWith("\n") ? "" : "-";
    const chomp = `|${text.startsWith(" ") ? "2" : ""}${ending}`;
    const lines = text.replace(/\n$/, "").split("\n");
    return `${chomp}\n${lines.map((l) => (l ? pad + l : "")).join("\n")}`;
  }
  if (PLAIN.test(text) && !RESERVED.test(text) && !text.endsWith(" ") && !/:\s|\s#/.test(text)) return text;
  return JSON.stringify(text);
}

function key(name) {
  return PLAIN.test(name) && !RESERVED.test(name) && !name.includes(" ") ? name : JSON.stringify(name);
}

/** `value` as YAML text (block style, keys in their stored order). */
export function toYaml(value, indent = 0) {
  const pad = " ".repeat(indent);
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    return value
      .map((item) => {
        if (item && typeof item === "object" && Object.keys(item).length) {
          return `${pad}- ${toYaml(item, indent + 2).trimStart()}`;
        }
        return `${pad}- ${item && typeof item === "object" ? toYaml(item) : scalar(item, indent + 2)}`;
      })
      .join("\n");
  }
  if (value && typeof value === "object") {
    const entries = Object.entries(value);
    if (!entries.length) return "{}";
    return entries
      .map(([k, v]) => {
        if (v && typeof v === "object" && Object.keys(v).length) {
          const inner = Array.isArray(v) ? toYaml(v, indent) : toYaml(v, indent + 2);
          return `${pad}${key(k)}:\n${inner}`;
        }
        return `${pad}${key(k)}: ${v && typeof v === "object" ? toYaml(v) : scalar(v, indent + 2)}`;
      })
      .join("\n");
  }
  return pad + scalar(value, indent + 2);
}
