// The sign-out button in the top bar of every signed-in page.
import { markSigningOut, postJSON } from "./api.js";
import { byTestId, toast } from "./dom.js";

byTestId("sign-out")?.addEventListener("click", async () => {
  try {
    markSigningOut();
    await postJSON("/api/auth/logout");
    window.location.assign("/login");
  } catch (error) {
    toast(error.message, "error");
  }
});
