// workflows.js: the workflows list (#/workflows) and a workflow's page
// (#/workflows/<id>?version=N): source with line numbers, validation
// diagnostics, the graph, its versions, the "Start run" form and the
// "Publish a signal" form (publish.js).

import { api, seg } from "./api.js";
import {
  h, replaceChildren, timeEl, table, dl, errorBox, errorText, link, runHash, workflowHash, isAbort,
} from "./dom.js";
import { confirmDialog, jsonObjectError } from "./dialog.js";
import { renderGraph } from "./graph.js";
import { publishSignalForm } from "./publish.js";

/* ---------- list ---------- */

export async function listPage(ctx) {
  ctx.setTitle("Workflows");
  const body = h("div", {});
  ctx.main.append(h("div", { class: "page-head" }, h("h1", {}, "Workflows")), body);
  const r = await api("/v1/workflows", { signal: ctx.signal });
  const list = (r.workflows || []).slice().sort((a, b) => String(a.id).localeCompare(String(b.id)));
  if (list.length === 0) {
    body.append(h("p", { class: "empty" }, "No workflows are stored in this tenant yet. Store one with ",
      h("code", {}, "junction put FILE"), " or POST /v1/workflows."));
    return;
  }
  const rows = list.map((w) => h("tr", { testid: "workflow-row", "data-id": w.id },
    h("th", { scope: "row" }, link(workflowHash(w.id), w.id)),
    h("td", {}, w.name || h("span", { class: "muted" }, "—")),
    h("td", { class: "num" }, link(workflowHash(w.id, w.version), `v${w.version}`)),
    h("td", {}, triggerList(w.triggers)),
    h("td", {}, timeEl(w.updated_at)),
    h("td", {}, timeEl(w.next_fire_at, "—")),
    h("td", {}, link(`#/runs?workflow_id=${encodeURIComponent(w.id)}`, "Runs", { "aria-label": `Runs of ${w.id}` }))));
  body.append(h("p", { class: "muted" }, `${list.length} workflow${list.length === 1 ? "" : "s"}.`),
    table("Workflows", ["Id", "Name", "Latest version", "Triggers", "Updated", "Next fire", "Runs"], rows,
      { class: "data", testid: "workflows-table" }));
}

function triggerList(triggers) {
  if (!Array.isArray(triggers) || triggers.length === 0) return h("span", { class: "muted" }, "on demand");
  return h("ul", { class: "chips" }, triggers.map((t) => h("li", { class: "chip" }, String(t))));
}

/* ---------- detail ---------- */

export async function detailPage(ctx) {
  const id = ctx.params[0];
  const wanted = ctx.query.get("version");
  const version = wanted && /^\d+$/.test(wanted) ? Number(wanted) : null;
  ctx.setTitle(`Workflow ${id}`);
  const q = version ? { version } : undefined;
  const [wfRes, versionsRes, graphRes, listRes] = await Promise.allSettled([
    api(`/v1/workflows/${seg(id)}`, { query: q, signal: ctx.signal }),
    api(`/v1/workflows/${seg(id)}/versions`, { signal: ctx.signal }),
    api(`/v1/workflows/${seg(id)}/graph`, { query: q, signal: ctx.signal }),
    api("/v1/workflows", { signal: ctx.signal }),
  ]);
  for (const r of [wfRes, versionsRes, graphRes, listRes]) if (r.status === "rejected" && isAbort(r.reason)) throw r.reason;
  const listed = listRes.status === "fulfilled"
    ? (listRes.value.workflows || []).find((w) => w.id === id) : null;
  if (wfRes.status === "rejected") {
    ctx.main.append(h("h1", {}, `Workflow ${id}`));
    throw wfRes.reason;
  }
  const wf = wfRes.value.workflow || {};
  const versions = versionsRes.status === "fulfilled" ? versionsRes.value.versions || [] : null;
  const latest = versions && versions.length ? Math.max(...versions.map((v) => v.version)) : null;
  const isLatest = latest === null ? !version : wf.version === latest;

  const validation = h("div", { testid: "validation", "aria-live": "polite" }, h("p", { class: "muted" }, "Validating…"));
  const source = sourceView(wf.source || "");
  const head = h("div", { class: "page-head" },
    h("h1", {}, "Workflow ", h("span", { class: "mono" }, wf.id || id)),
    h("div", { class: "head-links" },
      link(`#/runs?workflow_id=${encodeURIComponent(wf.id || id)}`, "Runs of this workflow", { class: "btn", testid: "workflow-runs-link" })));
  const facts = dl([
    ["Version", h("span", {}, `v${wf.version}`, isLatest ? h("span", { class: "muted" }, " (latest)") : h("span", { class: "tag" }, " older version"))],
    ["Definition version", wf.definition_version],
    ["Format", wf.format],
    ["Created", timeEl(wf.created_at)],
    ["Archived", wf.archived ? "yes" : null],
    ["Next fire", wf.next_fire_at ? timeEl(wf.next_fire_at) : null],
  ]);

  const graphSection = h("section", { class: "card", "aria-labelledby": "graph-h" }, h("h2", { id: "graph-h" }, "Graph"));
  if (graphRes.status === "fulfilled" && graphRes.value.graph) {
    try {
      graphSection.append(renderGraph(graphRes.value.graph, { title: `Graph of ${wf.id} v${wf.version}` }).el);
    } catch (e) {
      graphSection.append(errorBox(e, "Could not draw the graph"));
    }
    if (graphRes.value.mermaid) {
      graphSection.append(h("details", { class: "mermaid" }, h("summary", {}, "Mermaid source"),
        h("pre", { class: "json" }, graphRes.value.mermaid)));
    }
  } else if (graphRes.status === "rejected") {
    graphSection.append(errorBox(graphRes.reason, "Could not load the graph"));
  }

  const versionsSection = h("section", { class: "card", "aria-labelledby": "versions-h" }, h("h2", { id: "versions-h" }, "Versions"));
  if (versions) {
    versionsSection.append(table("Versions", ["Version", "Definition version", "Created", "State"],
      versions.map((v) => h("tr", { testid: "version-row", "data-version": v.version, class: v.version === wf.version ? "current" : null },
        h("th", { scope: "row" }, link(workflowHash(wf.id || id, v.version), `v${v.version}`,
          { "aria-current": v.version === wf.version ? "page" : null })),
        h("td", {}, v.definition_version || h("span", { class: "muted" }, "—")),
        h("td", {}, timeEl(v.created_at)),
        h("td", {}, v.version === wf.version ? "viewing" : "", v.archived ? " archived" : ""))),
      { class: "data compact" }));
  } else {
    versionsSection.append(errorBox(versionsRes.reason, "Could not load the versions"));
  }

  const sourceSection = h("section", { class: "card", "aria-labelledby": "source-h" },
    h("h2", { id: "source-h" }, "Source ", h("span", { class: "muted" }, `(${wf.format || "?"}, v${wf.version})`)),
    source.el);
  const validationSection = h("section", { class: "card", "aria-labelledby": "validation-h" },
    h("h2", { id: "validation-h" }, "Validation"), validation);

  ctx.main.append(head, facts,
    h("div", { class: "cols" }, startRunForm(ctx, wf, isLatest ? null : wf.version), versionsSection),
    publishSignalForm(ctx, wf.id || id, listed ? listed.triggers : null),
    graphSection, validationSection, sourceSection);

  // Validation with the stored source and format.
  try {
    const v = await api("/v1/workflows/validate", {
      method: "POST", body: { source: wf.source || "", format: wf.format || undefined }, signal: ctx.signal,
    });
    renderDiagnostics(validation, v, source);
  } catch (e) {
    if (isAbort(e)) throw e;
    replaceChildren(validation, errorBox(e, "Could not validate"));
  }
}

function sourceView(text) {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
  const spans = lines.map((l, i) => h("span", { class: "ln", "data-line": i + 1 }, l, "\n"));
  const code = h("code", {}, spans);
  const el = h("pre", { class: "source", testid: "workflow-source", tabindex: 0, "aria-label": "Workflow source with line numbers" }, code);
  return {
    el,
    mark(line, severity) {
      const span = spans[line - 1];
      if (span) span.classList.add(severity === "error" ? "diag-error" : "diag-warning");
    },
    show(line) {
      const span = spans[line - 1];
      if (!span) return;
      spans.forEach((x) => x.classList.remove("flash"));
      span.classList.add("flash");
      span.scrollIntoView({ block: "center", behavior: "smooth" });
    },
  };
}

function renderDiagnostics(box, v, source) {
  const errors = v.errors || [];
  const warnings = v.warnings || [];
  const items = [...errors.map((d) => ({ ...d, severity: d.severity || "error" })),
    ...warnings.map((d) => ({ ...d, severity: d.severity || "warning" }))];
  const summary = errors.length === 0
    ? h("p", { class: "valid", testid: "validation-status", "data-valid": "true" }, "✓ valid",
      warnings.length ? ` (${warnings.length} warning${warnings.length === 1 ? "" : "s"})` : "")
    : h("p", { class: "invalid", testid: "validation-status", "data-valid": "false" },
      `✗ ${errors.length} error${errors.length === 1 ? "" : "s"}`,
      warnings.length ? `, ${warnings.length} warning${warnings.length === 1 ? "" : "s"}` : "");
  const list = items.length ? h("ul", { class: "diagnostics" }, items.map((d) => {
    if (d.line) source.mark(d.line, d.severity);
    const where = d.line ? `${d.line}:${d.column || 1}` : "—";
    return h("li", { class: `diag diag-${d.severity}`, testid: "diagnostic" },
      h("span", { class: `badge sev-${d.severity}` }, d.severity),
      " ",
      d.line ? h("button", { type: "button", class: "linklike mono", onclick: () => source.show(d.line),
        "aria-label": `Show line ${d.line} in the source` }, where) : h("span", { class: "mono" }, where),
      " ", h("code", {}, d.code || ""), " ", d.message || "",
      d.path ? h("span", { class: "muted" }, ` (at ${d.path})`) : null);
  })) : null;
  replaceChildren(box, summary, list);
}

function startRunForm(ctx, wf, pinVersion) {
  const err = h("p", { id: "start-input-error", class: "field-error", "aria-live": "polite" });
  const result = h("div", { "aria-live": "assertive", testid: "start-result" });
  const ta = h("textarea", {
    id: "start-input", class: "mono", rows: 6, testid: "start-input", spellcheck: "false",
    "aria-describedby": "start-input-hint start-input-error",
  });
  ta.value = "{}";
  const button = h("button", { type: "submit", class: "btn btn-primary", testid: "start-run" }, "Start run");
  const check = () => {
    const e = jsonObjectError(ta.value, true);
    err.textContent = e || "";
    ta.setAttribute("aria-invalid", e ? "true" : "false");
    return e;
  };
  let t = 0;
  ta.addEventListener("input", () => { clearTimeout(t); t = setTimeout(check, 300); });
  const form = h("form", { class: "card", "aria-labelledby": "start-h", novalidate: true },
    h("h2", { id: "start-h" }, "Start a run"),
    h("div", { class: "field" },
      h("label", { for: "start-input" }, "Input (JSON object)"),
      ta,
      h("p", { id: "start-input-hint", class: "hint" },
        pinVersion ? `Starts version ${pinVersion} (the one you are viewing).` : "Starts the latest version. Leave {} for no input."),
      err),
    h("div", { class: "form-actions" }, button),
    result);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (check()) {
      ta.focus();
      return;
    }
    const input = ta.value.trim() === "" ? {} : JSON.parse(ta.value);
    const ok = await confirmDialog({
      title: "Start a run?",
      message: `Start a run of ${wf.id}${pinVersion ? ` version ${pinVersion}` : " (latest version)"} with this input?`,
      okLabel: "Start run",
    });
    if (!ok) return;
    button.disabled = true;
    replaceChildren(result);
    // Not ready until the new run's page has loaded (the router sets it then).
    document.body.dataset.ready = "false";
    try {
      const body = { workflow_id: wf.id, input };
      if (pinVersion) body.version = pinVersion;
      const r = await api("/v1/runs", { method: "POST", body, signal: ctx.signal });
      location.hash = runHash(r.run_id);
    } catch (e) {
      if (isAbort(e)) return;
      document.body.dataset.ready = "true";
      replaceChildren(result, h("div", { class: "alert alert-error", role: "alert", testid: "start-error" },
        h("strong", {}, "The run was not started: "), errorText(e)));
      const diags = e.details && Array.isArray(e.details.errors) ? e.details.errors : null;
      if (diags) result.append(h("ul", {}, diags.map((d) => h("li", {}, String(d.message || JSON.stringify(d))))));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
