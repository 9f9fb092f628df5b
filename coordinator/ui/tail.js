// tail.js: the live page (#/events?workflow_id=): every run's events as they
// happen (what `junction tail` prints), read from GET /v1/events/stream.
// Live only: the page shows what happens while it is open, newest first,
// the last MAX events, and reconnects if the stream drops.

import { streamEvents, withQuery } from "./api.js";
import { h, replaceChildren, link, runHash, formatTime, isAbort, sleep } from "./dom.js";

const MAX = 500;

export async function page(ctx) {
  ctx.setTitle("Live events");
  const workflow = ctx.query.get("workflow_id") || "";
  const input = h("input", {
    id: "tail-workflow", name: "workflow_id", type: "text", value: workflow, testid: "tail-workflow",
    autocomplete: "off", spellcheck: "false", placeholder: "any workflow",
  });
  const form = h("form", { class: "filters card", role: "search", "aria-label": "Filter live events" },
    h("div", { class: "field" }, h("label", { for: "tail-workflow" }, "Workflow"), input),
    h("div", { class: "field field-buttons" }, h("button", { type: "submit", class: "btn btn-primary" }, "Follow")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const w = input.value.trim();
    location.hash = w ? `#/events?workflow_id=${encodeURIComponent(w)}` : "#/events";
  });
  const state = h("p", { class: "muted", testid: "tail-state", "aria-live": "polite" }, "Connecting…");
  const body = h("tbody", {});
  const table = h("table", { class: "data", testid: "tail-table" },
    h("caption", { class: "visually-hidden" }, "Events, newest first"),
    h("thead", {}, h("tr", {}, ["Time", "Workflow", "Run", "Event", "Step", "Attempt"].map((c) => h("th", { scope: "col" }, c)))),
    body);
  ctx.main.append(
    h("div", { class: "page-head" }, h("h1", {}, "Live events")),
    h("p", { class: "hint" }, "Every run's events as they happen, from the moment this page opened (each run's page has its whole history)."),
    form, state, h("div", { class: "table-wrap" }, table));

  const add = (e) => {
    const row = h("tr", { testid: "tail-event", "data-type": e.type || "", "data-run": e.run_id || "" },
      h("td", {}, formatTime(e.time)),
      h("td", {}, e.workflow_id ? link(`#/workflows/${encodeURIComponent(e.workflow_id)}`, e.workflow_id) : ""),
      h("td", { class: "mono" }, e.run_id ? link(runHash(e.run_id), e.run_id.slice(0, 8) + "…", { "aria-label": `Run ${e.run_id}` }) : ""),
      h("td", {}, h("code", {}, (e.type || "").replace(/^workflow\./, ""))),
      h("td", {}, e.path || e.state || ""),
      h("td", { class: "num" }, e.attempt ? String(e.attempt) : ""));
    body.prepend(row);
    while (body.children.length > MAX) body.lastElementChild.remove();
  };
  const url = withQuery("/v1/events/stream", { workflow_id: workflow || undefined });
  (async () => {
    for (;;) {
      try {
        replaceChildren(state, "Connecting…");
        await streamEvents(url, add, ctx.signal, 45000, () => {
          replaceChildren(state, workflow ? `Following the runs of ${workflow}.` : "Following every run.");
        });
      } catch (e) {
        if (isAbort(e) || ctx.signal.aborted) return;
        replaceChildren(state, `The stream dropped (${e.message || e}); reconnecting…`);
      }
      if (ctx.signal.aborted) return;
      try {
        await sleep(2000, ctx.signal);
      } catch {
        return;
      }
    }
  })();
}
