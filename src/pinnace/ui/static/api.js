// The API client: the base URL under any path prefix, JSON, errors, CSRF; 401 → #/login.

/** The server's base path ("" or "/prefix"): the page's own path without index.html or "/". */
export function basePath() {
  return location.pathname.replace(/index\.html$/, "").replace(/\/+$/, "");
}

export class ApiError extends Error {
  constructor(status, message, hint, body) {
    super(message);
    this.status = status;
    this.hint = hint;
    this.body = body;
  }
}

function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return "";
}

let onUnauthorized = () => {
  if (!location.hash.startsWith("#/login")) {
    const next = encodeURIComponent(location.hash || "#/pipelines");
    location.hash = `#/login?next=${next}`;
  }
};

export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

/** "/apis/v2beta1/runs" + {page_size: 20} → a URL under the base path (undefined values dropped). */
export function url(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") query.set(key, String(value));
  }
  const text = query.toString();
  return basePath() + path + (text ? `?${text}` : "");
}

/**
 * Call the API. `body` may be an object (sent as JSON), FormData or a Blob.
 * Resolves with the parsed JSON (or text); rejects with ApiError (message/hint from the server).
 */
export async function request(method, path, { params, body, signal, raw } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = cookie("pinnace_csrf");
  let payload = body;
  if (body !== undefined && !(body instanceof FormData) && !(body instanceof Blob)) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url(path, params), {
      method,
      headers,
      body: payload,
      signal,
      credentials: "same-origin",
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "the server cannot be reached", "is `pinnace server` running?");
  }
  if (raw) {
    if (!response.ok) throw await toError(response);
    return response;
  }
  if (!response.ok) {
    const error = await toError(response);
    if (response.status === 401 && !path.endsWith("/login")) onUnauthorized();
    throw error;
  }
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

async function toError(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const message = (body && body.message) || `${response.status} ${response.statusText}`;
  const help = body && Array.isArray(body.details) ? body.details.find((d) => d.hint) : null;
  return new ApiError(response.status, message, help ? help.hint : undefined, body);
}

const NAMESPACE_KEY = "pinnace.namespace";
const LISTS = /^\/apis\/v2beta1\/(runs|experiments|pipelines|recurringruns)$/;

/** The namespace the lists show ("" = all the caller may see), remembered in localStorage. */
export function namespace() {
  try {
    return localStorage.getItem(NAMESPACE_KEY) || "";
  } catch {
    return "";
  }
}

export function setNamespace(value) {
  try {
    if (value) localStorage.setItem(NAMESPACE_KEY, value);
    else localStorage.removeItem(NAMESPACE_KEY);
  } catch {
    // Not remembered in private mode.
  }
}

export const get = (path, params, options = {}) => {
  const chosen = namespace();
  const scoped = chosen && LISTS.test(path) && !(params && params.namespace) ? { ...params, namespace: chosen } : params;
  return request("GET", path, { ...options, params: scoped });
};
export const post = (path, body, options = {}) => request("POST", path, { ...options, body });
export const del = (path, options = {}) => request("DELETE", path, options);

/** A KFP filter string: filter([["name", "IS_SUBSTRING", "abc"]]) (empty values dropped). */
export function filter(predicates) {
  const kept = predicates
    .filter(([, , value]) => value !== undefined && value !== null && value !== "")
    .map(([key, operation, value]) => {
      const predicate = { key, operation };
      if (Array.isArray(value)) predicate.string_values = { values: value };
      else if (typeof value === "number") predicate.long_value = String(value);
      else if (typeof value === "boolean") predicate.bool_value = value;
      else predicate.string_value = String(value);
      return predicate;
    });
  return kept.length ? JSON.stringify({ predicates: kept }) : undefined;
}

// Who am I; the session calls.
export const me = () => get("/apis/pinnace/v1/me");
export const login = (username, password) =>
  post("/apis/pinnace/v1/login", { username, password, session: true });
export const logout = () => post("/apis/pinnace/v1/logout", {});

export const V2 = "/apis/v2beta1";
