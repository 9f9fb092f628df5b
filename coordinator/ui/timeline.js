// timeline.js: the run page's event timeline: one entry per lifecycle event
// (seq, time, type, step, a one-line summary and the data as JSON), kept in
// seq order without repeats, announced through an aria-live list.

import { h, formatTime, preview, prettyJson } from "./dom.js";

function who(d) {
  const parts = [];
  if (d && d.actor) parts.push(`by ${d.actor}`);
  if (d && d.reason) parts.push(`reason: ${d.reason}`);
  if (d && d.comment) parts.push(`comment: ${d.comment}`);
  return parts.join(", ");
}

function errorLine(err) {
  if (!err) return "";
  return `${err.code || "ERROR"}: ${err.message || ""}`;
}

/** A one-line, human summary of an event's data. */
export function summarize(ev) {
  const d = ev.data || {};
  switch (ev.type) {
    case "workflow.run.started": return `input ${preview(d.input, 100)}`;
    case "workflow.run.completed": return `output ${preview(d.output, 100)}`;
    case "workflow.run.failed":
    case "workflow.run.timed_out":
    case "workflow.step.failed":
    case "workflow.step.timed_out":
    case "workflow.step.cancelled": return errorLine(d.error);
    case "workflow.run.cancelled": return [errorLine(d.error), who(d)].filter(Boolean).join(" — ");
    case "workflow.run.paused":
    case "workflow.run.resumed": return who(d);
    case "workflow.run.waiting": return `waiting for ${d.on || "?"}`;
    case "workflow.run.redriven": {
      const n = Array.isArray(d.steps) ? d.steps.length : 0;
      return [who(d), `${n} step${n === 1 ? "" : "s"} run again`].filter(Boolean).join(", ");
    }
    case "workflow.signal.received": return `${d.name || "?"} ${preview(d.data, 80)}`;
    case "workflow.step.started": return `input ${preview(d.input, 100)}`;
    case "workflow.step.completed": return `output ${preview(d.output, 100)}`;
    case "workflow.step.retrying":
      return `attempt ${d.next_attempt ?? "?"} in ${d.delay_seconds ?? "?"} s after ${errorLine(d.error)}`;
    case "workflow.step.warning": return `${d.code || ""}: ${d.message || ""}`;
    case "workflow.approval.requested":
      return `${d.message || "approval requested"}${Array.isArray(d.approvers) && d.approvers.length ? ` (approvers: ${d.approvers.join(", ")})` : ""}`;
    case "workflow.approval.approved":
    case "workflow.approval.rejected": return who(d);
    case "workflow.approval.timed_out": return `approval ${d.approval_id || ""} timed out`;
    default: return preview(d, 100);
  }
}

function tone(type) {
  if (/\.(failed|timed_out|rejected)$/.test(type)) return "bad";
  if (/\.(cancelled)$/.test(type)) return "muted";
  if (/\.(completed|approved)$/.test(type)) return "good";
  if (/\.(waiting|requested|paused|retrying|warning)$/.test(type)) return "wait";
  return "info";
}

function entry(ev) {
  const short = String(ev.type || "").replace(/^workflow\./, "");
  const where = [ev.path || ev.state, ev.attempt ? `attempt ${ev.attempt}` : null, ev.worker_id ? `on ${ev.worker_id}` : null]
    .filter(Boolean).join(" · ");
  const summary = summarize(ev);
  return h("li", { class: `tl-item tone-${tone(ev.type || "")}`, testid: "timeline-event", "data-type": ev.type, "data-seq": ev.seq },
    h("div", { class: "tl-head" },
      h("span", { class: "tl-seq mono" }, `#${ev.seq}`),
      h("time", { datetime: ev.time, title: ev.time, class: "tl-time" }, formatTime(ev.time)),
      h("span", { class: "tl-type" }, short),
      where ? h("span", { class: "tl-where" }, where) : null),
    summary ? h("p", { class: "tl-summary" }, summary) : null,
    ev.data && Object.keys(ev.data).length ? h("details", { class: "tl-data" }, h("summary", {}, "Data"), prettyJson(ev.data)) : null);
}

/**
 * The timeline: {el, add(events) → number added, lastSeq, setState(text), live()}.
 * add() keeps seq order and drops repeats; live() turns on announcements
 * (after the initial batch, so loading history does not flood a screen reader).
 */
export function createTimeline() {
  const list = h("ol", { class: "timeline", testid: "timeline", "aria-relevant": "additions", "aria-label": "Run events" });
  const scroller = h("div", { class: "tl-scroll", tabindex: 0, role: "region", "aria-label": "Event timeline (scrollable)" }, list);
  const state = h("span", { class: "stream-state", testid: "stream-state" }, "");
  const empty = h("p", { class: "muted" }, "No events yet.");
  const seqs = new Set();
  const el = h("div", {}, empty, scroller);
  const api = {
    el,
    state,
    lastSeq: 0,
    add(events) {
      let added = 0;
      const nearBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
      for (const ev of events) {
        const seq = Number(ev.seq);
        if (!Number.isFinite(seq) || seqs.has(seq)) continue;
        seqs.add(seq);
        const li = entry(ev);
        // Insert in seq order (events normally arrive in order: append).
        let before = null;
        for (let n = list.lastElementChild; n; n = n.previousElementSibling) {
          if (Number(n.dataset.seq) < seq) break;
          before = n;
        }
        list.insertBefore(li, before);
        api.lastSeq = Math.max(api.lastSeq, seq);
        added++;
      }
      if (added) {
        empty.hidden = true;
        if (nearBottom) scroller.scrollTop = scroller.scrollHeight;
      }
      return added;
    },
    setState(text, cls = "") {
      state.textContent = text;
      state.className = `stream-state ${cls}`;
    },
    live() {
      list.setAttribute("aria-live", "polite");
    },
  };
  return api;
}
