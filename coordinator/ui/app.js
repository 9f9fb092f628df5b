// app.js: the entry module. Loads the session (GET /v1/session), builds the
// header (navigation, approvals badge, identity / sign-out, tenant, settings),
// the error banner, and the hash router that renders each page into <main>
// and flips document.body.dataset.ready around each navigation.

import {
  api, session, setHooks, setToken, currentTenant, setStoredTenant, getStoredTenant,
  getActorName, setActorName,
} from "./api.js";
import { h, replaceChildren, errorBox, isAbort, announce, nav } from "./dom.js";
import { confirmDialog } from "./dialog.js";
import * as workflows from "./workflows.js";
import * as runs from "./runs.js";
import * as runPage from "./run.js";
import * as approvals from "./approvals.js";
import * as signin from "./signin.js";
import * as tail from "./tail.js";

const routes = [
  { re: /^\/workflows\/?$/, nav: "workflows", render: workflows.listPage },
  { re: /^\/workflows\/([^/]+)\/?$/, nav: "workflows", render: workflows.detailPage },
  { re: /^\/runs\/?$/, nav: "runs", render: runs.listPage },
  { re: /^\/runs\/([^/]+)\/?$/, nav: "runs", render: runPage.detailPage },
  { re: /^\/approvals\/?$/, nav: "approvals", render: approvals.page },
  { re: /^\/events\/?$/, nav: "events", render: tail.page },
  { re: /^\/signin\/?$/, nav: null, render: signin.page, open: true },
];

// "unknown" (session not read yet or API unreachable), "off", "in", "out".
let authState = "unknown";
let current = null; // {controller, cleanups}
let navSeq = 0;
let badgeTimer = 0;
let sessionRetry = 0;

const main = document.getElementById("main");
const banner = document.getElementById("error-banner");
const sessionBox = document.getElementById("session");
const badge = document.getElementById("approvals-count");
const badgeSr = document.getElementById("approvals-count-sr");

/* ---------- error banner ---------- */

function showBanner(err) {
  const msg = err && err.status
    ? `The Junction API is unavailable (${err.code}: ${err.message}).`
    : "The Junction API cannot be reached. Check the coordinator and your network.";
  if (banner.hidden || banner.dataset.message !== msg) {
    banner.dataset.message = msg;
    replaceChildren(banner,
      h("span", {}, msg),
      h("button", { type: "button", class: "btn btn-small", onclick: () => route() }, "Retry now"));
  }
  banner.hidden = false;
  if (authState === "unknown" && !sessionRetry) {
    sessionRetry = setTimeout(async () => {
      sessionRetry = 0;
      if (await loadSession()) route();
    }, 5000);
  }
}

function hideBanner() {
  if (!banner.hidden) banner.hidden = true;
}

/* ---------- session ---------- */

/** Takes in what GET /v1/session answered. */
function applySession(s) {
  session.known = true;
  session.auth = !!s.auth;
  session.identity = s.identity ?? null;
  session.tenants = Array.isArray(s.tenants) ? s.tenants : null;
  authState = session.auth ? "in" : "off";
}

/** Reads GET /v1/session; returns true when the answer is known. */
async function loadSession() {
  try {
    applySession(await api("/v1/session", { quiet401: true, tenant: false }));
  } catch (e) {
    if (e.status === 401) {
      session.known = true;
      session.auth = true;
      session.identity = null;
      session.tenants = null;
      authState = "out";
    } else if (e.status === 404) {
      // A coordinator without /v1/session: treat as auth off.
      session.known = true;
      session.auth = false;
      authState = "off";
    } else {
      authState = "unknown";
      renderSessionBox();
      return false;
    }
  }
  renderSessionBox();
  startBadge();
  return true;
}

/** Signs in with a token: resolves true when /v1/session accepts it. */
export async function signIn(token) {
  setToken(token);
  try {
    applySession(await api("/v1/session", { quiet401: true, tenant: false }));
    renderSessionBox();
    startBadge();
    return true;
  } catch (e) {
    setToken(null);
    throw e;
  }
}

function signOut() {
  setToken(null);
  session.identity = null;
  session.tenants = null;
  authState = "out";
  renderSessionBox();
  stopBadge();
  announce("Signed out.");
  location.hash = "#/signin";
}

function onUnauthenticated() {
  if (authState === "out" && location.hash.startsWith("#/signin")) return;
  setToken(null);
  authState = "out";
  session.auth = true;
  session.identity = null;
  renderSessionBox();
  stopBadge();
  const next = location.hash && !location.hash.startsWith("#/signin") ? location.hash : "#/workflows";
  location.hash = `#/signin?next=${encodeURIComponent(next)}`;
}

function renderSessionBox() {
  const items = [];
  if (authState === "in") {
    const tenants = session.tenants || [];
    if (tenants.length > 1) {
      const sel = h("select", { id: "tenant-select", testid: "tenant-select" },
        tenants.map((t) => h("option", { value: t }, t)));
      sel.value = currentTenant();
      sel.addEventListener("change", () => {
        setStoredTenant(sel.value);
        announce(`Tenant ${sel.value}.`);
        refreshBadge();
        route();
      });
      items.push(h("span", { class: "tenant" }, h("label", { for: "tenant-select" }, "Tenant"), sel));
    } else if (tenants.length === 1) {
      items.push(h("span", { class: "muted tenant" }, `Tenant ${tenants[0]}`));
    }
    items.push(h("span", { class: "identity", testid: "identity" }, "Signed in as ", h("strong", {}, session.identity || "?")));
    items.push(h("button", { type: "button", class: "btn btn-small", testid: "signout", onclick: signOut }, "Sign out"));
  } else if (authState === "off") {
    const name = getActorName();
    const tenant = currentTenant();
    if (tenant) items.push(h("span", { class: "muted tenant" }, `Tenant ${tenant}`));
    if (name) items.push(h("span", { class: "identity" }, "You: ", h("strong", {}, name)));
    items.push(h("button", { type: "button", class: "btn btn-small", testid: "settings", onclick: openSettings }, "Settings"));
  } else if (authState === "out") {
    items.push(h("a", { href: "#/signin", class: "btn btn-small" }, "Sign in"));
  }
  replaceChildren(sessionBox, items);
}

async function openSettings() {
  const fields = [{
    name: "actor", label: "Your name", testid: "settings-actor", value: getActorName(),
    hint: "Recorded as the actor of your approvals and run actions (auth is off). Kept in this browser.",
    validate: (v) => (v.length > 200 ? "At most 200 characters." : null),
  }];
  if (!session.tenants) {
    fields.push({
      name: "tenant", label: "Tenant", testid: "settings-tenant", value: getStoredTenant(), placeholder: "default",
      hint: "Sent as X-Junction-Tenant on every call; empty means the default tenant.",
      validate: (v) => (v.trim() === "" || /^[A-Za-z0-9_.-]{1,64}$/.test(v.trim()) ? null : "Letters, digits, _ . - (at most 64)."),
    });
  }
  const r = await confirmDialog({ title: "Settings", okLabel: "Save", fields });
  if (!r) return;
  setActorName(r.values.actor);
  const tenantChanged = "tenant" in r.values && r.values.tenant.trim() !== getStoredTenant();
  if ("tenant" in r.values) setStoredTenant(r.values.tenant);
  renderSessionBox();
  announce("Settings saved.");
  if (tenantChanged) {
    refreshBadge();
    route();
  }
}

/* ---------- approvals badge ---------- */

async function refreshBadge() {
  if (authState !== "in" && authState !== "off") return;
  try {
    const r = await api("/v1/approvals", { query: { status: "PENDING", limit: 1000 } });
    const n = (r.approvals || []).length;
    badge.textContent = n >= 1000 ? "999+" : String(n);
    badge.hidden = n === 0;
    badgeSr.textContent = n ? ` (${n} pending)` : "";
    badge.dataset.count = String(n);
  } catch {
    /* the banner says it when the API is away */
  }
}

function startBadge() {
  stopBadge();
  refreshBadge();
  badgeTimer = setInterval(() => { if (document.visibilityState === "visible") refreshBadge(); }, 15000);
}

function stopBadge() {
  clearInterval(badgeTimer);
  badgeTimer = 0;
  badge.hidden = true;
  badgeSr.textContent = "";
}

/* ---------- router ---------- */

function parseHash() {
  const raw = location.hash.startsWith("#/") ? location.hash.slice(1) : "/workflows";
  const q = raw.indexOf("?");
  const path = q < 0 ? raw : raw.slice(0, q);
  const query = new URLSearchParams(q < 0 ? "" : raw.slice(q + 1));
  const clean = path.startsWith("/") ? path : `/${path}`;
  return { path: clean === "/" ? "/workflows" : clean, query };
}

/** Sets the hash without a navigation (filters kept in the URL). */
export function replaceHash(hash) {
  if (location.hash !== hash) history.replaceState(null, "", hash);
}

function setNav(active) {
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === active) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

async function route() {
  const seq = ++navSeq;
  nav.seq = seq;
  document.body.dataset.ready = "false";
  if (current) {
    current.controller.abort();
    for (const fn of current.cleanups) {
      try { fn(); } catch { /* ignore */ }
    }
  }
  const { path, query } = parseHash();
  if (!location.hash.startsWith("#/") || location.hash === "#/") {
    history.replaceState(null, "", "#/workflows");
  }
  const found = routes.find((r) => r.re.test(path));
  const controller = new AbortController();
  const cleanups = [];
  current = { controller, cleanups };
  if (found && !found.open && authState === "out") {
    location.hash = `#/signin?next=${encodeURIComponent(location.hash || "#/workflows")}`;
    return;
  }
  setNav(found ? found.nav : null);
  const content = h("div", { class: "page" });
  replaceChildren(main, content);
  const ctx = {
    main: content,
    params: found ? path.match(found.re).slice(1).map((p) => decodeURIComponent(p)) : [],
    query,
    signal: controller.signal,
    onCleanup: (fn) => cleanups.push(fn),
    every(ms, fn) {
      const t = setInterval(() => {
        if (document.visibilityState === "visible" && !controller.signal.aborted) fn();
      }, ms);
      cleanups.push(() => clearInterval(t));
    },
    setTitle(title) { document.title = `${title} · Junction`; },
    isCurrent: () => seq === navSeq,
    session,
    authState: () => authState,
    signIn,
    refreshBadge,
    replaceHash,
  };
  try {
    if (!found) {
      ctx.setTitle("Not found");
      content.append(h("h1", { tabindex: -1 }, "Page not found"),
        h("p", {}, "Nothing lives at this address. ", h("a", { href: "#/workflows" }, "Go to the workflows.")));
    } else {
      await found.render(ctx);
    }
  } catch (e) {
    if (isAbort(e) || seq !== navSeq) return;
    if (!content.querySelector("h1")) content.prepend(h("h1", { tabindex: -1 }, "Error"));
    content.append(errorBox(e, "Could not load this page"));
  }
  if (seq !== navSeq) return;
  document.body.dataset.ready = "true";
  const h1 = content.querySelector("h1");
  if (h1 && ctx.focusHeading !== false) {
    h1.setAttribute("tabindex", "-1");
    h1.focus({ preventScroll: true });
  }
}

/* ---------- start ---------- */

setHooks({ onUnreachable: showBanner, onReachable: hideBanner, onUnauthenticated });
window.addEventListener("hashchange", () => {
  // Only "#/..." addresses are pages; anything else (an in-page anchor) is not a navigation.
  if (location.hash === "" || location.hash.startsWith("#/")) route();
});
// A click on a page link flags "not ready" at once (hashchange fires a moment later).
document.addEventListener("click", (ev) => {
  const a = ev.target instanceof Element ? ev.target.closest("a[href^='#/']") : null;
  if (a && !ev.defaultPrevented && ev.button === 0 && !ev.ctrlKey && !ev.metaKey && !ev.shiftKey
      && a.getAttribute("href") !== location.hash) {
    document.body.dataset.ready = "false";
  }
});
const skip = document.querySelector(".skip-link");
if (skip) {
  skip.addEventListener("click", (ev) => {
    ev.preventDefault();
    main.focus();
  });
}
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") refreshBadge();
});

(async () => {
  document.body.dataset.ready = "false";
  await loadSession();
  route();
})();
