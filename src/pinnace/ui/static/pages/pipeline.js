// The pipeline page: the graph of a version's tasks (click a task for details), versions, YAML.

import * as api from "../api.js";
import { hashFor, registerPage } from "../app.js";
import { codeBlock, collapsible, confirmDialog, copyButton, errorBox, fmtTime, h, link, mount, table } from "../dom.js";
import { graphFromSpec, renderGraph, unwrapSpec } from "../graph.js";
import { findTask, highlightYaml, inputsOf, outputsOf, packagesOf, programOf, toYaml } from "../spec.js";
import { uploadForm } from "./pipeline_upload.js";

function props(pairs) {
  return h("dl", { class: "props" }, pairs.filter(([, v]) => v !== null && v !== undefined && v !== "").map(([k, v]) => [h("dt", null, k), h("dd", null, v)]));
}

/** The side panel for one task: inputs, outputs, image, command, packages, program. */
export function taskPanel(spec, nodeId) {
  const found = findTask(spec, nodeId);
  if (!found) return h("div", { class: "empty" }, "Select a task in the graph.");
  const inputs = inputsOf(found);
  const outputs = outputsOf(found);
  const container = found.executor && found.executor.container;
  const importer = found.executor && found.executor.importer;
  const program = programOf(container);
  const packages = container ? packagesOf(container.command) : [];
  const label = (found.task.taskInfo && found.task.taskInfo.name) || found.name;
  const command = container ? [...(container.command || []), ...(container.args || [])] : [];
  return h(
    "div",
    { class: "task-panel" },
    h("h2", null, label),
    props([
      ["Task", nodeId],
      ["Component", found.task.componentRef && found.task.componentRef.name],
      ["Kind", found.component.dag ? "group (nested DAG)" : importer ? "importer" : "container"],
      ["Image", container && container.image],
      ["Depends on", (found.task.dependentTasks || []).join(", ")],
      ["Caching", found.task.cachingOptions && found.task.cachingOptions.enableCache === false ? "off" : null],
      ["Imports", importer && importer.artifactUri && JSON.stringify(importer.artifactUri)],
    ]),
    h("h3", null, "Inputs"),
    inputs.length
      ? table(["Name", "Type", "Value"], inputs.map((i) => [i.name, i.type, i.source || (i.default !== undefined ? `default ${JSON.stringify(i.default)}` : i.optional ? "optional" : "")]))
      : h("div", { class: "muted" }, "none"),
    h("h3", null, "Outputs"),
    outputs.length ? table(["Name", "Type"], outputs.map((o) => [o.name, o.type])) : h("div", { class: "muted" }, "none"),
    packages.length ? [h("h3", null, "Packages"), h("ul", { class: "packages" }, packages.map((p) => h("li", { class: "mono" }, p)))] : null,
    program ? collapsible("Program", codeBlock(program, { class: "program", label: "Copy program" })) : null,
    command.length ? collapsible("Command", codeBlock(command.map((c) => (typeof c === "string" ? c : JSON.stringify(c))).join("\n"), { class: "command", label: "Copy command" })) : null,
  );
}

/** The version's graph from the server (readable condition and loop labels), or built here. */
async function versionGraph(pipelineId, version, spec) {
  try {
    return await api.get(`/apis/pinnace/v1/ui/pipelines/${encodeURIComponent(pipelineId)}/versions/${encodeURIComponent(version.pipeline_version_id)}/graph`);
  } catch {
    return graphFromSpec(spec);
  }
}

async function graphTab(box, spec, query, pipelineId, version) {
  const graph = await versionGraph(pipelineId, version, spec);
  if (!graph.nodes.length) return mount(box, h("div", { class: "empty" }, "This version has no tasks."));
  const graphBox = h("div", { class: "graph-box" });
  const panel = h("aside", { class: "side-panel" });
  const show = (id) => mount(panel, taskPanel(spec, id));
  mount(box, h("div", { class: "split" }, graphBox, panel));
  const first = query.get("task") && graph.nodes.some((n) => n.id === query.get("task")) ? query.get("task") : null;
  const view = renderGraph(graphBox, graph, { selected: first, onSelect: show });
  if (first) show(first);
  else mount(panel, h("div", { class: "empty" }, "Select a task in the graph to see its inputs, outputs, image, command and packages."));
  return view;
}

function versionsTab(box, pipelineId, versions, current, message) {
  const remove = async (v) => {
    const ok = await confirmDialog(`Delete version “${v.display_name || v.name}”?`, "Runs of it are kept; the version cannot be run again.", "Delete version");
    if (!ok) return;
    try {
      await api.del(`${api.V2}/pipelines/${encodeURIComponent(pipelineId)}/versions/${encodeURIComponent(v.pipeline_version_id)}`);
      const next = hashFor(`/pipelines/${encodeURIComponent(pipelineId)}`, { tab: "Versions" });
      if (location.hash === next) window.dispatchEvent(new HashChangeEvent("hashchange"));
      else location.hash = next;
    } catch (error) {
      mount(message, errorBox(error));
    }
  };
  mount(box, table(
    ["Version", "Description", "Created", "", ""],
    versions.map((v) => [
      link(hashFor(`/pipelines/${encodeURIComponent(pipelineId)}`, { version: v.pipeline_version_id }), v.display_name || v.name),
      h("span", { class: "muted" }, v.description || ""),
      h("span", { class: "nowrap" }, fmtTime(v.created_at)),
      v.pipeline_version_id === current ? h("span", { class: "tag" }, "shown") : "",
      h("span", { class: "nowrap" },
        link(hashFor("/runs/new", { pipeline: pipelineId, version: v.pipeline_version_id }), "Run"), " ",
        h("button", { type: "button", class: "link danger-link", onClick: () => remove(v) }, "Delete")),
    ]),
    { class: "versions" },
  ));
}

function yamlTab(box, spec, name) {
  const text = toYaml(spec);
  const download = h("a", { class: "button", href: "#", download: `${name || "pipeline"}.yaml` }, "Download");
  download.addEventListener("click", () => {
    download.href = URL.createObjectURL(new Blob([text], { type: "application/yaml" }));
  });
  mount(box, h("div", { class: "toolbar" }, copyButton(text, "Copy YAML"), download),
    h("div", { class: "code-block" }, h("pre", { class: "yaml" }, highlightYaml(text))));
}

async function renderPipeline(root, params, query) {
  const id = params.id;
  const base = `${api.V2}/pipelines/${encodeURIComponent(id)}`;
  const [pipeline, listed] = await Promise.all([
    api.get(base),
    api.get(`${base}/versions`, { page_size: 200, sort_by: "created_at desc" }),
  ]);
  const versions = listed.pipeline_versions || [];
  const wanted = query.get("version");
  let version = versions.find((v) => v.pipeline_version_id === wanted) || versions[0];
  if (wanted && (!version || version.pipeline_version_id !== wanted)) {
    version = await api.get(`${base}/versions/${encodeURIComponent(wanted)}`).catch(() => versions[0]);
  }
  const spec = version ? unwrapSpec(version.pipeline_spec) : {};
  const uploadBox = h("div");
  const picker = h("select", {
    name: "version",
    "aria-label": "Version",
    onChange: (e) => { location.hash = hashFor(`/pipelines/${encodeURIComponent(id)}`, { version: e.target.value }); },
  }, versions.map((v) => h("option", { value: v.pipeline_version_id, selected: version && v.pipeline_version_id === version.pipeline_version_id }, v.display_name || v.name)));
  const createRun = h("a", {
    class: "button primary",
    href: hashFor("/runs/new", { pipeline: id, version: version && version.pipeline_version_id }),
  }, "Run");
  const tabBox = h("div");
  const message = h("div");
  const tabs = ["Graph", "Versions", "YAML"];
  const current = tabs.includes(query.get("tab")) ? query.get("tab") : "Graph";
  let view = null;
  const buttons = tabs.map((name) => h("button", { type: "button", role: "tab", dataset: { tab: name }, class: name === current ? "active" : null, onClick: () => show(name) },
    name === "Versions" ? `Versions (${listed.total_size || versions.length})` : name));
  const show = async (name) => {
    buttons.forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
    if (view) view.destroy();
    view = null;
    if (!version) return mount(tabBox, h("div", { class: "empty" }, "This pipeline has no versions yet."));
    if (name === "Graph") view = await graphTab(tabBox, spec, query, id, version);
    else if (name === "Versions") versionsTab(tabBox, id, versions, version.pipeline_version_id, message);
    else yamlTab(tabBox, spec, pipeline.display_name || pipeline.name);
  };
  const removePipeline = async () => {
    const ok = await confirmDialog(`Delete pipeline “${pipeline.display_name || pipeline.name}”?`,
      `Its ${versions.length} version${versions.length === 1 ? "" : "s"} go with it. Runs of it are kept.`, "Delete pipeline");
    if (!ok) return;
    try {
      await api.del(base, { params: { cascade: true } });
      location.hash = "#/pipelines";
    } catch (error) {
      mount(message, errorBox(error));
    }
  };
  mount(
    root,
    h("div", { class: "muted" }, link("#/pipelines", "Pipelines"), " / "),
    h("div", { class: "page-head" }, h("h1", null, pipeline.display_name || pipeline.name)),
    pipeline.description ? h("p", { class: "description" }, pipeline.description) : null,
    message,
    h("div", { class: "toolbar" },
      versions.length ? h("label", { class: "inline" }, "Version", picker) : null,
      h("span", { class: "spacer" }),
      h("button", { type: "button", onClick: () => mount(uploadBox, uploadForm({
        pipelineId: id,
        onCancel: () => mount(uploadBox),
        onDone: (_, { versionId }) => { location.hash = hashFor(`/pipelines/${encodeURIComponent(id)}`, { version: versionId }); },
      })) }, "Upload version"),
      version ? createRun : null,
      h("button", { type: "button", class: "danger", onClick: removePipeline }, "Delete"),
    ),
    uploadBox,
    // The first version usually carries the pipeline's own description: show it once.
    version && version.description && version.description.trim() !== (pipeline.description || "").trim()
      ? h("p", { class: "muted description" }, version.description) : null,
    h("div", { class: "tabs", role: "tablist" }, buttons),
    tabBox,
  );
  await show(current);
  return () => view && view.destroy();
}

registerPage("/pipelines/:id", (root, params, query) =>
  renderPipeline(root, params, query).catch((error) => {
    mount(root, errorBox(error));
  }),
);
