// Account page: personal API tokens, password change and (for administrators) accounts.
import { api, getJSON, patchJSON, postJSON } from "./api.js";
import { byTestId, el, formatDate, showMessage, toast } from "./dom.js";

const isAdmin = document.getElementById("main").dataset.admin === "true";

async function loadTokens() {
  const body = byTestId("token-table").querySelector("tbody");
  const tokens = await getJSON("/api/tokens");
  body.replaceChildren(
    ...tokens.map((token) =>
      el(
        "tr",
        { testid: "token-row", dataset: { tokenId: token.id } },
        el("td", {}, token.name),
        el("td", {}, el("code", {}, `${token.prefix}…`)),
        el("td", {}, formatDate(token.created_at)),
        el("td", {}, token.last_used_at ? formatDate(token.last_used_at) : "never"),
        el(
          "td",
          {},
          token.revoked_at
            ? el("span", { class: "muted" }, "revoked")
            : el("button", { type: "button", class: "btn small danger", testid: "token-revoke", onclick: () => revoke(token) }, "Revoke"),
        ),
      ),
    ),
  );
}

async function revoke(token) {
  if (!window.confirm(`Revoke the token “${token.name}”? Scripts using it will stop working.`)) return;
  try {
    await api(`/api/tokens/${token.id}`, { method: "DELETE" });
    await loadTokens();
  } catch (error) {
    toast(error.message, "error");
  }
}

byTestId("token-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  showMessage(byTestId("token-error"), "");
  try {
    const created = await postJSON("/api/tokens", { name: form.elements.name.value });
    const secret = byTestId("token-secret");
    secret.replaceChildren(
      "Copy this token now; it will not be shown again: ",
      el("code", { testid: "token-value" }, created.token),
    );
    secret.hidden = false;
    form.reset();
    await loadTokens();
  } catch (error) {
    showMessage(byTestId("token-error"), error.message);
  }
});

byTestId("password-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  showMessage(byTestId("password-error"), "");
  try {
    const result = await postJSON("/api/auth/password", {
      current_password: form.elements.current_password.value,
      new_password: form.elements.new_password.value,
    });
    // The old session ended with the change; the answer carries the new one's CSRF token.
    document.querySelector('meta[name="csrf-token"]').content = result.csrf_token;
    form.reset();
    toast("Password changed; other browsers were signed out.");
  } catch (error) {
    showMessage(byTestId("password-error"), error.message);
  }
});

async function loadUsers() {
  const body = byTestId("user-table").querySelector("tbody");
  const users = await getJSON("/api/users");
  body.replaceChildren(
    ...users.map((user) =>
      el(
        "tr",
        { testid: "user-row" },
        el("td", {}, user.email),
        el("td", {}, user.is_admin ? "administrator" : "user"),
        el("td", {}, user.is_active ? "active" : "disabled"),
        el(
          "td",
          {},
          el(
            "button",
            {
              type: "button",
              class: "btn small",
              onclick: async () => {
                try {
                  await patchJSON(`/api/users/${user.id}`, { is_active: !user.is_active });
                  await loadUsers();
                } catch (error) {
                  toast(error.message, "error");
                }
              },
            },
            user.is_active ? "Disable" : "Enable",
          ),
        ),
      ),
    ),
  );
}

if (isAdmin) {
  byTestId("user-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    showMessage(byTestId("user-error"), "");
    try {
      await postJSON("/api/users", {
        email: form.elements.email.value,
        password: form.elements.password.value,
        is_admin: form.elements.is_admin.checked,
      });
      form.reset();
      await loadUsers();
    } catch (error) {
      showMessage(byTestId("user-error"), error.message);
    }
  });
  loadUsers().catch((error) => toast(error.message, "error"));
}
loadTokens().catch((error) => toast(error.message, "error"));
