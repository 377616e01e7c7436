// Job list: newest first, optionally one project's, refreshed while anything is active.
import { getJSON, withQuery } from "./api.js";
import { byTestId, el, formatDate, progressBar, setProgress, showMessage } from "./dom.js";
import { ACTIVE, kindName, statusBadge } from "./jobs-common.js";

const rows = byTestId("jobs-rows");
const filter = byTestId("jobs-project-filter");
const errorBox = byTestId("jobs-error");
const projectNames = new Map();
let timer = null;

function jobRow(job) {
  const bar = progressBar("job-progress", `Job ${job.id} progress`);
  setProgress(bar, job.progress);
  bar.classList.toggle("pulse", job.status === "running");
  const project = job.project_id
    ? el("a", { href: `/projects/${job.project_id}` }, projectNames.get(job.project_id) || `Project ${job.project_id}`)
    : "–";
  return el(
    "tr",
    { testid: "job-row", dataset: { jobId: job.id, status: job.status } },
    el("td", {}, el("a", { href: `/jobs/${job.id}` }, `#${job.id}`)),
    el("td", {}, kindName(job.kind)),
    el("td", {}, project),
    el("td", {}, statusBadge(job.status)),
    el("td", { class: "progress-col" }, bar),
    el("td", { class: "muted message-cell", title: job.error || job.message || "" }, job.error ? "Failed — see details" : job.message || ""),
    el("td", { class: "muted nowrap" }, formatDate(job.created_at)),
  );
}

async function load() {
  clearTimeout(timer);
  let active = false;
  try {
    const jobs = await getJSON(withQuery("/api/jobs", { project_id: filter.value }));
    rows.replaceChildren(...jobs.map(jobRow));
    byTestId("jobs-empty").hidden = jobs.length > 0;
    showMessage(errorBox, "");
    active = jobs.some((job) => ACTIVE.has(job.status));
  } catch (error) {
    showMessage(errorBox, `Could not load jobs: ${error.message}`);
  }
  timer = setTimeout(load, active ? 1000 : 5000);
}

async function loadProjects() {
  try {
    for (const project of await getJSON("/api/projects")) {
      projectNames.set(project.id, project.name);
      filter.append(el("option", { value: project.id }, project.name));
    }
  } catch {
    // The list still works without names.
  }
}

filter.addEventListener("change", () => {
  const url = new URL(window.location.href);
  if (filter.value) url.searchParams.set("project_id", filter.value);
  else url.searchParams.delete("project_id");
  window.history.replaceState(null, "", url);
  load();
});

await loadProjects();
const wanted = new URLSearchParams(window.location.search).get("project_id");
if (wanted) {
  if (!projectNames.has(Number(wanted))) filter.append(el("option", { value: wanted }, `Project ${wanted}`));
  filter.value = wanted;
}
load();
