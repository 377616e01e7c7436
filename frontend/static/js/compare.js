// Compare page: pick two models (of any project you can read), check how each one's classes are
// read as this project's, score both on the test frames (an evaluate job), then show the
// side-by-side report with the same rendering as a fine-tune report.
import { getJSON, postJSON } from "./api.js";
import { byTestId, el, formatDate, showMessage } from "./dom.js";
import { ACTIVE, errorSummary, jobCard, watchJob } from "./jobs-common.js";
import { classMapEditor, describeMapping } from "./mapping.js";
import { downloadLinks, renderReport } from "./report.js";

const projectId = Number(document.getElementById("main").dataset.projectId);
const form = byTestId("compare-form");
const pickA = byTestId("compare-a");
const pickB = byTestId("compare-b");
const errorBox = byTestId("compare-error");
const host = byTestId("report-body");
const mappingsBox = byTestId("compare-mappings");
const differsBox = byTestId("compare-differs");
const confirmBox = byTestId("compare-confirm-box");
const confirmInput = byTestId("compare-confirm");
let models = new Map();
let projectClasses = [];
let watcher = null;
const edits = new Map(); // model id -> the class map chosen here
let checking = 0;

const modelName = (id) => models.get(id)?.name ?? `model ${id}`;
const picked = () => [Number(pickA.value), Number(pickB.value)];
const classMaps = () => Object.fromEntries([...edits].filter(([id]) => picked().includes(id)));

/** Groups of options: this project, the shared models, then each other project you can read. */
function groups(ready) {
  const order = [];
  const byKey = new Map();
  for (const m of ready) {
    const key = m.project_id === projectId ? "here" : m.project_id === null ? "shared" : `p${m.project_id}`;
    const label =
      key === "here" ? "This project" : key === "shared" ? "Shared base models" : `Project: ${m.project_name ?? `#${m.project_id}`}`;
    if (!byKey.has(key)) byKey.set(key, { key, label, models: [] });
    byKey.get(key).models.push(m);
  }
  for (const key of ["here", "shared"]) if (byKey.has(key)) order.push(byKey.get(key));
  for (const [key, group] of byKey) if (key !== "here" && key !== "shared") order.push(group);
  return order;
}

function fillPickers(ready) {
  const sorted = groups(ready);
  const options = () =>
    sorted.map((group) =>
      el(
        "optgroup",
        { label: group.label, dataset: { group: group.key } },
        ...group.models.map((m) =>
          el("option", { value: m.id }, `${m.name} (#${m.id}, ${m.kind === "finetuned" ? "fine-tuned" : "base"})`),
        ),
      ),
    );
  pickA.replaceChildren(...options());
  pickB.replaceChildren(...options());
  // Default: the newest model here (B) against the model it was fine-tuned from (A), if any.
  const [newest, next] = sorted.flatMap((group) => group.models);
  if (!newest) return;
  pickB.value = String(newest.id);
  pickA.value = String(models.has(newest.base_model_id) ? newest.base_model_id : (next ?? newest).id);
}

/** How each picked model would be scored (asked of the server), with an editor for class maps. */
async function checkMappings() {
  const ids = picked();
  const ticket = ++checking;
  if (!ids[0] || !ids[1] || ids[0] === ids[1]) return renderMappings(ids, null);
  try {
    const body = { model_ids: ids, class_maps: classMaps() };
    const answer = await postJSON(`/api/projects/${projectId}/evaluate/check`, body);
    if (ticket === checking) renderMappings(ids, answer);
  } catch (error) {
    if (ticket === checking) showMessage(errorBox, error.message);
  }
}

function renderMappings(ids, answer) {
  const open = new Set([...mappingsBox.querySelectorAll("details[open]")].map((d) => Number(d.dataset.modelId)));
  const differs = answer?.differs || [];
  mappingsBox.replaceChildren(
    ...(answer ? ids : []).map((id, k) => {
      const mapping = answer.mappings[String(id)];
      const title = `${k ? "B" : "A"}: ${modelName(id)} · ${describeMapping(mapping)}`;
      const props = { testid: "compare-mapping", dataset: { modelId: id, source: mapping.source } };
      if (!mapping.table) return el("p", { class: "hint", ...props }, `${title}.`);
      const change = (i, target) => {
        const table = [...(edits.get(id) || mapping.table)];
        table[i] = target;
        edits.set(id, table);
        checkMappings();
      };
      const reset = () => (edits.delete(id), checkMappings());
      return el(
        "details",
        { class: "mapping-pick", open: open.has(id), ...props },
        el("summary", {}, `${title} (edit the class map)`),
        classMapEditor(models.get(id), projectClasses, mapping.table, change),
        edits.has(id) ? el("button", { type: "button", class: "btn ghost small", testid: "classmap-reset", onclick: reset }, "Back to the default") : null,
      );
    }),
  );
  const words = differs.map((d) => d.text).join("; ");
  showMessage(differsBox, differs.length ? `These two models map classes differently: ${words}.` : "");
  confirmBox.hidden = !differs.length;
  if (!differs.length) confirmInput.checked = false;
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
          checkMappings();
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
    const body = { model_ids: [a, b], class_maps: classMaps(), confirm_mapping_differs: confirmInput.checked };
    const job = await postJSON(`/api/projects/${projectId}/evaluate`, body);
    show(job.id);
    loadEarlier();
  } catch (error) {
    showMessage(errorBox, error.message);
  } finally {
    submit.disabled = false;
  }
});

pickA.addEventListener("change", checkMappings);
pickB.addEventListener("change", checkMappings);

try {
  const [list, project] = await Promise.all([getJSON("/api/models"), getJSON(`/api/projects/${projectId}`)]);
  projectClasses = project.classes;
  const ready = list.filter((m) => m.status === "ready");
  models = new Map(ready.map((m) => [m.id, m]));
  fillPickers(ready);
  checkMappings();
  byTestId("compare-submit").disabled = ready.length < 2;
  if (ready.length < 2)
    showMessage(errorBox, "A comparison needs two ready models: register a base model or fine-tune one first.");
} catch (error) {
  showMessage(errorBox, `Could not load models: ${error.message}`);
}
loadEarlier();
const wanted = Number(new URLSearchParams(window.location.search).get("job"));
if (wanted) show(wanted);
