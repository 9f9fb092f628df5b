// signin.js: the sign-in page (#/signin): asks for an API token, checks it
// with GET /v1/session, keeps it in sessionStorage, then goes to ?next=.

import { h, errorText } from "./dom.js";

function safeNext(query) {
  const next = query.get("next") || "";
  return next.startsWith("#/") && !next.startsWith("#/signin") ? next : "#/workflows";
}

export async function page(ctx) {
  ctx.setTitle("Sign in");
  const next = safeNext(ctx.query);
  if (ctx.authState() === "off") {
    ctx.main.append(h("h1", {}, "Sign-in not needed"),
      h("p", {}, "This coordinator runs without authentication. ", h("a", { href: next }, "Continue.")));
    return;
  }
  if (ctx.authState() === "in") {
    ctx.main.append(h("h1", {}, "Signed in"),
      h("p", {}, "You are signed in as ", h("strong", {}, ctx.session.identity || "?"), ". ",
        h("a", { href: next }, "Continue.")));
    return;
  }
  const error = h("p", { id: "signin-error", class: "field-error", role: "alert" });
  const input = h("input", {
    id: "signin-token", type: "password", name: "token", testid: "signin-token", required: true,
    autocomplete: "current-password", "aria-describedby": "signin-hint signin-error", spellcheck: "false",
  });
  const submit = h("button", { type: "submit", class: "btn btn-primary", testid: "signin-submit" }, "Sign in");
  const form = h("form", { class: "card signin", novalidate: true },
    h("div", { class: "field" },
      h("label", { for: "signin-token" }, "API token"),
      input,
      h("p", { id: "signin-hint", class: "hint" },
        "A token from the coordinator's tokens file. It is kept in this browser tab only (sessionStorage) and sent as a Bearer token.")),
    error,
    h("div", { class: "form-actions" }, submit));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    if (!token) {
      error.textContent = "Enter your API token.";
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    submit.disabled = true;
    error.textContent = "";
    try {
      await ctx.signIn(token);
      location.hash = next;
    } catch (e) {
      error.textContent = e.status === 401
        ? "This token is not accepted (UNAUTHENTICATED). Check it and try again."
        : `Could not sign in: ${errorText(e)}`;
      input.setAttribute("aria-invalid", "true");
      input.focus();
      input.select();
    } finally {
      submit.disabled = false;
    }
  });
  ctx.main.append(h("h1", {}, "Sign in to Junction"), form);
  ctx.focusHeading = false;
  setTimeout(() => input.focus(), 0);
}
