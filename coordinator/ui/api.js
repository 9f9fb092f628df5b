// api.js: the HTTP client of the Junction API (/v1/...): auth token, tenant and
// actor settings, JSON calls with typed errors, and a Server-Sent Events reader
// built on fetch (EventSource cannot send an Authorization header).

const TOKEN_KEY = "junction.token";
const TENANT_KEY = "junction.tenant";
const ACTOR_KEY = "junction.actor";

/** An error answered by the API (`{error:{code,message,details}}`) or a network failure (status 0). */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** What GET /v1/session said: {auth, identity, tenants}; null until known. */
export const session = { known: false, auth: false, identity: null, tenants: null };

const hooks = {
  onUnreachable: () => {},
  onReachable: () => {},
  onUnauthenticated: () => {},
};

/** Installs the app's reactions to network failures and 401s. */
export function setHooks(h) {
  Object.assign(hooks, h);
}

function storageGet(store, key) {
  try {
    return store.getItem(key);
  } catch {
    return null;
  }
}

function storageSet(store, key, value) {
  try {
    if (value === null || value === undefined || value === "") store.removeItem(key);
    else store.setItem(key, value);
  } catch {
    /* storage disabled: keep working without persistence */
  }
}

export function getToken() {
  return storageGet(sessionStorage, TOKEN_KEY);
}

export function setToken(token) {
  storageSet(sessionStorage, TOKEN_KEY, token);
}

/** The name sent as `actor` when auth is off (never with auth on). */
export function getActorName() {
  return storageGet(localStorage, ACTOR_KEY) || "";
}

export function setActorName(name) {
  storageSet(localStorage, ACTOR_KEY, name.trim());
}

/** The stored tenant choice (free text when the session lists no tenants). */
export function getStoredTenant() {
  return storageGet(localStorage, TENANT_KEY) || "";
}

export function setStoredTenant(tenant) {
  storageSet(localStorage, TENANT_KEY, tenant.trim());
}

/**
 * The tenant sent as `X-Junction-Tenant`: with a tenant list, the stored one if
 * listed, else the first; without a list, the stored free-text one (or none).
 */
export function currentTenant() {
  const stored = getStoredTenant();
  if (Array.isArray(session.tenants) && session.tenants.length > 0) {
    return session.tenants.includes(stored) ? stored : session.tenants[0];
  }
  // The free-text tenant of the settings is only offered with auth off.
  return session.known && !session.auth ? stored || null : null;
}

/** `{actor}` to merge into an action body: only with auth off and a name set. */
export function actorField() {
  if (session.auth) return {};
  const name = getActorName();
  return name ? { actor: name } : {};
}

function headers(withBody, accept = "application/json", withTenant = true) {
  const h = { Accept: accept };
  if (withBody) h["Content-Type"] = "application/json";
  const token = getToken();
  if (token) h.Authorization = `Bearer ${token}`;
  const tenant = withTenant ? currentTenant() : null;
  if (tenant) h["X-Junction-Tenant"] = tenant;
  return h;
}

export function withQuery(path, query) {
  if (!query) return path;
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== "") qs.append(k, String(v));
  }
  const s = qs.toString();
  return s ? `${path}?${s}` : path;
}

/** Encodes one path segment (ids are restricted by the API, but stay safe). */
export function seg(id) {
  return encodeURIComponent(String(id));
}

async function errorFrom(res) {
  let text = "";
  try {
    text = await res.text();
  } catch (e) {
    if (e.name === "AbortError") throw e;
  }
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (data && data.error && typeof data.error === "object") {
    return new ApiError(res.status, String(data.error.code || `HTTP_${res.status}`),
      String(data.error.message || res.statusText || ""), data.error.details);
  }
  const message = text.trim().slice(0, 300) || res.statusText || `HTTP ${res.status}`;
  return new ApiError(res.status, `HTTP_${res.status}`, message);
}

function unreachableError() {
  return new ApiError(0, "UNREACHABLE", "The Junction API cannot be reached (network error).");
}

function reportStatus(err, quiet401) {
  if (err.status === 502 || err.status === 503 || err.status === 504) hooks.onUnreachable(err);
  else hooks.onReachable();
  if (err.status === 401 && !quiet401) hooks.onUnauthenticated(err);
}

/**
 * One JSON call. `query` values that are empty are left out; `body` is sent as
 * JSON; `tenant: false` leaves out X-Junction-Tenant (GET /v1/session), and
 * `quiet401` does not send the user to the sign-in page. Resolves to the parsed
 * reply; rejects with ApiError (or AbortError).
 */
export async function api(path, { method = "GET", query, body, signal, quiet401 = false, tenant = true } = {}) {
  const hasBody = body !== undefined;
  let res;
  try {
    res = await fetch(withQuery(path, query), {
      method,
      headers: headers(hasBody, "application/json", tenant),
      body: hasBody ? JSON.stringify(body) : undefined,
      signal,
      cache: "no-store",
      credentials: "same-origin",
    });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    const err = unreachableError();
    hooks.onUnreachable(err);
    throw err;
  }
  if (!res.ok) {
    const err = await errorFrom(res);
    reportStatus(err, quiet401);
    throw err;
  }
  hooks.onReachable();
  const text = await res.text();
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(res.status, "BAD_REPLY", "The API answered something that is not JSON.");
  }
}

/**
 * Reads GET /v1/runs/{id}/stream?after_seq=N as text/event-stream and calls
 * onEvent(eventJson) per message. Resolves when the server ends the stream;
 * rejects on a network error, an HTTP error (ApiError), a stall (no byte, not
 * even a keep-alive, for `stallMs`), or abort.
 */
export async function streamRunEvents(runId, afterSeq, onEvent, signal, stallMs = 45000) {
  return streamEvents(withQuery(`/v1/runs/${seg(runId)}/stream`, { after_seq: afterSeq }), onEvent, signal, stallMs);
}

/**
 * Reads any event stream of the API (`url`, query included) as
 * text/event-stream, as streamRunEvents does: GET /v1/events/stream too.
 * `onOpen` is called once the server has answered (it is subscribed then).
 */
export async function streamEvents(url, onEvent, signal, stallMs = 45000, onOpen = () => {}) {
  const local = new AbortController();
  const onAbort = () => local.abort();
  if (signal) {
    if (signal.aborted) local.abort();
    else signal.addEventListener("abort", onAbort, { once: true });
  }
  let stalled = false;
  let timer = 0;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = true;
      local.abort();
    }, stallMs);
  };
  try {
    arm();
    let res;
    try {
      res = await fetch(url, {
        headers: headers(false, "text/event-stream"),
        signal: local.signal,
        cache: "no-store",
        credentials: "same-origin",
      });
    } catch (e) {
      if (e.name === "AbortError" && !stalled) throw e;
      const err = unreachableError();
      if (!stalled) hooks.onUnreachable(err);
      throw err;
    }
    if (!res.ok) {
      const err = await errorFrom(res);
      reportStatus(err, false);
      throw err;
    }
    hooks.onReachable();
    onOpen();
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    const parser = sseParser(onEvent);
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (e) {
        if (e.name === "AbortError" && !stalled) throw e;
        throw unreachableError();
      }
      if (chunk.done) break;
      arm();
      parser.push(decoder.decode(chunk.value, { stream: true }));
    }
    parser.push(decoder.decode());
    parser.end();
  } finally {
    clearTimeout(timer);
    if (signal) signal.removeEventListener("abort", onAbort);
  }
}

/** An incremental text/event-stream parser (WHATWG rules, `data` parsed as JSON). */
export function sseParser(onEvent) {
  let buf = "";
  let data = [];
  const dispatch = () => {
    if (data.length > 0) {
      const text = data.join("\n");
      data = [];
      let event;
      try {
        event = JSON.parse(text);
      } catch {
        return;
      }
      onEvent(event);
    }
  };
  const line = (l) => {
    if (l === "") return dispatch();
    if (l.startsWith(":")) return undefined; // comment: keep-alive
    const c = l.indexOf(":");
    const field = c < 0 ? l : l.slice(0, c);
    let value = c < 0 ? "" : l.slice(c + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") data.push(value);
    // `id`, `event` and `retry` are not needed: the JSON carries seq and type.
    return undefined;
  };
  return {
    push(text) {
      buf += text;
      for (;;) {
        const m = /\r\n|\r|\n/.exec(buf);
        if (!m) break;
        // A lone "\r" at the very end may be the first half of "\r\n".
        if (m[0] === "\r" && m.index === buf.length - 1) break;
        line(buf.slice(0, m.index));
        buf = buf.slice(m.index + m[0].length);
      }
    },
    end() {
      if (buf.endsWith("\r")) buf = buf.slice(0, -1);
      if (buf !== "") line(buf);
      buf = "";
      data = []; // an unterminated message is dropped, as the spec says
    },
  };
}
