// Pipelines: the list (search, pages, upload); the pipeline page lives in pipeline.js.

import * as api from "../api.js";
import { hashFor, registerPage } from "../app.js";
import { confirmDialog, errorBox, fmtTime, h, link, loading, mount, table } from "../dom.js";
import { uploadForm } from "./pipeline_upload.js";
import "./pipeline.js";

export const PAGE_SIZE = 20;

/**
 * A paged list: `fetchPage(token)` → {items, next, total}; `render(items)` → a node.
 * Page tokens are opaque, so earlier pages are remembered for "Previous".
 */
export function pagedList(root, fetchPage, render) {
  const tokens = [undefined];
  let index = 0;
  const body = h("div");
  const prev = h("button", { type: "button" }, "Previous");
  const next = h("button", { type: "button" }, "Next");
  const info = h("span", { class: "muted" });
  const load = async () => {
    mount(body, loading());
    prev.disabled = next.disabled = true;
    try {
      const page = await fetchPage(tokens[index]);
      mount(body, render(page.items));
      tokens[index + 1] = page.next;
      prev.disabled = index === 0;
      next.disabled = !page.next;
      const first = index * PAGE_SIZE + 1;
      mount(info, page.total ? `${first}–${first + page.items.length - 1} of ${page.total}` : "");
    } catch (error) {
      mount(body, errorBox(error));
    }
  };
  prev.addEventListener("click", () => {
    if (index > 0) index -= 1;
    load();
  });
  next.addEventListener("click", () => {
    if (tokens[index + 1]) index += 1;
    load();
  });
  mount(root, body, h("div", { class: "pager" }, prev, next, info));
  load();
  return { reload: load };
}

function pipelineRows(items, onDelete) {
  if (!items.length) return h("div", { class: "empty" }, "No pipelines yet. Upload one.");
  return table(
    ["Name", "Description", "Created", ""],
    items.map((p) => [
      link(`#/pipelines/${encodeURIComponent(p.pipeline_id)}`, p.display_name || p.name),
      h("span", { class: "muted" }, p.description || ""),
      h("span", { class: "nowrap" }, fmtTime(p.created_at)),
      h("span", { class: "nowrap" },
        link(hashFor("/runs/new", { pipeline: p.pipeline_id }), "Run"), " ",
        h("button", { type: "button", class: "link danger-link", onClick: () => onDelete(p) }, "Delete")),
    ]),
    { class: "pipelines" },
  );
}

async function renderList(root, params, query) {
  const search = query.get("q") || "";
  const input = h("input", { type: "search", name: "q", placeholder: "Search by name", value: search });
  const form = h("form", {
    class: "search",
    role: "search",
    onSubmit: (event) => {
      event.preventDefault();
      location.hash = hashFor("/pipelines", { q: input.value.trim() });
    },
  }, input, " ", h("button", { type: "submit" }, "Search"));
  const uploadBox = h("div");
  const listBox = h("div");
  const message = h("div");
  let pager = null;
  const remove = async (p) => {
    const ok = await confirmDialog(`Delete pipeline “${p.display_name || p.name}”?`, "All its versions go with it. Runs of it are kept.", "Delete pipeline");
    if (!ok) return;
    try {
      await api.del(`${api.V2}/pipelines/${encodeURIComponent(p.pipeline_id)}`, { params: { cascade: true } });
      mount(message);
      pager.reload();
    } catch (error) {
      mount(message, errorBox(error));
    }
  };
  const openUpload = async () => {
    let pipelines = [];
    try {
      pipelines = (await api.get(`${api.V2}/pipelines`, { page_size: 200, sort_by: "name" })).pipelines || [];
    } catch {
      pipelines = []; // "new pipeline" still works
    }
    mount(uploadBox, uploadForm({
      pipelines,
      onCancel: () => mount(uploadBox),
      onDone: (_, { pipelineId, versionId }) => {
        location.hash = hashFor(`/pipelines/${encodeURIComponent(pipelineId)}`, { version: versionId });
      },
    }));
  };
  mount(
    root,
    h("div", { class: "page-head" }, h("h1", null, "Pipelines")),
    h("div", { class: "toolbar" }, form, h("span", { class: "spacer" }),
      h("button", { type: "button", class: "primary", onClick: openUpload }, "Upload pipeline")),
    uploadBox,
    message,
    listBox,
  );
  if (query.get("upload")) openUpload();
  pager = pagedList(
    listBox,
    async (token) => {
      const page = await api.get(`${api.V2}/pipelines`, {
        page_size: PAGE_SIZE,
        page_token: token,
        sort_by: "created_at desc",
        filter: api.filter([["name", "IS_SUBSTRING", search]]),
      });
      return { items: page.pipelines || [], next: page.next_page_token, total: page.total_size || 0 };
    },
    (items) => pipelineRows(items, remove),
  );
}

registerPage("/pipelines", renderList);
