// The shell: hash router, layout, sidebar, login and sign-out. Pages register with registerPage.

import * as api from "./api.js";
import { clear, errorBox, h, loading, mount } from "./dom.js";

/** Page modules, loaded at start; one that is missing or broken leaves the rest working. */
export const PAGES = ["pipelines", "experiments", "runs", "run", "compare", "recurring", "artifacts", "account"];

export const NAV = [
  ["Pipelines", "#/pipelines"],
  ["Experiments", "#/experiments"],
  ["Runs", "#/runs"],
  ["Recurring runs", "#/recurring"],
  ["Artifacts", "#/artifacts"],
  ["Executions", "#/executions"],
];

const routes = [];
let user = null;
let namespaces = [];
let cleanup = null;
let generation = 0;
const broken = new Map(); // page module → why it did not load

/**
 * Register `render(root, params, query)` for `pattern` ("/runs/:id"). `params` holds the
 * `:name` segments; `query` the hash query as a plain object (also with .get(name)).
 * `render` may return a cleanup function (or a promise of one), called on leaving the page.
 */
export function registerPage(pattern, render) {
  const parts = pattern.replace(/^\/+|\/+$/g, "").split("/").filter(Boolean);
  routes.push({ pattern, parts, render, literal: parts.filter((p) => !p.startsWith(":")).length });
}

const QueryProto = {
  get(name) {
    return Object.prototype.hasOwnProperty.call(this, name) ? this[name] : null;
  },
  has(name) {
    return Object.prototype.hasOwnProperty.call(this, name);
  },
};

/** "#/runs/x?task=a" → {path: ["runs", "x"], query}. */
export function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#/, "");
  const [path, search = ""] = raw.split("?", 2);
  const query = Object.create(QueryProto);
  for (const [key, value] of new URLSearchParams(search)) query[key] = value;
  const parts = path.split("/").filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  return { parts, query };
}

/** A hash for `path` and `query` (empty values dropped): hashFor("/runs", {sort: "x"}). */
export function hashFor(path, query = {}) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return `#${path}${text ? `?${text}` : ""}`;
}

export function navigate(path, query) {
  location.hash = hashFor(path, query);
}

export function currentUser() {
  return user;
}

function match(parts) {
  let best = null;
  for (const route of routes) {
    if (route.parts.length !== parts.length) continue;
    const params = {};
    const ok = route.parts.every((p, i) => {
      if (p.startsWith(":")) {
        params[p.slice(1)] = parts[i];
        return true;
      }
      return p === parts[i];
    });
    if (ok && (!best || route.literal > best.route.literal)) best = { route, params };
  }
  return best;
}

function sidebar(active) {
  const toggle = h("button", {
    class: "menu-toggle",
    type: "button",
    "aria-label": "Menu",
    onClick: () => document.body.classList.toggle("nav-open"),
  }, "☰");
  const nav = h(
    "nav",
    { class: "nav" },
    NAV.map(([label, href]) =>
      h("a", { href, class: active === href.slice(2) ? "active" : null }, label),
    ),
  );
  const who = user
    ? h(
        "div",
        { class: "user" },
        user.user === "anonymous"
          ? h("span", { class: "user-name" }, user.user)
          : h("a", { class: "user-name", href: "#/account", title: user.namespace ? `namespace ${user.namespace}` : "" }, user.user),
        user.is_admin ? h("span", { class: "tag" }, "admin") : null,
        user.user === "anonymous" ? null : h("button", { type: "button", class: "link sign-out", onClick: signOut }, "Sign out"),
      )
    : null;
  return h("aside", { class: "sidebar" },
    h("div", { class: "brand" }, toggle, h("a", { href: "#/pipelines" }, "Pinnace")),
    nav,
    namespacePicker(),
    who,
  );
}

/** For users who see several namespaces (admins): which one the lists show. */
function namespacePicker() {
  if (namespaces.length < 2) return null;
  const chosen = api.namespace();
  const picker = h("select", { name: "namespace", "aria-label": "Namespace", onChange: (event) => {
    api.setNamespace(event.target.value);
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  } },
  h("option", { value: "" }, "All namespaces"),
  namespaces.map((n) => h("option", { value: n, selected: n === chosen }, n)));
  return h("label", { class: "namespace-picker" }, "Namespace", picker);
}

async function signOut() {
  try {
    await api.logout();
  } catch {
    // The session may be gone already; the login page is right either way.
  }
  user = null;
  location.hash = "#/login";
}

function loginPage(root, query) {
  const next = query.get("next");
  const username = h("input", { name: "username", autocomplete: "username", required: true, autofocus: true });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const message = h("div", { class: "login-message" });
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h("form", { class: "login-form", onSubmit: async (event) => {
    event.preventDefault();
    button.disabled = true;
    mount(message);
    try {
      user = await api.login(username.value, password.value);
      location.hash = next && next.startsWith("#/") && !next.startsWith("#/login") ? next : "#/pipelines";
    } catch (error) {
      mount(message, errorBox(error.status === 401 ? { message: "Wrong user name or password." } : error));
      button.disabled = false;
      password.select();
    }
  } },
    h("h1", null, "Pinnace"),
    h("label", null, "User name", username),
    h("label", null, "Password", password),
    message,
    button,
  );
  mount(root, h("div", { class: "login-page" }, form));
  username.focus();
}

async function ensureUser() {
  if (user) return user;
  const listed = api.get("/apis/pinnace/v1/ui/namespaces").then((r) => r.namespaces || [], () => []);
  user = await api.me();
  namespaces = await listed;
  if (api.namespace() && !namespaces.includes(api.namespace())) api.setNamespace("");
  return user;
}

async function route() {
  const token = ++generation;
  if (cleanup) {
    try {
      cleanup();
    } catch (error) {
      console.error(error);
    }
    cleanup = null;
  }
  document.body.classList.remove("nav-open");
  const app = document.getElementById("app");
  const { parts, query } = parseHash();
  if (!parts.length) {
    location.replace("#/pipelines");
    return;
  }
  if (parts[0] === "login") {
    loginPage(clear(app), query);
    return;
  }
  try {
    await ensureUser();
  } catch (error) {
    if (token === generation && error.status !== 401) mount(app, errorBox(error));
    return;
  }
  if (token !== generation) return;
  const main = h("main", { class: "main", id: "main" });
  mount(app, h("div", { class: "shell" }, sidebar(parts[0]), main));
  const found = match(parts);
  if (!found) {
    const module = PAGES.includes(parts[0]) && broken.has(parts[0]) ? ` (${broken.get(parts[0])})` : "";
    mount(main, h("div", { class: "empty" }, h("h1", null, "Not available"), `This page is not available${module}.`));
    return;
  }
  mount(main, loading());
  try {
    const result = await found.route.render(main, found.params, query);
    if (token !== generation) {
      if (typeof result === "function") result();
      return;
    }
    cleanup = typeof result === "function" ? result : null;
  } catch (error) {
    console.error(error);
    if (token === generation && error.status !== 401) mount(main, errorBox(error));
  }
}

async function start() {
  await Promise.allSettled(
    PAGES.map((name) =>
      import(`./pages/${name}.js`).catch((error) => {
        broken.set(name, "not built yet");
        console.warn(`page module ${name}.js did not load:`, error);
      }),
    ),
  );
  window.addEventListener("hashchange", route);
  await route();
}

start();
