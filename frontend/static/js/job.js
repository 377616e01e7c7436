// Job page: live status, progress, message, error details, params/result, cancel and retry.
import { byTestId, el, formatDate, setProgress, showMessage } from "./dom.js";
import { ACTIVE, FINISHED, cancelJob, errorSummary, queueText, retryJob, updateStatusBadge, watchJob } from "./jobs-common.js";

const jobId = Number(document.getElementById("main").dataset.jobId);
const cancel = byTestId("job-cancel");
const retry = byTestId("job-retry");
const actionError = byTestId("job-action-error");
let watcher = null;

const pretty = (value) => (value === null || value === undefined ? "–" : JSON.stringify(value, null, 2));

function render(job) {
  byTestId("job-detail").dataset.status = job.status;
  updateStatusBadge(byTestId("job-status"), job.status);
  const bar = byTestId("job-progress");
  setProgress(bar, job.progress);
  bar.classList.toggle("pulse", job.status === "running");
  byTestId("job-percent").textContent = `${Math.round(job.progress * 100)}%`;
  byTestId("job-queue").textContent = queueText(job);
  byTestId("job-message").textContent = job.message || (FINISHED.has(job.status) ? "" : "Waiting for progress…");
  const failed = Boolean(job.error);
  byTestId("job-error").hidden = !failed;
  byTestId("job-error-summary").textContent = failed ? errorSummary(job.error) : "";
  byTestId("job-error-details").textContent = job.error || "";
  byTestId("job-params").textContent = pretty(job.params);
  byTestId("job-result").textContent = pretty(job.result);
  const facts = [
    ["Queue", job.queue],
    ["Attempts", job.attempts],
    ["Created", formatDate(job.created_at)],
    ["Started", formatDate(job.started_at)],
    ["Finished", formatDate(job.finished_at)],
  ];
  byTestId("job-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v ?? "–"))]));
  cancel.hidden = !ACTIVE.has(job.status);
  retry.hidden = !(job.status === "failed" || job.status === "cancelled");
  document.title = `Job ${job.id} · ${job.status} · SegTune`;
}

function start() {
  watcher?.stop();
  watcher = watchJob(jobId, render, {
    onError: (error) => showMessage(actionError, `Connection problem, retrying… (${error.message})`),
  });
}

async function act(button, action) {
  button.disabled = true;
  showMessage(actionError, "");
  try {
    render(await action(jobId));
    start();
  } catch (error) {
    showMessage(actionError, error.message);
  } finally {
    button.disabled = false;
  }
}

cancel.addEventListener("click", () => act(cancel, cancelJob));
retry.addEventListener("click", () => act(retry, retryJob));
start();
