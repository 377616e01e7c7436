// Job page: live status, progress, message, error details, params/result, cancel and retry;
// for fine-tunes also the iteration, ETA, loss and mean IoU curves and the newest val overlays.
import { trainingCharts } from "./curves.js";
import { byTestId, el, formatDate, setProgress, showMessage } from "./dom.js";
import { renderPrediction } from "./predict.js";
import { ACTIVE, FINISHED, cancelJob, errorSummary, queueText, retryJob, updateStatusBadge, watchJob } from "./jobs-common.js";

const jobId = Number(document.getElementById("main").dataset.jobId);
const cancel = byTestId("job-cancel");
const retry = byTestId("job-retry");
const actionError = byTestId("job-action-error");
const trainBox = byTestId("train-live");
const reportLink = byTestId("job-report-link");
const suggestedLink = byTestId("job-suggested-link");
const predictBox = byTestId("predict-output");
let watcher = null;
let chartsDrawn = null;
let overlaysShown = null;

const pretty = (value) => (value === null || value === undefined ? "–" : JSON.stringify(value, null, 2));

/** Where the job computes: the device its worker reported, or what it will get once taken. */
function runsOn(job) {
  if (job.queue !== "gpu" && job.queue !== "train") return "a worker's CPU";
  if (job.device) return job.device;
  if (job.status === "queued") return "the next free worker: its GPU if it has one, else its CPU";
  return "a worker (the device was not recorded)";
}

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
  // The API includes error_detail only for site administrators.
  byTestId("job-error-more").hidden = !job.error_detail;
  byTestId("job-error-details").textContent = job.error_detail || "";
  byTestId("job-params").textContent = pretty(job.params);
  byTestId("job-result").textContent = pretty(job.result);
  const facts = [
    [FINISHED.has(job.status) ? "Ran on" : "Runs on", runsOn(job)],
    ["Attempts", job.attempts],
    ["Created", formatDate(job.created_at)],
    ["Started", formatDate(job.started_at)],
    ["Finished", formatDate(job.finished_at)],
  ];
  byTestId("job-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v ?? "–"))]));
  cancel.hidden = !ACTIVE.has(job.status);
  retry.hidden = !(job.status === "failed" || job.status === "cancelled");
  document.title = `Job ${job.id} · ${job.status} · SegTune`;
  if (reportLink) {
    const comparable = job.kind === "train" || (job.params?.model_ids || []).length === 2;
    reportLink.hidden = !(job.status === "succeeded" && comparable);
  }
  if (suggestedLink) suggestedLink.hidden = job.status !== "succeeded";
  if (trainBox) renderTraining(job);
  if (predictBox) renderPrediction(predictBox, job);
}

const fixed = (value, digits = 3) => (Number.isFinite(value) ? value.toFixed(digits) : "–");

/** Seconds as "42 s", "3 min" or "1 h 05 min". */
function formatEta(seconds) {
  if (!Number.isFinite(seconds)) return "–";
  if (seconds < 90) return `${Math.max(0, Math.round(seconds))} s`;
  const minutes = Math.round(seconds / 60);
  return minutes < 60 ? `${minutes} min` : `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

function latest(history, key) {
  for (let i = history.length - 1; i >= 0; i -= 1) if (Number.isFinite(history[i][key])) return history[i];
  return null;
}

function renderTraining(job) {
  const history = job.detail?.history || [];
  const timeline = job.detail?.timeline || [];
  const last = history[history.length - 1];
  const total = last?.total ?? job.params?.iterations ?? null;
  const iteration = last?.iteration ?? 0;
  trainBox.dataset.iteration = String(iteration);
  trainBox.dataset.total = String(total ?? "");
  byTestId("train-iteration").textContent = `${iteration} / ${total ?? "?"}`;
  let eta = "–";
  if (job.status === "running") eta = last ? formatEta(last.eta_seconds) : "estimating…";
  else if (job.status === "succeeded") eta = "done";
  byTestId("train-eta").textContent = eta;
  byTestId("train-loss").textContent = fixed(latest(history, "train_loss")?.train_loss);
  byTestId("train-val-loss").textContent = fixed(latest(history, "val_loss")?.val_loss);
  byTestId("train-miou").textContent = fixed(latest(history, "val_miou")?.val_miou);
  const best = history.filter((h) => h.is_best && Number.isFinite(h.val_miou)).pop();
  byTestId("train-best").textContent = best ? `best val mean IoU ${fixed(best.val_miou)} at iteration ${best.iteration}` : "";
  const drawn = `${history.length}/${total}`;
  if (drawn !== chartsDrawn) {
    chartsDrawn = drawn;
    const charts = trainingCharts(history, total);
    byTestId("chart-loss").querySelector(".chart-box").replaceChildren(charts.loss);
    byTestId("chart-miou").querySelector(".chart-box").replaceChildren(charts.miou);
  }
  const newest = timeline[timeline.length - 1];
  // Drawn again when the job finishes too: overlays that failed to load get another chance.
  const overlayKey = `${newest?.iteration}:${FINISHED.has(job.status)}`;
  if (newest && overlayKey !== overlaysShown) {
    overlaysShown = overlayKey;
    const pictures = (newest.overlays || []).map((overlay, k) => {
      const img = el("img", {
        src: `/api/jobs/${job.id}/timeline/${newest.iteration}/${k}.png`,
        alt: `Validation overlay of ${overlay.frame || `frame ${k + 1}`} after iteration ${newest.iteration}`,
        testid: "train-overlay",
      });
      img.addEventListener("error", () => img.closest("figure")?.classList.add("broken"));
      return el("figure", { class: "overlay" }, img, el("figcaption", {}, overlay.frame || `frame ${k + 1}`));
    });
    byTestId("train-overlays").replaceChildren(...pictures);
    byTestId("overlay-iteration").textContent = `· after iteration ${newest.iteration}`;
  }
  byTestId("train-overlays-empty").hidden = Boolean(newest);
}

function start() {
  watcher?.stop();
  watcher = watchJob(jobId, render, {
    interval: trainBox ? 1000 : 500,
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
