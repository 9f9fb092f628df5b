// dialog.js: modal <dialog>s opened with showModal(): the confirmation dialog
// (optional reason and extra fields, e.g. a signal's name and JSON data) and
// the settings dialog's generic form support. Keyboard: Tab stays inside,
// Escape cancels, focus returns to the opener.

import { h } from "./dom.js";

let counter = 0;

/**
 * Asks for confirmation. Options:
 *  - title, message (string or Node), okLabel, danger (red OK button)
 *  - reason: true to add an optional "Reason" field (data-testid confirm-reason)
 *  - fields: [{name, label, testid, kind: "text"|"textarea"|"password", value,
 *              placeholder, hint, required, validate(value) -> error string|null}]
 * Resolves to null when cancelled, else {reason, values: {name: value}}.
 */
export function confirmDialog(opts) {
  const id = `dlg-${++counter}`;
  const opener = document.activeElement;
  const fields = opts.fields || [];
  return new Promise((resolve) => {
    let result = null;
    const inputs = {};
    const errors = {};
    const fieldEls = fields.map((f, i) => {
      const fid = `${id}-f${i}`;
      const hintId = `${fid}-hint`;
      const errId = `${fid}-err`;
      const common = {
        id: fid, name: f.name, testid: f.testid, placeholder: f.placeholder,
        required: !!f.required, "aria-describedby": `${f.hint ? hintId : ""} ${errId}`.trim(),
        autocomplete: "off", spellcheck: "false",
      };
      const input = f.kind === "textarea"
        ? h("textarea", { ...common, rows: f.rows || 6, class: "mono" })
        : h("input", { ...common, type: f.kind === "password" ? "password" : "text" });
      input.value = f.value ?? "";
      inputs[f.name] = input;
      errors[f.name] = h("p", { id: errId, class: "field-error", "aria-live": "polite" });
      return h("div", { class: "field" },
        h("label", { for: fid }, f.label),
        input,
        f.hint ? h("p", { id: hintId, class: "hint" }, f.hint) : null,
        errors[f.name]);
    });
    let reasonInput = null;
    if (opts.reason) {
      reasonInput = h("input", { id: `${id}-reason`, type: "text", testid: "confirm-reason", autocomplete: "off", maxlength: 1000 });
      fieldEls.push(h("div", { class: "field" },
        h("label", { for: `${id}-reason` }, "Reason (optional)"), reasonInput));
    }
    const ok = h("button", { type: "submit", class: opts.danger ? "btn btn-danger" : "btn btn-primary", testid: "confirm-ok" },
      opts.okLabel || "Confirm");
    const cancel = h("button", { type: "button", class: "btn", testid: "confirm-cancel" }, "Cancel");
    const form = h("form", { method: "dialog", novalidate: true },
      h("h2", { id: `${id}-title` }, opts.title),
      opts.message ? h("div", { id: `${id}-desc`, class: "dialog-message" }, opts.message) : null,
      fieldEls,
      h("div", { class: "dialog-actions" }, cancel, ok));
    const dialog = h("dialog", {
      class: "dialog", "aria-labelledby": `${id}-title`,
      "aria-describedby": opts.message ? `${id}-desc` : null, testid: "confirm-dialog",
    }, form);

    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      let firstBad = null;
      const values = {};
      for (const f of fields) {
        const v = inputs[f.name].value;
        let err = null;
        if (f.required && v.trim() === "") err = `${f.label} is required.`;
        else if (f.validate) err = f.validate(v);
        errors[f.name].textContent = err || "";
        inputs[f.name].setAttribute("aria-invalid", err ? "true" : "false");
        if (err && !firstBad) firstBad = inputs[f.name];
        values[f.name] = v;
      }
      if (firstBad) {
        firstBad.focus();
        return;
      }
      result = { reason: reasonInput ? reasonInput.value.trim() : "", values };
      dialog.close("ok");
    });
    cancel.addEventListener("click", () => dialog.close("cancel"));
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (opener && typeof opener.focus === "function" && document.contains(opener)) opener.focus();
      resolve(result);
    });
    document.body.appendChild(dialog);
    dialog.showModal();
    const first = fields.length ? inputs[fields[0].name] : (reasonInput || ok);
    first.focus();
  });
}

/** Validates a JSON text that must hold an object (empty text is allowed when `optional`). */
export function jsonObjectError(text, optional = true) {
  if (text.trim() === "") return optional ? null : "Enter a JSON object, e.g. {}.";
  let v;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return `Not valid JSON: ${e.message}`;
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) return "The value must be a JSON object ({…}).";
  return null;
}
