// approvals.js: the approvals page (#/approvals, #/approvals?tab=decided):
// pending approvals as cards (message, summary, run, step, approvers) with a
// comment and Approve / Reject (confirmed), and the decided ones as a table.

import { api, seg, actorField, session } from "./api.js";
import {
  h, replaceChildren, statusBadge, timeEl, table, dl, errorBox, link, runHash, workflowHash, isAbort,
  prettyJson, announce, busy,
} from "./dom.js";
import { confirmDialog } from "./dialog.js";

// run id → {workflow_id, version}, filled lazily (approvals do not name their workflow).
const runInfo = new Map();

async function fillWorkflows(approvals, signal, onFilled) {
  const missing = [...new Set(approvals.filter((a) => !a.workflow_id && !runInfo.has(a.run_id)).map((a) => a.run_id))].slice(0, 50);
  let i = 0;
  const worker = async () => {
    while (i < missing.length) {
      const runId = missing[i++];
      try {
        const r = await api(`/v1/runs/${seg(runId)}`, { signal });
        runInfo.set(runId, { workflow_id: r.run.workflow_id, version: r.run.version });
        onFilled(runId);
      } catch (e) {
        if (isAbort(e)) return;
        runInfo.set(runId, null);
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}

function workflowCell(a) {
  const info = a.workflow_id ? { workflow_id: a.workflow_id, version: a.version } : runInfo.get(a.run_id);
  if (!info) return h("span", { class: "muted" }, info === null ? "?" : "…");
  return link(workflowHash(info.workflow_id, info.version), info.workflow_id);
}

export async function page(ctx) {
  const tab = ctx.query.get("tab") === "decided" ? "decided" : "pending";
  ctx.setTitle(tab === "decided" ? "Decided approvals" : "Approvals");
  const tabs = h("nav", { class: "tabs", "aria-label": "Approvals" },
    h("a", { href: "#/approvals", "aria-current": tab === "pending" ? "page" : null, testid: "tab-pending" }, "Pending"),
    h("a", { href: "#/approvals?tab=decided", "aria-current": tab === "decided" ? "page" : null, testid: "tab-decided" }, "Decided"));
  const result = h("div", { class: "action-result", role: "status", "aria-live": "polite", testid: "approval-result" });
  const box = h("div", {});
  ctx.main.append(h("div", { class: "page-head" }, h("h1", {}, "Approvals"), h("span", { class: "muted small" }, "Refreshes every 10 s.")),
    tabs, result, box);
  if (tab === "decided") {
    await decided(ctx, box);
    ctx.every(10000, () => decided(ctx, box).catch(() => {}));
  } else {
    const view = pendingView(ctx, box, result);
    await view.load();
    ctx.every(10000, () => view.load().catch(() => {}));
  }
}

async function decided(ctx, box) {
  let r;
  try {
    r = await api("/v1/approvals", { query: { limit: 200 }, signal: ctx.signal });
  } catch (e) {
    if (isAbort(e)) throw e;
    replaceChildren(box, errorBox(e, "Could not load approvals"));
    return;
  }
  const list = (r.approvals || []).filter((a) => a.status !== "PENDING");
  if (list.length === 0) {
    replaceChildren(box, h("p", { class: "empty" }, "No decided approvals."));
    return;
  }
  const rows = () => list.map((a) => h("tr", { testid: "approval-row", "data-id": a.id, "data-status": a.status },
    h("th", { scope: "row" }, timeEl(a.decided_at || a.created_at)),
    h("td", {}, statusBadge(a.status)),
    h("td", {}, workflowCell(a)),
    h("td", {}, link(runHash(a.run_id), a.run_id, { class: "mono" })),
    h("td", {}, a.state || ""),
    h("td", {}, a.message || ""),
    h("td", {}, a.actor || h("span", { class: "muted" }, "—")),
    h("td", {}, a.comment || "")));
  const draw = () => replaceChildren(box, table("Decided approvals",
    ["Decided", "Status", "Workflow", "Run", "Step", "Message", "By", "Comment"], rows(), { class: "data" }));
  draw();
  fillWorkflows(list, ctx.signal, () => {}).then(draw).catch(() => {});
}

function pendingView(ctx, box, result) {
  const cards = new Map(); // id → {el, wf}
  const listEl = h("ul", { class: "approvals", testid: "approvals-list" });
  const empty = h("p", { class: "empty", testid: "approvals-empty" }, "Nothing waits for a decision.");
  let error = null;

  const decide = async (a, decision, comment, buttons) => {
    const ok = await confirmDialog({
      title: decision === "approve" ? "Approve?" : "Reject?",
      message: h("div", {},
        h("p", {}, `${decision === "approve" ? "Approve" : "Reject"} “${a.message || a.state || a.id}” of run ${a.run_id}?`),
        comment ? h("p", {}, "Comment: ", h("q", {}, comment)) : h("p", { class: "muted" }, "No comment."),
        session.auth ? h("p", { class: "muted" }, `Recorded as ${session.identity || "your token's identity"}.`) : null),
      okLabel: decision === "approve" ? "Approve" : "Reject",
      danger: decision === "reject",
    });
    if (!ok) return;
    buttons.forEach((b) => { b.disabled = true; });
    const body = { ...actorField() };
    if (comment) body.comment = comment;
    await busy(async () => {
      try {
        const r = await api(`/v1/approvals/${seg(a.id)}/${decision}`, { method: "POST", body, signal: ctx.signal });
        replaceChildren(result, h("p", { class: "alert alert-ok", testid: "approval-ok" },
          `Approval ${a.id}: ${r.status || (decision === "approve" ? "APPROVED" : "REJECTED")}.`));
        announce(`Approval ${decision === "approve" ? "approved" : "rejected"}.`);
      } catch (e) {
        if (isAbort(e)) return;
        replaceChildren(result, h("div", { class: "alert alert-error", role: "alert", testid: "approval-error", "data-code": e.code || "" },
          h("strong", {}, "The decision was refused: "), h("code", {}, e.code || "ERROR"),
          e.status ? ` (HTTP ${e.status})` : "", " ", e.message || ""));
        buttons.forEach((b) => { b.disabled = false; });
      }
      ctx.refreshBadge();
      await load().catch(() => {});
    });
  };

  const card = (a) => {
    const cid = `ap-${a.id}`.replace(/[^A-Za-z0-9_-]/g, "_");
    const comment = h("textarea", { id: `${cid}-comment`, rows: 2, testid: "approval-comment", maxlength: 4000 });
    const approve = h("button", { type: "button", class: "btn btn-primary", testid: "approve" }, "Approve");
    const reject = h("button", { type: "button", class: "btn btn-danger", testid: "reject" }, "Reject");
    const buttons = [approve, reject];
    approve.addEventListener("click", () => decide(a, "approve", comment.value.trim(), buttons));
    reject.addEventListener("click", () => decide(a, "reject", comment.value.trim(), buttons));
    const wf = h("span", {}, workflowCell(a));
    const approvers = Array.isArray(a.approvers) && a.approvers.length
      ? h("ul", { class: "chips" }, a.approvers.map((x) => h("li", { class: "chip" }, String(x))))
      : h("span", { class: "muted" }, "anyone in the tenant");
    const el = h("li", { class: "card approval", testid: "approval-row", "data-id": a.id, "aria-labelledby": `${cid}-h` },
      h("div", { class: "approval-head" },
        h("h2", { id: `${cid}-h`, class: "approval-message" }, a.message || `Approval for ${a.state || a.step_id}`),
        statusBadge(a.status)),
      dl([
        ["Workflow", wf],
        ["Run", link(runHash(a.run_id), a.run_id, { class: "mono", testid: "approval-run" })],
        ["Step", a.state ? h("span", {}, a.state, h("span", { class: "muted small mono" }, ` ${a.step_id || ""}`)) : a.step_id],
        ["Requested", timeEl(a.created_at)],
        ["Expires", a.expires_at ? timeEl(a.expires_at) : null],
        ["Approvers", approvers],
      ]),
      a.summary !== undefined && a.summary !== null
        ? h("div", { class: "summary" }, h("h3", {}, "Summary"), prettyJson(a.summary, { testid: "approval-summary" }))
        : null,
      h("div", { class: "field" }, h("label", { for: `${cid}-comment` }, "Comment (optional)"), comment),
      h("div", { class: "form-actions" }, approve, reject));
    return { el, wf, a };
  };

  async function load() {
    let r;
    try {
      r = await api("/v1/approvals", { query: { status: "PENDING", limit: 1000 }, signal: ctx.signal });
    } catch (e) {
      if (isAbort(e)) throw e;
      if (error) error.remove();
      error = errorBox(e, "Could not load approvals");
      box.prepend(error);
      return;
    }
    if (error) { error.remove(); error = null; }
    const list = r.approvals || [];
    const ids = new Set(list.map((a) => a.id));
    for (const [id, c] of cards) if (!ids.has(id)) { c.el.remove(); cards.delete(id); }
    list.forEach((a, i) => {
      let c = cards.get(a.id);
      if (!c) {
        c = card(a);
        cards.set(a.id, c);
      }
      const at = listEl.children[i];
      if (at !== c.el) listEl.insertBefore(c.el, at || null);
    });
    if (list.length === 0) replaceChildren(box, empty);
    else if (!box.contains(listEl)) replaceChildren(box, listEl);
    fillWorkflows(list, ctx.signal, (runId) => {
      for (const c of cards.values()) if (c.a.run_id === runId) replaceChildren(c.wf, workflowCell(c.a));
    }).catch(() => {});
  }

  return { load };
}
