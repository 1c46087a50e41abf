// Upload a pipeline (or a new version) from a file, or from a URL that the server downloads.

import * as api from "../api.js";
import { errorBox, h, mount } from "../dom.js";

/** The chosen file: its bytes and name for the upload. */
function chosenFile(fileInput) {
  const file = fileInput.files && fileInput.files[0];
  if (!file) throw new Error("choose a pipeline file (.yaml, .json, .zip or .tar.gz)");
  return { blob: file, filename: file.name };
}

/** The URL to give the server, checked for shape only (the server applies its own rules). */
function chosenUrl(urlInput) {
  const address = urlInput.value.trim();
  let parsed;
  try {
    parsed = new URL(address);
  } catch {
    throw new Error("enter the full URL of a pipeline file (https://…)");
  }
  return parsed.href;
}

/** `{name, description}` the package's spec gives itself (the server reads it), or {}. */
async function packageInfo(pkg) {
  const data = new FormData();
  data.append("uploadfile", pkg.blob, pkg.filename);
  try {
    return await api.request("POST", "/apis/pinnace/v1/ui/pipelines/inspect", { body: data });
  } catch {
    return {}; // the upload itself reports what is wrong with the file
  }
}

/** Upload a file as a new pipeline, or as a new version of `chosen`. */
async function uploadFile(pkg, chosen, givenName, givenDescription) {
  const data = new FormData();
  data.append("uploadfile", pkg.blob, pkg.filename);
  // Unnamed, a pipeline takes the name (and description) its spec gives itself.
  // (A new version keeps the server's default name: versions of one pipeline share it.)
  const own = givenName && givenDescription ? {} : await packageInfo(pkg);
  const params = {
    name: givenName || (chosen ? undefined : own.name) || undefined,
    description: givenDescription || own.description || undefined,
  };
  return chosen
    ? api.request("POST", `${api.V2}/pipelines/upload_version`, { params: { ...params, pipelineid: chosen }, body: data })
    : api.request("POST", `${api.V2}/pipelines/upload`, { params, body: data });
}

/**
 * An upload form. `options.pipelineId` fixes the target pipeline (a new version of it);
 * otherwise the user picks "new pipeline" or a new version of one of `options.pipelines`.
 * `onDone(result, {pipelineId, versionId})` runs after a successful upload.
 */
export function uploadForm({ pipelineId, pipelines = [], onDone, onCancel } = {}) {
  const fileInput = h("input", { type: "file", name: "file", accept: ".yaml,.yml,.json,.zip,.tar.gz,.tgz" });
  const urlInput = h("input", { type: "url", name: "url", placeholder: "https://…/pipeline.yaml" });
  const name = h("input", { name: "name", placeholder: "defaults to the pipeline's own name" });
  const description = h("input", { name: "description" });
  const message = h("div");
  const sourceFile = h("input", { type: "radio", name: "source", value: "file", checked: true });
  const sourceUrl = h("input", { type: "radio", name: "source", value: "url" });
  const fileRow = h("label", null, "Pipeline file", fileInput);
  const urlRow = h("label", { class: "hidden" }, "URL (downloaded by the server: https, allowed hosts only)", urlInput);
  const showSource = () => {
    fileRow.classList.toggle("hidden", !sourceFile.checked);
    urlRow.classList.toggle("hidden", !sourceUrl.checked);
  };
  sourceFile.addEventListener("change", showSource);
  sourceUrl.addEventListener("change", showSource);

  const target = h(
    "select",
    { name: "target" },
    h("option", { value: "" }, "a new pipeline"),
    pipelines.map((p) => h("option", { value: p.pipeline_id }, `a new version of ${p.display_name || p.name}`)),
  );
  const targetRow = pipelineId ? null : h("label", null, "Upload as", target);
  const submit = h("button", { type: "submit", class: "primary" }, "Upload");

  const form = h(
    "form",
    {
      class: "card upload-form",
      onSubmit: async (event) => {
        event.preventDefault();
        submit.disabled = true;
        mount(message, h("div", { class: "loading" }, "Uploading…"));
        try {
          const chosen = pipelineId || target.value;
          const result = sourceUrl.checked
            ? await api.request("POST", "/apis/pinnace/v1/ui/pipelines/upload_url", {
                body: {
                  url: chosenUrl(urlInput),
                  pipeline_id: chosen || "",
                  name: name.value.trim(),
                  description: description.value.trim(),
                },
              })
            : await uploadFile(chosenFile(fileInput), chosen, name.value.trim(), description.value.trim());
          mount(message);
          if (onDone) onDone(result, { pipelineId: result.pipeline_id || chosen, versionId: result.pipeline_version_id });
        } catch (error) {
          mount(message, errorBox(error));
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("h2", null, pipelineId ? "Upload a new version" : "Upload a pipeline"),
    h("div", { class: "toolbar" },
      h("label", { class: "inline" }, sourceFile, "From a file"),
      h("label", { class: "inline" }, sourceUrl, "From a URL"),
    ),
    h("div", { class: "form-grid" }, fileRow, urlRow, targetRow, h("label", null, "Name", name), h("label", null, "Description", description)),
    message,
    h("div", { class: "toolbar" },
      submit,
      onCancel ? h("button", { type: "button", onClick: onCancel }, "Cancel") : null,
    ),
  );
  return form;
}
