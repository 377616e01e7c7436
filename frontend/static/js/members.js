// The project's members card: who is owner, annotator or viewer; owners add and remove people.
import { api, getJSON } from "./api.js";
import { byTestId, el, showMessage, toast } from "./dom.js";

const projectId = document.getElementById("main").dataset.projectId;
const list = byTestId("member-list");
const form = byTestId("member-form");
const errorBox = byTestId("member-error");

async function load() {
  const members = await getJSON(`/api/projects/${projectId}/members`);
  list.replaceChildren(
    ...members.map((member) =>
      el(
        "li",
        { class: "member", testid: "member-item", dataset: { userId: member.user_id } },
        el("span", { class: "member-email" }, member.email),
        el("span", { class: "muted small", testid: "member-item-role" }, member.role),
        el(
          "button",
          {
            type: "button",
            class: "btn small ghost",
            title: `Remove ${member.email}`,
            onclick: async () => {
              try {
                await api(`/api/projects/${projectId}/members/${member.user_id}`, { method: "DELETE" });
                await load();
              } catch (error) {
                toast(error.message, "error");
              }
            },
          },
          "Remove",
        ),
      ),
    ),
  );
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  showMessage(errorBox, "");
  try {
    const body = { email: form.elements.email.value, role: form.elements.role.value };
    await api(`/api/projects/${projectId}/members`, { method: "PUT", body });
    form.reset();
    await load();
  } catch (error) {
    showMessage(errorBox, error.message);
  }
});

load().catch((error) => showMessage(errorBox, error.message));
