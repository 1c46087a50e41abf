// Safe DOM helpers: every string becomes a text node; nothing user-written is ever parsed as HTML.

const SVG_NS = "http://www.w3.org/2000/svg";

function setAttrs(el, attrs) {
  if (!attrs) return el;
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "class" || key === "className") {
      el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "value" && "value" in el) {
      el.value = value;
    } else if (key === "checked" || key === "selected" || key === "disabled") {
      el[key] = Boolean(value);
    } else if (key === "text") {
      el.textContent = String(value);
    } else {
      const name = String(key);
      // href/src with a script scheme would run code: keep only safe URLs.
      if ((name === "href" || name === "src") && !safeUrl(String(value))) continue;
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  return el;
}

export function safeUrl(url) {
  const trimmed = url.trim().toLowerCase();
  return !/^(javascript|vbscript|data):/.test(trimmed) || trimmed.startsWith("data:image/");
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
  return el;
}

/** h("div", {class: "x", onClick: fn}, "text", child, [more]) → an element; strings are text. */
export function h(tag, attrs, ...children) {
  return append(setAttrs(document.createElement(tag), attrs), children);
}

/** The same for SVG elements. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith("on") && typeof value === "function") {
        el.addEventListener(key.slice(2).toLowerCase(), value);
      } else {
        el.setAttribute(key, String(value));
      }
    }
  }
  return append(el, children);
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** Replace `el`'s children with `children`. */
export function mount(el, ...children) {
  return append(clear(el), children);
}

export function text(value) {
  return document.createTextNode(value === undefined || value === null ? "" : String(value));
}

/** A local date-time from an RFC 3339 string ("" for none). */
export function fmtTime(value) {
  if (!value) return "";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString();
}

/** "1.2s", "3m 04s", "2h 05m" from seconds. */
export function fmtDuration(seconds) {
  if (seconds === undefined || seconds === null || Number.isNaN(seconds)) return "";
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m ${String(Math.round(seconds % 60)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

const ICONS = {
  PENDING: "○", RUNNING: "◔", SUCCEEDED: "✓", FAILED: "✕", SKIPPED: "⤼", CACHED: "↺",
  CANCELED: "⊘", CANCELING: "⊘", ENABLED: "●", DISABLED: "○", ARCHIVED: "▣",
};

/** A state's icon: the colour is never the only sign of a state. */
export const stateIcon = (state) => ICONS[String(state || "").toUpperCase()] || "•";

/** A state badge with its icon and word: <span class="badge state-succeeded">✓ SUCCEEDED</span>. */
export function badge(state) {
  const word = String(state || "UNKNOWN");
  const name = word.toLowerCase();
  return h("span", { class: `badge state-${name}`, title: word },
    h("span", { class: "badge-icon", "aria-hidden": "true" }, stateIcon(word)), word);
}

/** How long a run took (or has taken so far), in seconds; null before it started. */
export function runDuration(run) {
  const start = run.scheduled_at || run.created_at;
  if (!start) return null;
  const end = run.finished_at ? Date.parse(run.finished_at) : Date.now();
  return Math.max(0, (end - Date.parse(start)) / 1000);
}

/** A value as written: strings as they are, numbers as JavaScript prints them (0.3, not
 * 0.3000), everything else as compact JSON. */
export function paramValue(value) {
  if (value === undefined) return "";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

/** Put `text` on the clipboard (the async API, or a selected textarea where it is missing). */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = h("textarea", { class: "offscreen", readonly: true });
    area.value = text;
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    area.remove();
    return ok;
  }
}

/** A small "Copy" button for `text` (a function is called at click time). */
export function copyButton(text, label = "Copy") {
  const button = h("button", { type: "button", class: "copy", title: label, "aria-label": label, onClick: async () => {
    const ok = await copyText(typeof text === "function" ? text() : String(text));
    button.textContent = ok ? "Copied" : "Copy failed";
    setTimeout(() => { button.textContent = "Copy"; }, 1200);
  } }, "Copy");
  return button;
}

/** A code block with a copy button; `pre` scrolls sideways instead of wrapping. */
export function codeBlock(text, attrs = {}) {
  return h("div", { class: "code-block" }, copyButton(text, attrs.label || "Copy"), h("pre", { class: attrs.class }, text));
}

/** A hash link: link("#/runs/x", "label"). */
export function link(href, ...children) {
  return h("a", { href }, ...children);
}

/** A table from column headers and rows of cells (strings or nodes), in a sideways-scrolling box. */
export function table(headers, rows, attrs = {}) {
  return h("div", { class: "table-wrap" }, bareTable(headers, rows, attrs));
}

export function bareTable(headers, rows, attrs = {}) {
  return h(
    "table",
    { class: ["table", attrs.class] },
    h("thead", null, h("tr", null, headers.map((x) => h("th", null, x)))),
    h("tbody", null, rows.map((row) => h("tr", null, row.map((cell) => h("td", null, cell))))),
  );
}

/** An error box for a failed call (the server's message, never HTML). */
export function errorBox(error) {
  const message = error && error.message ? error.message : String(error);
  const hint = error && error.hint ? h("div", { class: "hint" }, error.hint) : null;
  return h("div", { class: "error", role: "alert" }, message, hint);
}

export function loading(label = "Loading…") {
  return h("div", { class: "loading" }, label);
}

/** A collapsible block: <details><summary>title</summary>...</details>. */
export function collapsible(title, ...children) {
  return h("details", null, h("summary", null, title), ...children);
}

/** A modal "are you sure?" dialog; resolves true when the user confirms. Escape cancels. */
export function confirmDialog(title, detail, action = "OK") {
  return new Promise((resolve) => {
    const done = (answer) => {
      backdrop.remove();
      document.removeEventListener("keydown", onKey);
      resolve(answer);
    };
    const onKey = (event) => {
      if (event.key === "Escape") done(false);
    };
    const ok = h("button", { type: "button", class: "danger", onClick: () => done(true) }, action);
    const backdrop = h("div", { class: "dialog-backdrop", onClick: (event) => { if (event.target === backdrop) done(false); } },
      h("div", { class: "dialog", role: "alertdialog", "aria-modal": "true", "aria-label": title },
        h("h2", null, title), detail ? h("p", null, detail) : null,
        h("div", { class: "toolbar" }, ok, h("button", { type: "button", onClick: () => done(false) }, "Cancel"))));
    document.addEventListener("keydown", onKey);
    document.body.appendChild(backdrop);
    ok.focus();
  });
}
