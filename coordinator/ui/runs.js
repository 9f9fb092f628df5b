// runs.js: the runs list (#/runs?status=&workflow_id=&after=&before=):
// filters kept in the hash, "Older" paging via next_cursor, a client-side
// created-time filter, and a 5 s auto-refresh while the tab is visible.

import { api } from "./api.js";
import {
  h, replaceChildren, statusBadge, timeEl, table, errorBox, link, runHash, workflowHash, isAbort,
  RUN_STATUSES, duration,
} from "./dom.js";

const PAGE = 50;
const AUTO_PAGES = 10;

function parseLocal(value) {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

export async function listPage(ctx) {
  ctx.setTitle("Runs");
  const f = {
    status: ctx.query.get("status") || "",
    workflow_id: ctx.query.get("workflow_id") || "",
    after: ctx.query.get("after") || "",
    before: ctx.query.get("before") || "",
  };
  if (f.status && !RUN_STATUSES.includes(f.status)) f.status = "";
  let runs = [];
  let cursor = null;
  let loading = false;

  const statusSel = h("select", { id: "f-status", name: "status", testid: "filter-status" },
    h("option", { value: "" }, "Any status"),
    RUN_STATUSES.map((st) => h("option", { value: st }, st)));
  statusSel.value = f.status;
  const wfInput = h("input", {
    id: "f-workflow", name: "workflow_id", type: "text", list: "f-workflow-list", value: f.workflow_id,
    testid: "filter-workflow", autocomplete: "off", spellcheck: "false", placeholder: "any workflow",
  });
  const wfList = h("datalist", { id: "f-workflow-list" });
  const afterInput = h("input", { id: "f-after", name: "after", type: "datetime-local", value: f.after, testid: "filter-after", step: 1 });
  const beforeInput = h("input", { id: "f-before", name: "before", type: "datetime-local", value: f.before, testid: "filter-before", step: 1 });
  const clearBtn = h("button", { type: "button", class: "btn" }, "Clear");
  const form = h("form", { class: "filters card", role: "search", "aria-label": "Filter runs" },
    h("div", { class: "field" }, h("label", { for: "f-status" }, "Status"), statusSel),
    h("div", { class: "field" }, h("label", { for: "f-workflow" }, "Workflow"), wfInput, wfList),
    h("div", { class: "field" }, h("label", { for: "f-after" }, "Created after"), afterInput),
    h("div", { class: "field" }, h("label", { for: "f-before" }, "Created before"), beforeInput),
    h("div", { class: "field field-buttons" }, h("button", { type: "submit", class: "btn btn-primary" }, "Apply"), clearBtn));
  const info = h("p", { class: "muted", "aria-live": "polite", testid: "runs-info" });
  const listBox = h("div", {});
  const older = h("button", { type: "button", class: "btn", testid: "runs-older", hidden: true }, "Older");
  const refreshNote = h("span", { class: "muted small" }, "Refreshes every 5 s.");
  ctx.main.append(
    h("div", { class: "page-head" }, h("h1", {}, "Runs"), refreshNote),
    form, info, listBox, h("div", { class: "pager" }, older));

  // Workflow ids for the datalist (not needed for the page to work).
  api("/v1/workflows", { signal: ctx.signal }).then((r) => {
    replaceChildren(wfList, (r.workflows || []).map((w) => h("option", { value: w.id })));
  }).catch(() => {});

  const readForm = () => {
    f.status = statusSel.value;
    f.workflow_id = wfInput.value.trim();
    f.after = afterInput.value;
    f.before = beforeInput.value;
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(f)) if (v) qs.set(k, v);
    const s = qs.toString();
    ctx.replaceHash(`#/runs${s ? `?${s}` : ""}`);
  };

  const apiQuery = (extra) => ({ status: f.status, workflow_id: f.workflow_id, ...extra });

  const render = () => {
    const after = parseLocal(f.after);
    const before = parseLocal(f.before);
    const shown = runs.filter((r) => {
      const t = new Date(r.created_at);
      if (after && !(t > after)) return false;
      if (before && !(t < before)) return false;
      return true;
    });
    const timeFiltered = after || before;
    info.textContent = runs.length === 0 ? "" :
      `${shown.length} run${shown.length === 1 ? "" : "s"} shown` +
      (timeFiltered ? ` of ${runs.length} loaded (the time filter applies to loaded pages)` : "") +
      (cursor ? "; older runs exist." : ".");
    if (shown.length === 0) {
      replaceChildren(listBox, h("p", { class: "empty", testid: "runs-empty" },
        runs.length === 0 ? "No runs match these filters." : "No loaded run matches the time filter. Load older runs, or change it."));
    } else {
      const rows = shown.map((r) => h("tr", { testid: "run-row", "data-id": r.id, "data-status": r.status },
        h("th", { scope: "row" }, link(runHash(r.id), r.id, { class: "mono" })),
        h("td", {}, link(workflowHash(r.workflow_id, r.version), r.workflow_id), h("span", { class: "muted" }, ` v${r.version}`)),
        h("td", {}, statusBadge(r.status)),
        h("td", {}, timeEl(r.created_at)),
        h("td", {}, timeEl(r.ended_at, "—")),
        h("td", { class: "num" }, r.created_at ? duration(r.created_at, r.ended_at) : ""),
        h("td", {}, r.error ? h("code", { title: r.error.message || "" }, r.error.code || "") : "")));
      replaceChildren(listBox, table("Runs, newest first",
        ["Run", "Workflow", "Status", "Created", "Ended", "Duration", "Error"], rows, { class: "data", testid: "runs-table" }));
    }
    older.hidden = !cursor;
  };

  const needOlder = () => {
    const before = parseLocal(f.before);
    if (!before || !cursor || runs.length === 0) return false;
    return new Date(runs[runs.length - 1].created_at) >= before;
  };

  const load = async (mode) => {
    if (loading && mode === "refresh") return;
    loading = true;
    try {
      if (mode === "older") {
        const r = await api("/v1/runs", { query: apiQuery({ limit: PAGE, cursor }), signal: ctx.signal });
        const known = new Set(runs.map((x) => x.id));
        runs = runs.concat((r.runs || []).filter((x) => !known.has(x.id)));
        cursor = r.next_cursor || null;
      } else {
        const limit = Math.min(1000, Math.max(PAGE, runs.length));
        const r = await api("/v1/runs", { query: apiQuery({ limit }), signal: ctx.signal });
        runs = r.runs || [];
        cursor = r.next_cursor || null;
        if (mode === "reset") {
          for (let i = 0; i < AUTO_PAGES && needOlder(); i++) {
            const more = await api("/v1/runs", { query: apiQuery({ limit: PAGE, cursor }), signal: ctx.signal });
            runs = runs.concat(more.runs || []);
            cursor = more.next_cursor || null;
          }
        }
      }
      render();
    } catch (e) {
      if (isAbort(e)) throw e;
      if (mode !== "refresh" || e.status !== 0) replaceChildren(listBox, errorBox(e, "Could not load runs"));
      older.hidden = true;
    } finally {
      loading = false;
    }
  };

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    readForm();
    runs = [];
    cursor = null;
    load("reset").catch(() => {});
  });
  statusSel.addEventListener("change", () => form.requestSubmit());
  wfInput.addEventListener("change", () => { if (wfInput.value.trim() !== f.workflow_id) form.requestSubmit(); });
  afterInput.addEventListener("change", () => { readForm(); render(); });
  beforeInput.addEventListener("change", () => { readForm(); render(); });
  clearBtn.addEventListener("click", () => {
    statusSel.value = "";
    wfInput.value = "";
    afterInput.value = "";
    beforeInput.value = "";
    form.requestSubmit();
  });
  older.addEventListener("click", async () => {
    older.disabled = true;
    try {
      await load("older");
    } catch { /* aborted */ }
    older.disabled = false;
  });

  ctx.every(5000, () => { load("refresh").catch(() => {}); });
  await load("reset");
}
