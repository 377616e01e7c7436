// The sign-in form: on success, back to the page that asked for it.
import { postJSON } from "./api.js";
import { byTestId, showMessage } from "./dom.js";

const form = byTestId("login-form");
const errorBox = byTestId("login-error");

/** The page to return to: only a path on this site (never "//elsewhere"). */
function nextPath() {
  const next = form.dataset.next || "/";
  return next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(form);
  showMessage(errorBox, "");
  const button = byTestId("login-submit");
  button.disabled = true;
  try {
    await postJSON("/api/auth/login", { email: data.get("email"), password: data.get("password") });
    window.location.assign(nextPath());
  } catch (error) {
    showMessage(errorBox, error.message);
    button.disabled = false;
  }
});
