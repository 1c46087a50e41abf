// Reading a pipeline spec for people: a task's inputs, outputs, image, command, packages; YAML.

import { h } from "./dom.js";
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

/** pip options that take a value (the next word is not a package). */
const PIP_VALUE_OPTIONS = new Set([
  "-i", "--index-url", "--extra-index-url", "-f", "--find-links", "-c", "--constraint",
  "-r", "--requirement", "--target", "-t", "--prefix", "--root", "--trusted-host", "--cache-dir",
  "--python-version", "--platform", "--implementation", "--abi", "--progress-bar", "-e", "--editable",
]);

/** The packages a lightweight component pip-installs: the words after "pip install" up to the
 * end of that shell command (`||`, `&&`, `;`, `|`, `)`), without options and their values, env
 * assignments or shell words. Handles kfp 1.x `sh -c "(PIP_...=1 python3 -m pip install ... ||
 * ... --user) && ..."` and kfp 2.x commands. */
export function packagesOf(command) {
  const text = (command || []).join("\n");
  const packages = [];
  const pattern = /pip3?\s+install\b/g;
  let m;
  while ((m = pattern.exec(text))) {
    const rest = text.slice(m.index + m[0].length);
    const words = rest.match(/'[^']*'|"[^"]*"|\|\||&&|[;|()\n]|[^\s'"();|&]+/g) || [];
    let skipNext = false;
    for (const word of words) {
      if (/^(\|\||&&|[;|()\n])$/.test(word)) break;
      if (skipNext) { skipNext = false; continue; }
      const bare = word.replace(/^['"]|['"]$/g, "").trim();
      if (!bare) continue;
      if (bare.startsWith("-")) {
        if (PIP_VALUE_OPTIONS.has(bare)) skipNext = true;
        continue;
      }
      if (bare.includes("$") || /^[A-Z_][A-Z0-9_]*=/.test(bare) || /\s/.test(bare)) continue;
      if (!packages.includes(bare)) packages.push(bare);
    }
  }
  return packages;
}

const YAML_LINE = /^(\s*)(- )?((?:"[^"]*"|'[^']*'|[^\s:#][^:#]*?)\s*:)(?=\s|$)(.*)$/;

function yamlValue(text) {
  const value = text.trim();
  const cls = !value ? null
    : /^#/.test(value) ? "y-comment"
      : /^(true|false|null|~)$/i.test(value) ? "y-bool"
        : /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(value) ? "y-number"
          : /^[|>][-+0-9]*$/.test(value) ? "y-block"
            : "y-string";
  return cls ? h("span", { class: cls }, text) : text;
}

/** YAML text as DOM nodes with keys, strings, numbers and comments marked (no HTML parsing). */
export function highlightYaml(text) {
  const out = document.createDocumentFragment();
  for (const line of String(text).split("\n")) {
    const m = line.match(YAML_LINE);
    if (m) {
      out.append(m[1], m[2] ? h("span", { class: "y-dash" }, m[2]) : "", h("span", { class: "y-key" }, m[3]), yamlValue(m[4]), "\n");
    } else {
      const item = line.match(/^(\s*)(- )(.*)$/);
      if (item) out.append(item[1], h("span", { class: "y-dash" }, item[2]), yamlValue(item[3]), "\n");
      else out.append(line, "\n");
    }
  }
  return out;
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
