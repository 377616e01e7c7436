// Rename and delete, each behind a dialog. The delete dialog shows the server's preview of what
// goes (GET .../deletion) and sends its token back, so nothing more is removed than was shown.
import { api, getJSON, patchJSON, withQuery } from "./api.js";
import { el, showMessage } from "./dom.js";

function dialog(testid, ...content) {
  const node = el("dialog", { class: "dialog", testid, "aria-labelledby": `${testid}-title` }, ...content);
  document.body.append(node);
  node.addEventListener("close", () => node.remove(), { once: true });
  return node;
}

/**
 * Asks before deleting: `what` names the thing ("video “a.mp4”"), `url` is its API path.
 * Resolves to what the server removed, or null when the person kept it.
 */
export function confirmDelete(what, url) {
  const lines = el("ul", { class: "delete-lines", testid: "delete-lines" }, el("li", { class: "muted" }, "Checking what this removes…"));
  const error = el("p", { class: "form-error", testid: "delete-error", role: "alert", hidden: true });
  const confirm = el("button", { type: "submit", class: "btn danger", testid: "delete-confirm", disabled: true }, "Delete");
  const cancel = el("button", { type: "button", class: "btn ghost", testid: "delete-cancel" }, "Cancel");
  const form = el(
    "form",
    { novalidate: true },
    el(
      "header",
      { class: "dialog-head" },
      el("h2", { id: "delete-dialog-title", testid: "delete-title" }, `Delete ${what}?`),
      el("p", { class: "muted" }, "This removes, for good:"),
    ),
    lines,
    error,
    el("footer", { class: "dialog-actions" }, cancel, confirm),
  );
  const node = dialog("delete-dialog", form);
  let token = null;
  let outcome = null;

  async function preview() {
    confirm.disabled = true;
    try {
      const plan = await getJSON(`${url}/deletion`);
      token = plan.token;
      lines.replaceChildren(...plan.lines.map((line) => el("li", { testid: "delete-line" }, line)));
      node.dataset.counts = JSON.stringify(plan.counts);
      confirm.disabled = false;
    } catch (failure) {
      lines.replaceChildren();
      showMessage(error, failure.message);
    }
  }

  cancel.addEventListener("click", () => node.close());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    confirm.disabled = cancel.disabled = true;
    showMessage(error, "");
    try {
      outcome = await api(withQuery(url, { token }), { method: "DELETE" });
      node.close();
    } catch (failure) {
      showMessage(error, failure.message);
      cancel.disabled = false;
      // 409: it changed since the preview; show what goes now and let the person confirm again.
      if (failure.status === 409) await preview();
    }
  });
  node.showModal();
  preview();
  return new Promise((resolve) => node.addEventListener("close", () => resolve(outcome), { once: true }));
}

/**
 * Asks for a new name: PATCHes {[field]: name} to `url`; resolves to the updated object, or null.
 */
export function renameDialog(what, url, field, current) {
  const input = el("input", { type: "text", value: current, maxlength: 200, required: true, autocomplete: "off", testid: "rename-input" });
  const error = el("p", { class: "form-error", testid: "rename-error", role: "alert", hidden: true });
  const save = el("button", { type: "submit", class: "btn primary", testid: "rename-save" }, "Rename");
  const cancel = el("button", { type: "button", class: "btn ghost", testid: "rename-cancel" }, "Cancel");
  const form = el(
    "form",
    { novalidate: true },
    el("header", { class: "dialog-head" }, el("h2", { id: "rename-dialog-title" }, `Rename ${what}`)),
    el("label", { class: "field" }, el("span", { class: "field-label" }, "New name"), input),
    error,
    el("footer", { class: "dialog-actions" }, cancel, save),
  );
  const node = dialog("rename-dialog", form);
  let outcome = null;
  cancel.addEventListener("click", () => node.close());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = input.value.trim();
    if (!name) {
      showMessage(error, "Give it a name.");
      return;
    }
    save.disabled = true;
    try {
      outcome = await patchJSON(url, { [field]: name });
      node.close();
    } catch (failure) {
      showMessage(error, failure.message);
      save.disabled = false;
    }
  });
  node.showModal();
  input.select();
  return new Promise((resolve) => node.addEventListener("close", () => resolve(outcome), { once: true }));
}

/** The two buttons of a row or card: [Rename, Delete] (owners only), with testids prefix-rename/-delete. */
export function manageButtons(prefix, { onRename, onDelete }) {
  const buttons = [];
  if (onRename) {
    buttons.push(el("button", { type: "button", class: "btn small ghost owner-only", testid: `${prefix}-rename`, onclick: onRename }, "Rename"));
  }
  buttons.push(el("button", { type: "button", class: "btn small danger owner-only", testid: `${prefix}-delete`, onclick: onDelete }, "Delete"));
  return buttons;
}
