// The run page's Run output tab (every metric, chart, report and artifact of the run in one
// place, by task) and Config tab (parameters, caching, each task's image and resources, spec).

import * as api from "../api.js";
import { hashFor } from "../app.js";
import { copyButton, errorBox, h, loading, mount, paramValue, table } from "../dom.js";
import { downloadLink, renderPreview, visualizationBlocks } from "../preview.js";
import { highlightYaml, toYaml } from "../spec.js";

const UI = "/apis/pinnace/v1/ui";
const enc = encodeURIComponent;

/** The run's artifacts, page by page (the server gives at most 200 a page), up to `most`. */
async function runArtifacts(runId, most = 5000) {
  const artifacts = [];
  let token, total = 0;
  do {
    const page = await api.get(`${UI}/artifacts`, { run_id: runId, page_size: 200, page_token: token });
    artifacts.push(...(page.artifacts || []));
    total = page.total_size || artifacts.length;
    token = page.next_page_token;
  } while (token && artifacts.length < most);
  return { artifacts, total };
}

export async function renderRunOutput(root, runId) {
  mount(root, loading());
  let artifacts, total;
  try {
    ({ artifacts, total } = await runArtifacts(runId));
  } catch (error) {
    mount(root, errorBox(error));
    return;
  }
  if (!artifacts.length) {
    mount(root, h("div", { class: "empty" }, "This run has no output artifacts yet."));
    return;
  }
  const byTask = new Map();
  for (const a of [...artifacts].reverse()) {
    if (!byTask.has(a.task)) byTask.set(a.task, []);
    byTask.get(a.task).push(a);
  }
  const sections = [];
  for (const [task, list] of byTask) {
    const grouped = {};
    for (const a of list) (grouped[a.name] = grouped[a.name] || []).push(a);
    const viz = visualizationBlocks(grouped);
    const files = list.filter((a) => !/(Metrics|HTML|Markdown)$/.test(a.type));
    sections.push(h("section", { class: "card output-task" },
      h("h2", null, h("a", { href: hashFor(`/runs/${enc(runId)}`, { task }) }, task)),
      viz,
      files.length ? table(["Artifact", "Type", "URI", ""], files.map((a) => {
        const box = h("div");
        return [
          h("span", { class: "nowrap" }, a.name),
          h("span", { class: "tag" }, a.type),
          h("span", { class: "uri-row" }, h("code", { class: "uri" }, a.uri), copyButton(a.uri, "Copy URI")),
          h("span", { class: "nowrap" },
            h("button", { type: "button", class: "link", onClick: (e) => {
              const row = e.target.closest("tr");
              const holder = h("tr", { class: "preview-row" }, h("td", { colspan: 4 }, box));
              if (!row.nextSibling || !row.nextSibling.classList.contains("preview-row")) row.after(holder);
              renderPreview(box, a.artifact_id);
            } }, "Preview"), " ", downloadLink(a.artifact_id), " ",
            h("a", { href: hashFor("/artifacts", { lineage: a.artifact_id }) }, "Lineage")),
        ];
      }), { class: "files" }) : null));
  }
  const cut = total > artifacts.length
    ? h("div", { class: "muted" }, `Showing the newest ${artifacts.length} of ${total} artifacts; the Artifacts page lists them all.`)
    : null;
  mount(root, h("div", { class: "run-output" }, cut, sections));
}

export async function renderConfig(root, runId) {
  mount(root, loading());
  let c;
  try {
    c = await api.get(`${UI}/runs/${enc(runId)}/config`);
  } catch (error) {
    mount(root, errorBox(error));
    return;
  }
  const names = [...new Set([...Object.keys(c.declared || {}), ...Object.keys(c.parameters || {})])];
  // A big run's spec is tens of thousands of lines: written out only when opened.
  let yaml = null;
  const text = () => (yaml === null ? (yaml = toYaml(c.spec)) : yaml);
  const pre = h("pre", { class: "yaml" });
  const spec = h("details", { class: "spec-yaml" }, h("summary", null, "Show the pipeline spec (YAML)"), h("div", { class: "code-block" }, pre));
  spec.addEventListener("toggle", () => {
    if (spec.open && !pre.firstChild) pre.append(highlightYaml(text()));
  });
  const download = h("a", { class: "button", download: `${c.pipeline_name || "pipeline"}.yaml`, href: "#" }, "Download YAML");
  download.addEventListener("click", () => {
    download.href = URL.createObjectURL(new Blob([text()], { type: "application/yaml" }));
  });
  mount(root, h("div", { class: "run-config" },
    h("h2", null, "Parameters"),
    names.length
      ? table(["Name", "Value", "Type", "Default"], names.map((name) => {
        const d = (c.declared || {})[name] || {};
        const given = name in (c.parameters || {});
        return [
          h("span", { class: "nowrap" }, name),
          h("span", { class: "mono" }, given ? paramValue(c.parameters[name]) : h("span", { class: "muted" }, "(default)")),
          d.type || "", d.default === undefined ? "" : h("span", { class: "mono" }, paramValue(d.default)),
        ];
      }), { class: "config-params" })
      : h("div", { class: "muted" }, "This pipeline has no parameters."),
    h("h2", null, "Caching"),
    h("p", null, c.cache_enabled ? "On for this run: tasks whose inputs match a finished task reuse its outputs, except where a task turns it off." : "Off for this run: every task ran."),
    h("h2", null, "Tasks"),
    table(["Task", "Image", "Caching", "Resources", "Packages"], c.tasks.map((t) => [
      h("span", { class: "nowrap" }, t.task),
      t.image ? h("code", null, t.image) : "",
      t.caching === false ? "off" : "on",
      Object.keys(t.resources || {}).length ? h("code", null, JSON.stringify(t.resources)) : "",
      (t.packages || []).join(", "),
    ]), { class: "config-tasks" }),
    h("h2", null, "Pipeline spec"),
    h("div", { class: "toolbar" }, copyButton(text, "Copy YAML"), download),
    spec));
}
