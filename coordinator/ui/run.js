// run.js: a run's page (#/runs/<id>): header (status, workflow, times, trace),
// operator actions (cancel, pause, resume, redrive, signal) with confirmation,
// the graph coloured by step status, the live timeline (SSE via fetch), the
// steps table with each attempt's input/output/error, and the context tree.

import { api, seg, actorField, streamRunEvents } from "./api.js";
import {
  h, replaceChildren, statusBadge, timeEl, dl, errorBox, link, workflowHash, isAbort, sleep,
  jsonTree, prettyJson, jsonText, copyText, announce, duration, TERMINAL, busy,
} from "./dom.js";
import { confirmDialog, jsonObjectError } from "./dialog.js";
import { renderGraph, statusesByPath } from "./graph.js";
import { createTimeline } from "./timeline.js";

const PAUSABLE = new Set(["RUNNING", "WAITING_APPROVAL", "WAITING_SIGNAL"]);
const REDRIVABLE = new Set(["FAILED", "TIMED_OUT", "CANCELLED"]);
const SIGNAL_NAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

const ACTIONS = [
  { key: "cancel", label: "Cancel", danger: true, reason: true, allowed: (s) => !TERMINAL.has(s),
    title: "Cancel this run?", text: "Running steps, their agents and child runs are cancelled; pending approvals are closed." },
  { key: "pause", label: "Pause", reason: true, allowed: (s) => PAUSABLE.has(s),
    title: "Pause this run?", text: "No new step starts; attempts in flight finish." },
  { key: "resume", label: "Resume", reason: true, allowed: (s) => s === "PAUSED",
    title: "Resume this run?", text: "The run goes back to the status it had before the pause." },
  { key: "redrive", label: "Redrive", reason: true, allowed: (s) => REDRIVABLE.has(s),
    title: "Redrive this run?", text: "The run goes on in the same id: only what failed or was cut short runs again." },
  { key: "signal", label: "Send signal…", allowed: (s) => !TERMINAL.has(s),
    title: "Send a signal into this run", text: "A signal.wait state waiting for this name takes it; otherwise the run keeps it for the next such wait." },
];

function traceView(traceId) {
  if (!traceId) return null;
  const tpl = document.body.dataset.traceUrl || "";
  const parts = [h("code", { testid: "trace-id" }, traceId)];
  if (/^https?:\/\//i.test(tpl) && tpl.includes("{trace_id}")) {
    const href = tpl.split("{trace_id}").join(encodeURIComponent(traceId));
    parts.push(" ", h("a", { href, target: "_blank", rel: "noopener noreferrer", testid: "trace-link" }, "Open trace"));
  }
  const copy = h("button", { type: "button", class: "btn btn-small", testid: "trace-copy" }, "Copy");
  copy.addEventListener("click", async () => {
    const ok = await copyText(traceId);
    announce(ok ? "Trace id copied." : "Could not copy; select the id instead.");
    copy.textContent = ok ? "Copied" : "Copy failed";
    setTimeout(() => { copy.textContent = "Copy"; }, 1500);
  });
  parts.push(" ", copy);
  return h("span", { class: "trace" }, parts);
}

export async function detailPage(ctx) {
  const id = ctx.params[0];
  ctx.setTitle(`Run ${id}`);
  const path = `/v1/runs/${seg(id)}`;
  ctx.main.append(h("div", { class: "page-head" }, h("h1", {}, "Run ", h("span", { class: "mono break" }, id))));
  let run = (await api(path, { signal: ctx.signal })).run;

  const headBox = h("div", {});
  const result = h("div", { class: "action-result", testid: "action-result", role: "status", "aria-live": "polite" });
  const buttons = new Map();
  const actionBar = h("div", { class: "actions", role: "group", "aria-label": "Run actions" },
    ACTIONS.map((a) => {
      const b = h("button", { type: "button", class: a.danger ? "btn btn-danger" : "btn", testid: `action-${a.key}` }, a.label);
      b.addEventListener("click", () => act(a));
      buttons.set(a.key, b);
      return b;
    }));
  const graphBox = h("div", {}, h("p", { class: "muted" }, "Loading the graph…"));
  const stepsBox = h("div", {});
  const contextBox = h("div", { testid: "context" });
  const timeline = createTimeline();
  const openCtx = new Set();
  const expanded = new Set();
  let graph = null;
  let lastContext = "";

  ctx.main.append(
    headBox,
    h("section", { class: "card", "aria-labelledby": "actions-h" }, h("h2", { id: "actions-h", class: "visually-hidden" }, "Actions"), actionBar, result),
    h("section", { class: "card", "aria-labelledby": "rgraph-h" }, h("h2", { id: "rgraph-h" }, "Graph"), graphBox),
    h("section", { class: "card", "aria-labelledby": "steps-h" }, h("h2", { id: "steps-h" }, "Steps"), stepsBox),
    h("div", { class: "cols cols-wide" },
      h("section", { class: "card", "aria-labelledby": "timeline-h" },
        h("div", { class: "section-head" }, h("h2", { id: "timeline-h" }, "Timeline"), timeline.state), timeline.el),
      h("section", { class: "card", "aria-labelledby": "context-h" },
        h("div", { class: "section-head" }, h("h2", { id: "context-h" }, "Context"),
          h("button", { type: "button", class: "btn btn-small", onclick: async () => {
            announce((await copyText(jsonText(run.context))) ? "Context copied as JSON." : "Could not copy.");
          } }, "Copy JSON")),
        contextBox)));

  /* ----- rendering ----- */

  let lastHead = null;
  const renderHead = () => {
    // Re-rendered only when the run's own fields change (keeps focus and open details).
    const sig = jsonText({ ...run, steps: undefined, context: undefined });
    if (sig === lastHead) return;
    lastHead = sig;
    const err = run.error ? h("div", { class: "alert alert-error", testid: "run-error" },
      h("strong", {}, "Error: "), h("code", {}, run.error.code || ""), " ", run.error.message || "",
      run.error.state ? h("span", { class: "muted" }, ` (state ${run.error.state}${run.error.attempt ? `, attempt ${run.error.attempt}` : ""})`) : null) : null;
    replaceChildren(headBox, h("div", { class: "card run-head" },
      dl([
        ["Status", statusBadge(run.status, "run-status")],
        ["Workflow", h("span", {}, link(workflowHash(run.workflow_id, run.version), run.workflow_id, { testid: "run-workflow" }),
          " ", link(workflowHash(run.workflow_id, run.version), `v${run.version}`, { class: "muted", "aria-label": `version ${run.version}` }))],
        ["Created", timeEl(run.created_at)],
        ["Ended", run.ended_at ? timeEl(run.ended_at) : null],
        ["Duration", run.created_at ? duration(run.created_at, run.ended_at) + (run.ended_at ? "" : " so far") : null],
        ["Trace", traceView(run.trace_id)],
        ["Correlation id", run.correlation_id ? h("code", {}, run.correlation_id) : null],
        ["Caused by", run.causation_id ? h("code", {}, run.causation_id) : null],
        ["Tenant", run.tenant],
      ]),
      err,
      h("details", { class: "run-input" }, h("summary", {}, "Run input"), prettyJson(run.input))));
  };

  const renderButtons = () => {
    for (const a of ACTIONS) {
      const b = buttons.get(a.key);
      const ok = a.allowed(run.status);
      b.disabled = !ok;
      b.title = ok ? "" : `Not possible while the run is ${run.status}`;
    }
  };

  let lastSteps = null;
  const renderSteps = () => {
    const steps = run.steps || [];
    const text = jsonText(steps);
    if (text === lastSteps) return;
    lastSteps = text;
    // Keep keyboard focus on the same toggle across a re-render.
    const focused = stepsBox.contains(document.activeElement) ? document.activeElement.dataset.key : null;
    if (steps.length === 0) {
      replaceChildren(stepsBox, h("p", { class: "muted" }, "No step has started yet."));
      return;
    }
    const rows = [];
    steps.forEach((st, i) => {
      const key = `${st.step_id}:${st.attempt}`;
      const detailId = `step-detail-${i}`;
      const open = expanded.has(key);
      const toggle = h("button", {
        type: "button", class: "btn btn-small toggle", "aria-expanded": open ? "true" : "false", "aria-controls": detailId,
        testid: "step-toggle", "aria-label": `Details of ${st.path || st.state} attempt ${st.attempt}`, "data-key": key,
      }, open ? "▾" : "▸");
      const detail = h("tr", { id: detailId, class: "step-detail", hidden: !open, testid: "step-detail" },
        h("td", { colspan: 7 }, stepDetail(st)));
      toggle.addEventListener("click", () => {
        const now = !expanded.has(key);
        if (now) expanded.add(key);
        else expanded.delete(key);
        detail.hidden = !now;
        toggle.setAttribute("aria-expanded", now ? "true" : "false");
        toggle.textContent = now ? "▾" : "▸";
      });
      rows.push(h("tr", { testid: "step-row", "data-path": st.path, "data-status": st.status, "data-attempt": st.attempt, "data-step-id": st.step_id },
        h("td", {}, toggle),
        h("th", { scope: "row" }, h("span", { class: "mono" }, st.path || st.state),
          st.path && st.state && st.path !== st.state ? h("span", { class: "muted small" }, ` (${st.state})`) : null),
        h("td", {}, statusBadge(st.status), st.waiting_reason ? h("div", { class: "muted small" }, st.waiting_reason) : null),
        h("td", { class: "num" }, String(st.attempt ?? "")),
        h("td", {}, st.worker_id || h("span", { class: "muted" }, "—")),
        h("td", {}, timeEl(st.started_at)),
        h("td", {}, timeEl(st.ended_at))));
      rows.push(detail);
    });
    replaceChildren(stepsBox, h("div", { class: "table-wrap" }, h("table", { class: "data steps", testid: "steps-table" },
      h("caption", { class: "visually-hidden" }, "Step attempts"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Details")),
        ["Step", "Status", "Attempt", "Worker", "Started", "Ended"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows))));
    if (focused) {
      const again = [...stepsBox.querySelectorAll("button[data-key]")].find((b) => b.dataset.key === focused);
      if (again) again.focus();
    }
  };

  const renderContext = () => {
    const text = jsonText(run.context);
    if (text === lastContext) return;
    lastContext = text;
    replaceChildren(contextBox, run.context === undefined ? h("p", { class: "muted" }, "No context.") : jsonTree(run.context, openCtx, 2));
  };

  const renderAll = () => {
    renderHead();
    renderButtons();
    renderSteps();
    renderContext();
    if (graph) graph.update(statusesByPath(run.steps));
  };

  /* ----- refresh (≤ 1 per 500 ms) ----- */

  // refresh() resolves once a GET that started after the call has been rendered.
  let inflight = null;
  let timer = 0;
  let lastRefresh = 0;
  const refresh = async () => {
    if (inflight) await inflight;
    if (inflight) return inflight;
    lastRefresh = Date.now();
    inflight = (async () => {
      try {
        run = (await api(path, { signal: ctx.signal })).run;
        renderAll();
      } catch (e) {
        if (!isAbort(e) && e.status !== 0) replaceChildren(result, errorBox(e, "Could not refresh the run"));
      } finally {
        inflight = null;
      }
    })();
    return inflight;
  };
  const scheduleRefresh = () => {
    if (timer) return;
    timer = setTimeout(() => { timer = 0; refresh(); }, Math.max(0, lastRefresh + 500 - Date.now()));
  };
  ctx.onCleanup(() => clearTimeout(timer));

  /* ----- events: history, then the live stream ----- */

  let following = false;
  const follow = async () => {
    if (following || ctx.signal.aborted) return;
    following = true;
    let failures = 0;
    try {
      for (;;) {
        timeline.setState("● Live", "live");
        try {
          await streamRunEvents(id, timeline.lastSeq, (ev) => {
            if (timeline.add([ev])) scheduleRefresh();
          }, ctx.signal);
          failures = 0;
          await refresh();
          if (TERMINAL.has(run.status)) break;
          await sleep(1000, ctx.signal);
        } catch (e) {
          if (isAbort(e) || ctx.signal.aborted) return;
          if (e.status === 404 || e.status === 401 || e.status === 403) {
            timeline.setState(`Live updates stopped (${e.code})`, "down");
            return;
          }
          failures++;
          timeline.setState("Reconnecting…", "down");
          await sleep(Math.min(10000, 1000 * 2 ** Math.min(failures - 1, 3)), ctx.signal);
        }
      }
      timeline.setState("Run ended", "ended");
    } catch (e) {
      if (!isAbort(e)) throw e;
    } finally {
      following = false;
    }
  };

  const loadHistory = async () => {
    for (let page = 0; page < 50; page++) {
      const r = await api(`${path}/events`, { query: { after_seq: timeline.lastSeq, limit: 1000 }, signal: ctx.signal });
      const events = r.events || [];
      timeline.add(events);
      if (events.length < 1000) break;
    }
  };

  /* ----- actions ----- */

  async function act(a) {
    const fields = a.key === "signal" ? [
      { name: "name", label: "Signal name", testid: "signal-name", required: true, placeholder: "payment.received",
        hint: "Dot-separated tokens of letters, digits, _ and -.",
        validate: (v) => (v.trim().length > 256 ? "At most 256 characters." : SIGNAL_NAME.test(v.trim()) ? null : "Use dot-separated tokens of letters, digits, _ and -.") },
      { name: "data", label: "Data (JSON object, optional)", testid: "signal-data", kind: "textarea", value: "{}", rows: 5,
        validate: (v) => jsonObjectError(v, true) },
    ] : [];
    const r = await confirmDialog({
      title: a.title, message: a.text, reason: a.reason, fields, danger: a.danger,
      okLabel: a.key === "signal" ? "Send signal" : `${a.label} run`,
    });
    if (!r) return;
    let body;
    if (a.key === "signal") {
      body = { name: r.values.name.trim() };
      if (r.values.data.trim() !== "") body.data = JSON.parse(r.values.data);
    } else {
      body = { ...actorField() };
      if (r.reason) body.reason = r.reason;
    }
    const b = buttons.get(a.key);
    b.disabled = true;
    replaceChildren(result, h("p", { class: "muted" }, `${a.label.replace("…", "")}…`));
    try {
      await busy(async () => {
        const reply = await api(`${path}/${a.key}`, { method: "POST", body, signal: ctx.signal });
        const msg = a.key === "signal" ? `Signal ${body.name} sent.` : `${a.label} done: the run is ${reply.status || "updated"}.`;
        replaceChildren(result, h("p", { class: "alert alert-ok", testid: "action-ok" }, msg));
        await refresh();
      });
      if (!TERMINAL.has(run.status)) follow();
    } catch (e) {
      if (isAbort(e)) return;
      replaceChildren(result, h("div", { class: "alert alert-error", role: "alert", testid: "action-error", "data-code": e.code || "" },
        h("strong", {}, `${a.label.replace("…", "")} refused: `), h("code", {}, e.code || "ERROR"),
        e.status ? ` (HTTP ${e.status})` : "", " ", e.message || ""));
      renderButtons();
    }
  }

  /* ----- first load ----- */

  renderAll();
  const graphLoad = api(`/v1/workflows/${seg(run.workflow_id)}/graph`, { query: { version: run.version }, signal: ctx.signal })
    .then((g) => {
      graph = renderGraph(g.graph, { withStatus: true, title: `Graph of ${run.workflow_id} v${run.version}` });
      replaceChildren(graphBox, graph.el);
      graph.update(statusesByPath(run.steps));
    })
    .catch((e) => {
      if (isAbort(e)) throw e;
      replaceChildren(graphBox, errorBox(e, "Could not load the graph"));
    });
  const history = loadHistory().catch((e) => {
    if (isAbort(e)) throw e;
    timeline.el.prepend(errorBox(e, "Could not load the events"));
  });
  await Promise.all([graphLoad, history]);
  timeline.live();
  if (!TERMINAL.has(run.status)) {
    follow();
  } else {
    timeline.setState("Run ended", "ended");
  }
  ctx.every(10000, () => { if (!TERMINAL.has(run.status)) scheduleRefresh(); });
}

function stepDetail(st) {
  const block = (title, value, testid) => h("div", { class: "io" }, h("h3", {}, title),
    value === undefined || value === null ? h("p", { class: "muted" }, "none") : prettyJson(value, { testid }));
  return h("div", { class: "step-io" },
    dl([["Step id", h("code", {}, st.step_id)], ["State", st.state], ["Path", st.path],
      ["Waiting", st.waiting_reason], ["Duration", st.started_at ? duration(st.started_at, st.ended_at) : null]], "facts small"),
    h("div", { class: "io-grid" },
      block("Input", st.input, "step-input"),
      block("Output", st.output, "step-output"),
      block("Error", st.error, "step-error")));
}
