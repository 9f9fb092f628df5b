// dom.js: DOM helpers shared by every page: the h()/s() element builders (text
// only ever goes in as text nodes), status badges, times, JSON views (pretty
// and a collapsible tree), error boxes, announcements and clipboard copy.

const SVG_NS = "http://www.w3.org/2000/svg";

export const RUN_STATUSES = [
  "PENDING", "RUNNING", "WAITING_APPROVAL", "WAITING_SIGNAL", "PAUSED",
  "COMPLETED", "FAILED", "TIMED_OUT", "CANCELLED",
];
export const TERMINAL = new Set(["COMPLETED", "FAILED", "TIMED_OUT", "CANCELLED"]);

function appendChildren(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) appendChildren(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

function setAttrs(el, attrs, isSvg) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2).toLowerCase(), v);
    } else if (k === "testid") {
      el.setAttribute("data-testid", v);
    } else if (k === "dataset") {
      for (const [dk, dv] of Object.entries(v)) if (dv !== null && dv !== undefined) el.dataset[dk] = String(dv);
    } else if (!isSvg && (k === "value" || k === "checked" || k === "selected" || k === "indeterminate")) {
      el[k] = v;
    } else if (k === "style") {
      throw new Error("inline style attributes are not allowed by the CSP; use classes or el.style");
    } else {
      el.setAttribute(k, v === true ? "" : String(v));
    }
  }
}

/** Builds an HTML element: h("a", {href, class, testid, onclick}, "text", child, [more]). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs, false);
  appendChildren(el, children);
  return el;
}

/** Builds an SVG element, like h(). */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs, true);
  appendChildren(el, children);
  return el;
}

/** Replaces every child of el. */
export function replaceChildren(el, ...children) {
  el.textContent = "";
  appendChildren(el, children);
  return el;
}

/** A status badge whose text is the status (colour is only a second cue). */
export function statusBadge(status, testid) {
  const text = status ? String(status) : "UNKNOWN";
  return h("span", { class: `badge status-${text.replace(/[^A-Z_]/g, "")}`, testid }, text);
}

function pad(n, w = 2) {
  return String(n).padStart(w, "0");
}

/** "2026-12-05 11:00:00" in the browser's time zone. */
export function formatTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A <time> element showing local time, the ISO string in its title. */
export function timeEl(iso, fallback = "—") {
  if (!iso) return h("span", { class: "muted" }, fallback);
  return h("time", { datetime: iso, title: iso }, formatTime(iso));
}

/** "1.2 s", "3 min 4 s" between two ISO times (or until now). */
export function duration(fromIso, toIso) {
  if (!fromIso) return "";
  const a = new Date(fromIso).getTime();
  const b = toIso ? new Date(toIso).getTime() : Date.now();
  if (Number.isNaN(a) || Number.isNaN(b)) return "";
  const ms = Math.max(0, b - a);
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  const min = Math.floor(ms / 60000);
  if (min < 60) return `${min} min ${Math.floor((ms % 60000) / 1000)} s`;
  return `${Math.floor(min / 60)} h ${min % 60} min`;
}

/** JSON as indented text ("" for undefined). */
export function jsonText(value) {
  if (value === undefined) return "";
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}

/** A <pre> of pretty JSON. */
export function prettyJson(value, attrs = {}) {
  return h("pre", { class: "json", ...attrs }, jsonText(value));
}

function scalar(value) {
  if (value === null) return h("span", { class: "j-null" }, "null");
  switch (typeof value) {
    case "string": return h("span", { class: "j-str" }, JSON.stringify(value));
    case "number": return h("span", { class: "j-num" }, String(value));
    case "boolean": return h("span", { class: "j-bool" }, String(value));
    default: return h("span", {}, String(value));
  }
}

/**
 * A collapsible JSON tree of <details> elements. `open` is a Set of paths
 * kept open across re-renders (it is updated as the user toggles); nodes down
 * to `depth` start open the first time they are seen.
 */
export function jsonTree(value, open = new Set(), depth = 1) {
  const seen = open.__seen || (open.__seen = new Set());
  const node = (key, v, path, level) => {
    const label = key === null ? null : h("span", { class: "j-key" }, `${key}: `);
    if (v === null || typeof v !== "object") {
      return h("li", {}, label, scalar(v));
    }
    const isArray = Array.isArray(v);
    const entries = isArray ? v.map((x, i) => [String(i), x]) : Object.entries(v);
    const summaryText = isArray ? `[${entries.length} item${entries.length === 1 ? "" : "s"}]`
      : `{${entries.length} key${entries.length === 1 ? "" : "s"}}`;
    if (entries.length === 0) return h("li", {}, label, h("span", { class: "j-empty" }, isArray ? "[]" : "{}"));
    if (!seen.has(path)) {
      seen.add(path);
      if (level < depth) open.add(path);
    }
    const details = h("details", { open: open.has(path) },
      h("summary", {}, label, h("span", { class: "j-sum" }, summaryText)),
      h("ul", { class: "j-list" }, entries.map(([k, x]) => node(isArray ? `[${k}]` : k, x, `${path}/${k}`, level + 1))));
    details.addEventListener("toggle", () => {
      if (details.open) open.add(path);
      else open.delete(path);
    });
    return h("li", {}, details);
  };
  return h("ul", { class: "json-tree" }, node(null, value, "$", 0));
}

/** A visible error (role=alert) with the API's code and message. */
export function errorBox(err, title = "Something went wrong") {
  const code = err && err.code ? err.code : "ERROR";
  const status = err && err.status ? ` (HTTP ${err.status})` : "";
  const message = err && err.message ? err.message : String(err);
  return h("div", { class: "alert alert-error", role: "alert", testid: "page-error" },
    h("strong", {}, `${title}: `),
    h("code", { class: "err-code" }, code), status, " ", message);
}

/** "CODE: message" for an error, as text. */
export function errorText(err) {
  if (!err) return "";
  if (err.code) return `${err.code}${err.status ? ` (HTTP ${err.status})` : ""}: ${err.message}`;
  return String(err.message || err);
}

let liveRegion = null;

/** Says a short message in the global polite live region. */
export function announce(message) {
  if (!liveRegion) liveRegion = document.getElementById("announcer");
  if (!liveRegion) return;
  liveRegion.textContent = "";
  setTimeout(() => { liveRegion.textContent = message; }, 30);
}

/** Copies text to the clipboard; resolves true on success. */
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    /* fall through to the textarea method */
  }
  const ta = h("textarea", { class: "offscreen", readonly: true, "aria-hidden": "true" });
  ta.value = text;
  document.body.appendChild(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  ta.remove();
  return ok;
}

/** A table in a horizontally scrolling wrapper; headers are [text] with scope=col. */
export function table(caption, headers, rows, attrs = {}) {
  return h("div", { class: "table-wrap" },
    h("table", attrs,
      caption ? h("caption", { class: "visually-hidden" }, caption) : null,
      h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows)));
}

/** A definition list from [term, value] pairs (null values skipped). */
export function dl(pairs, cls = "facts") {
  const items = [];
  for (const [term, value] of pairs) {
    if (value === null || value === undefined || value === "") continue;
    items.push(h("div", {}, h("dt", {}, term), h("dd", {}, value)));
  }
  return h("dl", { class: cls }, items);
}

/** Sleeps ms, or rejects with AbortError when the signal aborts. */
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal && signal.aborted) return reject(new DOMException("aborted", "AbortError"));
    const t = setTimeout(() => {
      if (signal) signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new DOMException("aborted", "AbortError"));
    };
    if (signal) signal.addEventListener("abort", onAbort, { once: true });
  });
}

export function isAbort(e) {
  return e && e.name === "AbortError";
}

/** A hash link: href "#/runs/<id>" with the id encoded. */
export function link(hash, text, attrs = {}) {
  return h("a", { href: hash, ...attrs }, text);
}

export function runHash(id) {
  return `#/runs/${encodeURIComponent(id)}`;
}

export function workflowHash(id, version) {
  return `#/workflows/${encodeURIComponent(id)}${version ? `?version=${encodeURIComponent(version)}` : ""}`;
}

/** A short one-line preview of a JSON value (for tables and timelines). */
export function preview(value, max = 80) {
  if (value === undefined) return "";
  let text;
  try {
    text = typeof value === "string" ? value : JSON.stringify(value);
  } catch {
    text = String(value);
  }
  if (text === undefined) return "";
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Navigation counter, bumped by the router; lets async work know it is stale. */
export const nav = { seq: 0 };

/**
 * Runs fn with document.body.dataset.ready = "false", back to "true" when it
 * ends, unless a navigation happened meanwhile (the router then owns the flag).
 */
export async function busy(fn) {
  const seq = nav.seq;
  document.body.dataset.ready = "false";
  try {
    return await fn();
  } finally {
    if (seq === nav.seq) document.body.dataset.ready = "true";
  }
}
