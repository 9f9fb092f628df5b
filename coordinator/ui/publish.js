// publish.js: the "Publish a signal" form of a workflow's page: what
// `junction signal` does, over POST /v1/signals/<type>. The CloudEvent is
// stored in the signals stream and starts every workflow it triggers (a
// repeated id starts nothing new).

import { api, seg } from "./api.js";
import { h, replaceChildren, errorText, link, isAbort } from "./dom.js";
import { confirmDialog, jsonObjectError } from "./dialog.js";

const TYPE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** The form, its type prefilled from the workflow's `signal: <type>` trigger. */
export function publishSignalForm(ctx, workflowId, triggers) {
  const trigger = (triggers || []).find((t) => String(t).startsWith("signal: "));
  const typeInput = h("input", {
    id: "publish-type", type: "text", class: "mono", testid: "publish-type", autocomplete: "off",
    "aria-describedby": "publish-hint publish-error",
  });
  typeInput.value = trigger ? String(trigger).slice("signal: ".length) : "";
  const data = h("textarea", {
    id: "publish-data", class: "mono", rows: 4, testid: "publish-data", spellcheck: "false",
    "aria-describedby": "publish-error",
  });
  data.value = "{}";
  const idInput = h("input", { id: "publish-id", type: "text", class: "mono", testid: "publish-id", autocomplete: "off" });
  const err = h("p", { id: "publish-error", class: "field-error", "aria-live": "polite" });
  const result = h("div", { "aria-live": "assertive", testid: "publish-result" });
  const button = h("button", { type: "submit", class: "btn", testid: "publish-signal" }, "Publish signal");
  const check = () => {
    const problem = !TYPE.test(typeInput.value.trim())
      ? "The type is dot-separated tokens of letters, digits, _ and -."
      : jsonObjectError(data.value, true);
    err.textContent = problem || "";
    return problem;
  };
  const form = h("form", { class: "card", "aria-labelledby": "publish-h", novalidate: true },
    h("h2", { id: "publish-h" }, "Publish a signal"),
    h("div", { class: "field" }, h("label", { for: "publish-type" }, "Signal type"), typeInput),
    h("div", { class: "field" }, h("label", { for: "publish-data" }, "Data (JSON object)"), data),
    h("div", { class: "field" }, h("label", { for: "publish-id" }, "Id (optional, deduplicates)"), idInput),
    h("p", { id: "publish-hint", class: "hint" },
      trigger ? "Starts this workflow, and every other one the type triggers." : "This workflow has no signal trigger; the signal starts the workflows its type triggers."),
    err,
    h("div", { class: "form-actions" }, button),
    result);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (check()) return;
    const type = typeInput.value.trim();
    const ok = await confirmDialog({
      title: "Publish the signal?",
      message: `Publish a ${type} CloudEvent? Every workflow it triggers starts a run.`,
      okLabel: "Publish",
    });
    if (!ok) return;
    button.disabled = true;
    replaceChildren(result);
    try {
      const body = { data: data.value.trim() === "" ? {} : JSON.parse(data.value) };
      if (idInput.value.trim()) body.id = idInput.value.trim();
      const r = await api(`/v1/signals/${seg(type)}`, { method: "POST", body, signal: ctx.signal });
      replaceChildren(result, h("div", { class: "alert alert-ok", role: "status", testid: "publish-ok" },
        `Signal ${r.id} stored; its runs start in a moment. `,
        link(`#/runs?workflow_id=${encodeURIComponent(workflowId)}`, "Runs of this workflow")));
    } catch (e) {
      if (isAbort(e)) return;
      replaceChildren(result, h("div", { class: "alert alert-error", role: "alert", testid: "publish-failed" },
        h("strong", {}, "Not published: "), errorText(e)));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
