// Experiments: the list (create, archive, unarchive) and an experiment's page (its runs, recurring runs).

import * as api from "../api.js";
import { hashFor, registerPage } from "../app.js";
import { badge, confirmDialog, errorBox, fmtTime, h, link, loading, mount, table } from "../dom.js";
import { PAGE_SIZE, pagedList } from "./pipelines.js";

const experimentHref = (e) => `#/experiments/${encodeURIComponent(e.experiment_id)}`;

/** Ask, then delete an experiment; answers whether it was deleted. */
async function deleteExperiment(experiment, message) {
  const ok = await confirmDialog(`Delete experiment “${experiment.display_name}”?`,
    "Its runs are kept (they keep the experiment id); this cannot be undone.", "Delete experiment");
  if (!ok) return false;
  try {
    await api.del(`${api.V2}/experiments/${encodeURIComponent(experiment.experiment_id)}`);
    return true;
  } catch (error) {
    mount(message, errorBox(error));
    return false;
  }
}

async function setArchived(experiment, archived) {
  const verb = archived ? "archive" : "unarchive";
  await api.post(`${api.V2}/experiments/${encodeURIComponent(experiment.experiment_id)}:${verb}`, {});
}

function createForm(onCreated, onCancel) {
  const name = h("input", { name: "display_name", required: true, placeholder: "my-experiment" });
  const description = h("input", { name: "description" });
  const message = h("div");
  const submit = h("button", { type: "submit", class: "primary" }, "Create");
  return h("form", {
    class: "card",
    onSubmit: async (event) => {
      event.preventDefault();
      submit.disabled = true;
      try {
        const created = await api.post(`${api.V2}/experiments`, {
          display_name: name.value.trim(),
          description: description.value.trim() || undefined,
        });
        onCreated(created);
      } catch (error) {
        mount(message, errorBox(error));
        submit.disabled = false;
      }
    },
  },
  h("h2", null, "New experiment"),
  h("div", { class: "form-grid" }, h("label", null, "Name", name), h("label", null, "Description", description)),
  message,
  h("div", { class: "toolbar" }, submit, h("button", { type: "button", onClick: onCancel }, "Cancel")));
}

function renderList(root, params, query) {
  const archived = query.get("archived") === "1";
  const search = query.get("q") || "";
  const formBox = h("div");
  const listBox = h("div");
  const message = h("div");
  const input = h("input", { type: "search", name: "q", placeholder: "Search by name", value: search });
  const go = (changes) => { location.hash = hashFor("/experiments", { q: search, archived: archived ? "1" : "", ...changes }); };
  let pager = null;
  const rows = (items) => {
    if (!items.length) return h("div", { class: "empty" }, archived ? "No archived experiments." : "No experiments yet.");
    return h("div", { class: "table-wrap" }, table(
      ["Name", "Description", "Created", "Last run", "", ""],
      items.map((e) => [
        link(experimentHref(e), e.display_name),
        h("span", { class: "muted" }, e.description || ""),
        fmtTime(e.created_at),
        fmtTime(e.last_run_created_at),
        h("button", {
          type: "button",
          class: "link",
          onClick: async () => {
            try {
              await setArchived(e, !archived);
              pager.reload();
            } catch (error) {
              mount(message, errorBox(error));
            }
          },
        }, archived ? "Unarchive" : "Archive"),
        h("button", { type: "button", class: "link danger-link", onClick: async () => {
          if (await deleteExperiment(e, message)) pager.reload();
        } }, "Delete"),
      ]),
      { class: "experiments" },
    ));
  };
  mount(
    root,
    h("div", { class: "page-head" }, h("h1", null, "Experiments")),
    h("div", { class: "toolbar" },
      h("form", { class: "search", role: "search", onSubmit: (e) => { e.preventDefault(); go({ q: input.value.trim() }); } },
        input, h("button", { type: "submit" }, "Search")),
      h("div", { class: "tabs compact" },
        h("button", { type: "button", class: archived ? null : "active", onClick: () => go({ archived: "" }) }, "Active"),
        h("button", { type: "button", class: archived ? "active" : null, onClick: () => go({ archived: "1" }) }, "Archived")),
      h("span", { class: "spacer" }),
      h("button", { type: "button", class: "primary", onClick: () => mount(formBox, createForm(
        (created) => { location.hash = experimentHref(created); },
        () => mount(formBox),
      )) }, "Create experiment"),
    ),
    formBox,
    message,
    listBox,
  );
  pager = pagedList(listBox, async (token) => {
    const page = await api.get(`${api.V2}/experiments`, {
      page_size: PAGE_SIZE,
      page_token: token,
      sort_by: "created_at desc",
      filter: api.filter([
        ["storage_state", "EQUALS", archived ? "ARCHIVED" : "AVAILABLE"],
        ["name", "IS_SUBSTRING", search],
      ]),
    });
    return { items: page.experiments || [], next: page.next_page_token, total: page.total_size || 0 };
  }, rows);
}

async function simpleRuns(box, experimentId) {
  const page = await api.get(`${api.V2}/runs`, { experiment_id: experimentId, page_size: 50, sort_by: "created_at desc" });
  const runs = page.runs || [];
  if (!runs.length) return mount(box, h("div", { class: "empty" }, "No runs in this experiment yet."));
  mount(box, h("div", { class: "table-wrap" }, table(
    ["Run", "State", "Created", "Finished"],
    runs.map((r) => [link(`#/runs/${encodeURIComponent(r.run_id)}`, r.display_name || r.run_id), badge(r.state), fmtTime(r.created_at), fmtTime(r.finished_at)]),
  )));
}

async function runsSection(box, experimentId) {
  try {
    const runs = await import("./runs.js");
    if (typeof runs.renderRunsTable === "function") return runs.renderRunsTable(box, { experimentId });
  } catch {
    // The richer runs table is not there: the simple list below does.
  }
  await simpleRuns(box, experimentId).catch((error) => mount(box, errorBox(error)));
  return null;
}

async function recurringSection(box, experimentId) {
  try {
    const page = await api.get(`${api.V2}/recurringruns`, { experiment_id: experimentId, page_size: 100 });
    const items = page.recurringRuns || page.recurring_runs || [];
    if (!items.length) return mount(box, h("div", { class: "empty" }, "No recurring runs in this experiment."));
    mount(box, h("div", { class: "table-wrap" }, table(
      ["Recurring run", "Status", "Trigger", "Created"],
      items.map((r) => {
        const trigger = r.trigger || {};
        const when = trigger.cron_schedule ? `cron ${trigger.cron_schedule.cron}` : trigger.periodic_schedule ? `every ${trigger.periodic_schedule.interval_second}s` : "";
        return [link(`#/recurring/${encodeURIComponent(r.recurring_run_id)}`, r.display_name), badge(r.status === "ENABLED" ? "ENABLED" : "DISABLED"), when, fmtTime(r.created_at)];
      }),
    )));
  } catch (error) {
    mount(box, errorBox(error));
  }
}

async function renderExperiment(root, params) {
  const id = params.id;
  let experiment;
  try {
    experiment = await api.get(`${api.V2}/experiments/${encodeURIComponent(id)}`);
  } catch (error) {
    mount(root, errorBox(error));
    return null;
  }
  const archived = experiment.storage_state === "ARCHIVED";
  const message = h("div");
  const runsBox = h("div", null, loading());
  const recurringBox = h("div", null, loading());
  mount(
    root,
    h("div", { class: "muted" }, link("#/experiments", "Experiments"), " / "),
    h("div", { class: "page-head" },
      h("h1", null, experiment.display_name),
      archived ? h("span", { class: "tag" }, "archived") : null),
    experiment.description ? h("p", { class: "description" }, experiment.description) : null,
    h("div", { class: "toolbar" },
      h("a", { class: "button primary", href: hashFor("/runs/new", { experiment: id }) }, "Create run"),
      h("button", { type: "button", onClick: async () => {
        try {
          await setArchived(experiment, !archived);
          window.dispatchEvent(new HashChangeEvent("hashchange"));
        } catch (error) {
          mount(message, errorBox(error));
        }
      } }, archived ? "Unarchive" : "Archive"),
      h("button", { type: "button", class: "danger", onClick: async () => {
        if (await deleteExperiment(experiment, message)) location.hash = "#/experiments";
      } }, "Delete"),
      h("span", { class: "spacer" }),
      h("span", { class: "muted" }, `Created ${fmtTime(experiment.created_at)}`),
    ),
    message,
    h("h2", null, "Runs"),
    runsBox,
    h("h2", null, "Recurring runs"),
    recurringBox,
  );
  const [cleanup] = await Promise.all([runsSection(runsBox, id), recurringSection(recurringBox, id)]);
  return typeof cleanup === "function" ? cleanup : null;
}

registerPage("/experiments", renderList);
registerPage("/experiments/:id", renderExperiment);
