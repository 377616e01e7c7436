// Compare page: pick two models, score both on the test frames (an evaluate job), then show the
// side-by-side report with the same rendering as a fine-tune report.
import { getJSON, postJSON } from "./api.js";
import { byTestId, el, formatDate, showMessage } from "./dom.js";
import { ACTIVE, errorSummary, jobCard, watchJob } from "./jobs-common.js";
import { downloadLinks, renderReport } from "./report.js";

const projectId = Number(document.getElementById("main").dataset.projectId);
const form = byTestId("compare-form");
const pickA = byTestId("compare-a");
const pickB = byTestId("compare-b");
const errorBox = byTestId("compare-error");
const host = byTestId("report-body");
let models = new Map();
let watcher = null;

const modelName = (id) => models.get(id)?.name ?? `model ${id}`;

function fillPickers(ready) {
  const options = () =>
    ready.map((m) =>
      el("option", { value: m.id }, `${m.name} (#${m.id}, ${m.kind === "finetuned" ? "fine-tuned" : "base"})`),
    );
  pickA.replaceChildren(...options());
  pickB.replaceChildren(...options());
  // Default: the newest model (B) against the model it was fine-tuned from (A), if any.
  const [newest, next] = ready;
  if (!newest) return;
  pickB.value = String(newest.id);
  pickA.value = String(models.has(newest.base_model_id) ? newest.base_model_id : (next ?? newest).id);
}

async function loadEarlier() {
  const jobs = await getJSON(`/api/jobs?project_id=${projectId}`).catch(() => []);
  const pairs = jobs.filter((j) => j.kind === "evaluate" && (j.params?.model_ids || []).length === 2);
  byTestId("compare-earlier").hidden = !pairs.length;
  byTestId("compare-earlier-list").replaceChildren(
    ...pairs.slice(0, 8).map((job) => {
      const [a, b] = job.params.model_ids;
      return el(
        "li",
        { testid: "compare-earlier-item" },
        el(
          "a",
          { href: `?job=${job.id}`, onclick: (event) => (event.preventDefault(), show(job.id)) },
          `${modelName(a)} vs ${modelName(b)}`,
        ),
        el("span", { class: "status", dataset: { status: job.status } }, job.status),
        el("span", { class: "muted small" }, `job #${job.id} · ${formatDate(job.created_at)}`),
      );
    }),
  );
}

async function showReport(job) {
  const report = await getJSON(`/api/jobs/${job.id}/report`);
  const [a, b] = job.params.model_ids;
  const labels = report.labels || { before: modelName(a), after: modelName(b) };
  byTestId("compare-downloads").replaceChildren(downloadLinks(job.id, report, new Set()));
  byTestId("compare-downloads-card").hidden = false;
  renderReport(host, report, { jobId: job.id, compare: true, labels });
}

/** Follows an evaluate job: its progress card, then its report. */
function show(jobId) {
  watcher?.stop();
  host.replaceChildren();
  host.dataset.ready = "false";
  byTestId("compare-downloads-card").hidden = true;
  showMessage(errorBox, "");
  const url = new URL(window.location.href);
  url.searchParams.set("job", String(jobId));
  window.history.replaceState(null, "", url);
  let card = null;
  let shown = false;
  watcher = watchJob(
    jobId,
    (job) => {
      if (!card) {
        card = jobCard(job, { title: `Scoring ${job.params?.model_ids?.map(modelName).join(" vs ") || "models"}` });
        byTestId("compare-job").replaceChildren(card.node);
      }
      card.update(job);
      if (ACTIVE.has(job.status) || shown) return;
      shown = true;
      if (job.status === "succeeded") {
        const [a, b] = job.params?.model_ids || [];
        if (a && b) {
          pickA.value = String(a);
          pickB.value = String(b);
        }
        showReport(job).catch((error) => showMessage(errorBox, error.message));
      } else showMessage(errorBox, `The comparison ${job.status}. ${errorSummary(job.error)}`);
      loadEarlier();
    },
    { interval: 1000, onError: (error) => showMessage(errorBox, `Connection problem, retrying… (${error.message})`) },
  );
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const a = Number(pickA.value);
  const b = Number(pickB.value);
  const problem = !a || !b ? "Register or fine-tune two models first." : a === b ? "Choose two different models." : "";
  showMessage(errorBox, problem);
  if (problem) return;
  const submit = byTestId("compare-submit");
  submit.disabled = true;
  try {
    const job = await postJSON(`/api/projects/${projectId}/evaluate`, { model_ids: [a, b] });
    show(job.id);
    loadEarlier();
  } catch (error) {
    showMessage(errorBox, error.message);
  } finally {
    submit.disabled = false;
  }
});

try {
  const ready = (await getJSON(`/api/models?project_id=${projectId}`)).filter((m) => m.status === "ready");
  models = new Map(ready.map((m) => [m.id, m]));
  fillPickers(ready);
  byTestId("compare-submit").disabled = ready.length < 2;
  if (ready.length < 2)
    showMessage(errorBox, "A comparison needs two ready models: register a base model or fine-tune one first.");
} catch (error) {
  showMessage(errorBox, `Could not load models: ${error.message}`);
}
loadEarlier();
const wanted = Number(new URLSearchParams(window.location.search).get("job"));
if (wanted) show(wanted);
