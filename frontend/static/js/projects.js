// Project list and the "new project" form.
import { getJSON, postJSON } from "./api.js";
import { byTestId, el, showMessage, toast } from "./dom.js";
import { progressView } from "./progress.js";
import { confirmDelete, manageButtons, renameDialog } from "./removal.js";

const list = byTestId("project-list");
const form = byTestId("project-form");
const nameInput = byTestId("project-name");
const errorBox = byTestId("project-error");

function ownerButtons(project, url) {
  return manageButtons("project", {
    async onRename() {
      if (await renameDialog(`project “${project.name}”`, url, "name", project.name)) load();
    },
    async onDelete() {
      if (!(await confirmDelete(`project “${project.name}”`, url))) return;
      toast(`Project “${project.name}” deleted.`, "success");
      load();
    },
  });
}

function roleBadge(role) {
  return el("span", { class: "badge", testid: "project-role", title: "Your role in this project" }, role);
}

function projectItem(project) {
  const swatches = project.classes.map((c) => {
    const dot = el("span", { class: "swatch", title: c.name });
    dot.style.backgroundColor = c.color;
    return dot;
  });
  const classCount = `${project.classes.length} class${project.classes.length === 1 ? "" : "es"}`;
  const url = `/api/projects/${project.id}`;
  // Renaming and deleting are the owner's (the server refuses anyone else with 403).
  const manage = project.role === "owner" ? ownerButtons(project, url) : [roleBadge(project.role)];
  return el(
    "li",
    { class: "project-item", testid: "project-item", dataset: { projectId: project.id } },
    el(
      "a",
      { href: `/projects/${project.id}`, class: "project-link", testid: "project-link" },
      el("span", { class: "project-name", testid: "project-item-name" }, project.name),
      el(
        "span",
        { class: "project-classes" },
        el("span", { class: "swatches" }, ...swatches),
        el("span", { class: "muted small" }, classCount),
      ),
    ),
    el("div", { class: "project-manage" }, ...manage),
  );
}

async function load() {
  try {
    const projects = await getJSON("/api/projects");
    list.replaceChildren(...projects.map(projectItem));
    byTestId("project-empty").hidden = projects.length > 0;
    if (projects.length) showProgress();
  } catch (error) {
    showMessage(errorBox, `Could not load projects: ${error.message}`);
  } finally {
    byTestId("project-loading").hidden = true;
  }
}

/** Adds each project's labeling progress to its card (the list shows without it first). */
async function showProgress() {
  try {
    for (const stats of await getJSON("/api/project-progress")) {
      list.querySelector(`[data-project-id="${stats.project_id}"] .project-link`)?.append(progressView(stats));
    }
  } catch (error) {
    showMessage(errorBox, `Could not load the projects' progress: ${error.message}`);
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = nameInput.value.trim();
  if (!name) {
    showMessage(errorBox, "Give the project a name.");
    nameInput.focus();
    return;
  }
  const button = byTestId("project-create");
  button.disabled = true;
  showMessage(errorBox, "");
  try {
    const project = await postJSON("/api/projects", { name });
    window.location.assign(`/projects/${project.id}`);
  } catch (error) {
    showMessage(errorBox, error.message);
    button.disabled = false;
  }
});

load();
