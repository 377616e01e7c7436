// The sign-in form: on success, back to the page that asked for it.
import { postJSON } from "./api.js";
import { byTestId, showMessage } from "./dom.js";

const form = byTestId("login-form");
const errorBox = byTestId("login-error");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(form);
  showMessage(errorBox, "");
  const button = byTestId("login-submit");
  button.disabled = true;
  try {
    await postJSON("/api/auth/login", { email: data.get("email"), password: data.get("password") });
    // The server put only a path on this site into data-next (never "//elsewhere").
    window.location.assign(form.dataset.next || "/");
  } catch (error) {
    showMessage(errorBox, error.message);
    button.disabled = false;
  }
});
