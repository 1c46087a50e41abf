// Your account (#/account): your API tokens (create with a lifetime, see when each was used,
// revoke) and your password. Tokens are shown once, when created; the server keeps hashes.

import * as api from "../api.js";
import { registerPage } from "../app.js";
import { bareTable, codeBlock, confirmDialog, copyButton, errorBox, fmtTime, h, loading, mount } from "../dom.js";

const ACCOUNT = "/apis/pinnace/v1";
const LIFETIMES = [["1 day", "1d"], ["30 days", "30d"], ["90 days", "90d"], ["1 year", "52w"], ["Never", "never"]];

function expires(token) {
  if (!token.expires_at) return "never";
  return new Date(token.expires_at) <= new Date() ? `expired ${fmtTime(token.expires_at)}` : fmtTime(token.expires_at);
}

async function renderTokens(box, message) {
  mount(box, loading());
  const { tokens = [] } = await api.get(`${ACCOUNT}/tokens`);
  const rows = tokens.map((t) => [
    t.session ? "browser session" : t.description || "API token",
    fmtTime(t.created_at),
    t.last_used_at ? fmtTime(t.last_used_at) : "never",
    expires(t),
    h("button", { type: "button", class: "danger", "data-token": t.token_id, onClick: async () => {
      const ok = await confirmDialog("Revoke this token?", "Clients using it are refused at once.", "Revoke");
      if (!ok) return;
      try {
        await api.del(`${ACCOUNT}/tokens/${encodeURIComponent(t.token_id)}`);
        await renderTokens(box, message);
      } catch (error) {
        mount(message, errorBox(error));
      }
    } }, "Revoke"),
  ]);
  mount(box, tokens.length
    ? bareTable(["Token", "Created", "Last used", "Expires", ""], rows, { class: "tokens" })
    : h("p", { class: "empty" }, "No tokens."));
}

function createForm(box, message, shown) {
  const description = h("input", { name: "description", maxlength: 200, placeholder: "e.g. laptop kfp.Client" });
  const lifetime = h("select", { name: "expires_in" }, LIFETIMES.map(([label, value]) =>
    h("option", { value, selected: value === "90d" }, label)));
  return h("form", { class: "token-form", onSubmit: async (event) => {
    event.preventDefault();
    mount(message);
    try {
      const made = await api.post(`${ACCOUNT}/tokens`, { description: description.value, expires_in: lifetime.value });
      mount(shown, h("div", { class: "notice" },
        h("p", null, "Your new token (shown once; copy it now):"),
        codeBlock(made.token, { class: "token-value" }), copyButton(made.token)));
      description.value = "";
      await renderTokens(box, message);
    } catch (error) {
      mount(message, errorBox(error));
    }
  } },
  h("label", null, "Description", description),
  h("label", null, "Expires after", lifetime),
  h("button", { type: "submit", class: "primary" }, "Create token"));
}

function passwordForm() {
  const message = h("div");
  const field = (name, label, autocomplete) =>
    h("input", { name, type: "password", autocomplete, required: true, minlength: name === "old_password" ? null : 8 });
  const old = field("old_password", "Current password", "current-password");
  const fresh = field("new_password", "New password", "new-password");
  return h("form", { class: "password-form", onSubmit: async (event) => {
    event.preventDefault();
    mount(message);
    try {
      await api.post(`${ACCOUNT}/password`, { old_password: old.value, new_password: fresh.value });
      // Every login session ended, this one too: sign in again with the new password.
      location.hash = "#/login";
    } catch (error) {
      mount(message, errorBox(error.status === 401 ? { message: "The current password is wrong." } : error));
    }
  } },
  h("label", null, "Current password", old),
  h("label", null, "New password (8 characters or more)", fresh),
  message,
  h("button", { type: "submit" }, "Change password"));
}

registerPage("/account", async (root) => {
  const me = await api.me();
  const message = h("div");
  const box = h("div");
  const shown = h("div");
  mount(root,
    h("h1", null, "Account"),
    h("p", null, `Signed in as ${me.user}`, me.namespace ? ` (namespace ${me.namespace})` : ""),
    h("section", null,
      h("h2", null, "API tokens"),
      h("p", { class: "hint" }, "For kfp.Client(host=…, existing_token=…) and scripts: Authorization: Bearer <token>."),
      createForm(box, message, shown), shown, message, box),
    h("section", null, h("h2", null, "Password"), passwordForm()));
  await renderTokens(box, message);
});
