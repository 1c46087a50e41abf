// The run page's task panel (Input/Output, Visualizations, Details, Logs) and the draggable
// split between the graph and the panel (its width is remembered in localStorage).

import * as api from "../api.js";
import { hashFor } from "../app.js";
import { badge, codeBlock, copyButton, errorBox, fmtDuration, fmtTime, h, loading, mount, paramValue, table } from "../dom.js";
import { downloadLink, renderPreview, renderVisualizations } from "../preview.js";

const UI = "/apis/pinnace/v1/ui";
const TABS = [["io", "Input/Output"], ["viz", "Visualizations"], ["details", "Details"], ["logs", "Logs"]];
const WIDTH_KEY = "pinnace.panelWidth";
const MIN_WIDTH = 300;
const enc = encodeURIComponent;
const taskUrl = (runId, path, rest = "") => `${UI}/runs/${enc(runId)}/tasks/${path.split("/").map(enc).join("/")}${rest}`;

function storedWidth() {
  try {
    const value = Number(localStorage.getItem(WIDTH_KEY));
    return Number.isFinite(value) && value >= MIN_WIDTH ? value : 440;
  } catch {
    return 440;
  }
}

/** The graph and the panel side by side, with a handle to drag the panel wider or narrower. */
export function resizablePanel(graphBox, panel) {
  const apply = (width) => {
    const max = Math.max(MIN_WIDTH, window.innerWidth - 420);
    const w = Math.round(Math.min(Math.max(width, MIN_WIDTH), max));
    panel.style.width = `${w}px`; // CSSOM, which a strict CSP allows (style attributes it does not)
    return w;
  };
  apply(storedWidth());
  const handle = h("div", { class: "split-handle", role: "separator", "aria-orientation": "vertical", "aria-label": "Resize the panel", tabindex: 0 });
  let start = null;
  handle.addEventListener("pointerdown", (event) => {
    start = { x: event.clientX, width: panel.getBoundingClientRect().width };
    handle.setPointerCapture(event.pointerId);
    document.body.classList.add("resizing");
  });
  handle.addEventListener("pointermove", (event) => {
    if (start) apply(start.width + (start.x - event.clientX));
  });
  const end = () => {
    if (!start) return;
    start = null;
    document.body.classList.remove("resizing");
    try {
      localStorage.setItem(WIDTH_KEY, String(Math.round(panel.getBoundingClientRect().width)));
    } catch {
      // Private mode: the width is not remembered, nothing else changes.
    }
  };
  handle.addEventListener("pointerup", end);
  handle.addEventListener("pointercancel", end);
  handle.addEventListener("keydown", (event) => {
    const step = event.key === "ArrowLeft" ? 40 : event.key === "ArrowRight" ? -40 : 0;
    if (!step) return;
    event.preventDefault();
    const w = apply(panel.getBoundingClientRect().width + step);
    try {
      localStorage.setItem(WIDTH_KEY, String(w));
    } catch {
      // as above
    }
  });
  return h("div", { class: "split run-split" }, graphBox, handle, panel);
}

export function renderPanel(panel, runId, path, state, { onTab } = {}) {
  let cleanup = null;
  let live = true;
  const body = h("div", { class: "panel-body" }, loading());
  const tabs = h("div", { class: "tabs panel-tabs", role: "tablist" });
  const title = h("h2", { class: "panel-title" }, path.split("/").pop());
  mount(panel, h("div", { class: "panel-head" }, title, copyButton(path, "Copy task path")),
    h("div", { class: "muted mono task-path" }, path), tabs, body);
  let details = null;
  const show = (tab) => {
    state.tab = tab;
    if (onTab) onTab();
    mount(tabs, TABS.map(([id, label]) => h("button", { type: "button", role: "tab", class: id === tab ? "active" : null, onClick: () => show(id) }, label)));
    if (cleanup) cleanup();
    cleanup = null;
    if (tab === "logs") cleanup = renderLogs(body, runId, path, details);
    else if (tab === "viz") renderVisualizations(body, details.outputs.artifacts);
    else if (tab === "details") renderDetails(body, details);
    else renderIO(body, details);
  };
  api.get(taskUrl(runId, path)).then((d) => {
    if (!live) return;
    details = d;
    mount(title, d.label || path.split("/").pop());
    show(TABS.some(([id]) => id === state.tab) ? state.tab : "io");
  }).catch((error) => mount(body, errorBox(error)));
  return () => {
    live = false;
    if (cleanup) cleanup();
  };
}

/** A parameter's name for people: the compiler's `pipelinechannel--x-Output` → `x-Output`. */
export function parameterName(name) {
  return String(name).replace(/^pipelinechannel--/, "");
}

function paramTable(parameters) {
  const rows = Object.entries(parameters || {});
  if (!rows.length) return h("div", { class: "muted" }, "None.");
  return table(["Name", "Value", ""], rows.map(([k, v]) => [
    h("span", { class: "nowrap", title: k }, parameterName(k)),
    h("span", { class: "mono value" }, paramValue(v)),
    copyButton(paramValue(v), `Copy ${parameterName(k)}`),
  ]), { class: "params" });
}

function artifactList(artifacts, direction) {
  const items = Object.entries(artifacts || {}).flatMap(([name, list]) => list.map((a) => ({ name, ...a })));
  if (!items.length) return h("div", { class: "muted" }, "None.");
  return items.map((a) => {
    const box = h("div", { class: "preview-box" });
    const open = h("button", { type: "button", class: "link", onClick: () => renderPreview(box, a.artifact_id) }, "Preview");
    return h("div", { class: "card artifact" },
      h("div", { class: "artifact-head" }, h("strong", null, parameterName(a.name)), h("span", { class: "tag" }, a.type)),
      h("div", { class: "uri-row" }, h("code", { class: "uri" }, a.uri || ""), a.uri ? copyButton(a.uri, "Copy URI") : null),
      a.artifact_id
        ? h("div", { class: "toolbar" }, open, downloadLink(a.artifact_id),
          h("a", { href: hashFor("/artifacts", { lineage: a.artifact_id }) }, "Lineage"))
        : h("div", { class: "muted" }, direction === "in" ? "Not recorded in this run (imported or cached from another run)." : ""),
      box);
  });
}

function renderIO(body, d) {
  mount(body,
    h("h3", null, "Input parameters"), paramTable(d.inputs.parameters),
    h("h3", null, "Input artifacts"), artifactList(d.inputs.artifacts, "in"),
    h("h3", null, "Output parameters"), paramTable(d.outputs.parameters),
    h("h3", null, "Output artifacts"), artifactList(d.outputs.artifacts, "out"));
}

function renderDetails(body, d) {
  const c = d.container || {};
  const prop = (k, v) => (v === undefined || v === null || v === "" ? [] : [h("dt", null, k), h("dd", null, v)]);
  const cachedFrom = d.cached_from ? d.cached_from.split("/") : null;
  const command = [...(c.command || []), ...(c.args || [])].map((x) => (typeof x === "string" ? x : JSON.stringify(x))).join("\n");
  mount(body,
    h("dl", { class: "props" },
      prop("State", badge(d.state)), prop("Component", d.component), prop("Started", fmtTime(d.started_at)),
      prop("Finished", fmtTime(d.finished_at)), prop("Duration", fmtDuration(d.duration)),
      prop("Cache", cachedFrom
        ? h("span", null, "reused from ", h("a", { href: hashFor(`/runs/${enc(cachedFrom[0])}`, { task: cachedFrom.slice(1).join("/") }) }, d.cached_from))
        : d.caching === false ? "off for this task" : d.cache_key ? "miss (stored for reuse)" : "off"),
      prop("Error", d.error ? h("pre", { class: "error-text" }, d.error) : null), prop("Image", c.image),
      prop("Packages", (c.packages || []).length ? h("ul", { class: "packages" }, c.packages.map((p) => h("li", { class: "mono" }, p))) : null),
      prop("Resources", Object.keys(c.resources || {}).length ? h("code", null, JSON.stringify(c.resources)) : ""),
      prop("Python", (d.environment || {}).python || (d.environment || {}).interpreter)),
    command ? [h("h3", null, "Command"), codeBlock(command, { label: "Copy command", class: "command" })] : null,
    Object.keys(d.environment || {}).length ? [h("h3", null, "Environment"), codeBlock(JSON.stringify(d.environment, null, 2))] : null,
    h("h3", null, "Attempts"),
    d.attempts.length
      ? table(["#", "State", "Exit", "Duration", "Error"], d.attempts.map((a) => [
        String(a.attempt), badge(a.state), a.exit_code == null ? "" : String(a.exit_code), fmtDuration(a.duration),
        a.error ? h("span", { class: "mono" }, a.error) : ""]), { class: "attempts" })
      : h("div", { class: "muted" }, "No executions (cached, skipped or not started)."));
}

function renderLogs(body, runId, path, d) {
  const pre = h("pre", { class: "log" });
  const note = h("div", { class: "muted" });
  const full = h("a", { href: api.url(taskUrl(runId, path, "/logs"), { download: 1 }), download: "" }, "Download full log");
  mount(body, h("div", { class: "toolbar" }, note, h("span", { class: "spacer" }), copyButton(() => pre.textContent, "Copy log"), full), pre);
  if (!d.has_log) {
    mount(note, "This task has no log (cached, skipped or not started).");
    return null;
  }
  const source = new EventSource(api.url(taskUrl(runId, path, "/logs/stream")));
  const append = (text) => {
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.appendChild(document.createTextNode(text));
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  };
  source.addEventListener("tail", (e) => {
    const tail = JSON.parse(e.data);
    if (tail.truncated) mount(note, `Showing the last ${Math.round((tail.size - tail.offset) / 1024)} KiB of ${Math.round(tail.size / 1024)} KiB.`);
    append(tail.text);
  });
  source.addEventListener("lines", (e) => append(JSON.parse(e.data).text));
  source.addEventListener("end", () => source.close());
  source.onerror = () => source.close();
  return () => source.close();
}
