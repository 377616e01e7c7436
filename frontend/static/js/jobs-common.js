// Job helpers shared by the project page, the job page and the job list: polling and widgets.
import { getJSON, postJSON } from "./api.js";
import { el, progressBar, setProgress, showMessage } from "./dom.js";

export const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
export const ACTIVE = new Set(["queued", "running"]);

const KIND_NAMES = {
  sample: "Frame sampling",
  import: "Dataset import",
  export: "Dataset export",
  train: "Fine-tune",
  evaluate: "Evaluation",
  prelabel: "Pre-label",
  propagate: "Propagation",
  suggest: "Suggestions",
  export_onnx: "ONNX export",
  register_model: "Model check",
  remap: "Class remap",
  superpixels: "Superpixels",
};
export const kindName = (kind) => KIND_NAMES[kind] || kind;

/**
 * Polls GET /api/jobs/{id} every `interval` ms until the job is finished.
 * onUpdate(job) runs on every answer; onError(error) when a poll fails (it retries with backoff).
 */
export function watchJob(id, onUpdate, { interval = 500, onError = () => {} } = {}) {
  let stopped = false;
  let timer = null;
  let failures = 0;
  const tick = async () => {
    timer = null;
    try {
      const job = await getJSON(`/api/jobs/${id}`);
      failures = 0;
      if (stopped) return;
      onUpdate(job);
      if (FINISHED.has(job.status)) stopped = true;
    } catch (error) {
      failures += 1;
      if (!stopped) onError(error);
    }
    if (!stopped) timer = setTimeout(tick, failures ? Math.min(8000, interval * 2 ** failures) : interval);
  };
  tick();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
    /** Poll now (e.g. right after cancel) and keep polling if it had stopped. */
    poke() {
      stopped = false;
      if (timer !== null) clearTimeout(timer);
      tick();
    },
  };
}

export const cancelJob = (id) => postJSON(`/api/jobs/${id}/cancel`);
export const retryJob = (id) => postJSON(`/api/jobs/${id}/retry`);

/** A status pill: data-status drives its colour. */
export function statusBadge(status, testid = "job-status") {
  return el("span", { class: "status", testid, dataset: { status } }, status);
}

export function updateStatusBadge(node, status) {
  node.dataset.status = status;
  node.textContent = status;
}

/** The sentence of a job's error (errors stored before error_detail may hold a traceback). */
export function errorSummary(error) {
  const lines = String(error || "").trim().split("\n").filter((line) => line.trim());
  // Python tracebacks end with the exception line; plain messages are a single line.
  return lines.length > 1 && lines[0].startsWith("Traceback") ? lines[lines.length - 1] : lines[0] || "";
}

export function queueText(job) {
  if (job.status !== "queued") return "";
  return job.queue_position ? `#${job.queue_position} in queue` : "waiting for a worker";
}

/**
 * A compact live job card (used in the project page's job list).
 * Returns {node, update(job)}; actions call onChange(job) with the server's answer.
 */
export function jobCard(job, { title, onChange = () => {} } = {}) {
  const name = title || `${kindName(job.kind)} #${job.id}`;
  const badge = statusBadge(job.status);
  const bar = progressBar("job-progress", `${kindName(job.kind)} progress`);
  const message = el("p", { class: "job-message small", testid: "job-message" });
  const error = el("p", { class: "form-error small", testid: "job-error", role: "alert", hidden: true });
  const cancel = el("button", { type: "button", class: "btn small danger", testid: "job-cancel" }, "Cancel");
  const retry = el("button", { type: "button", class: "btn small", testid: "job-retry" }, "Retry");
  const node = el(
    "li",
    { class: "job-card", testid: "job-card", dataset: { jobId: job.id, status: job.status } },
    el(
      "div",
      { class: "job-card-head" },
      el("a", { href: `/jobs/${job.id}`, class: "job-title", title: `${name} (job ${job.id})` }, name),
      badge,
    ),
    bar,
    message,
    error,
    el("div", { class: "job-card-actions" }, cancel, retry),
  );
  const act = async (button, action) => {
    button.disabled = true;
    try {
      const updated = await action(job.id);
      update(updated);
      onChange(updated);
    } catch (failure) {
      showMessage(error, failure.message);
    } finally {
      button.disabled = false;
    }
  };
  cancel.addEventListener("click", () => act(cancel, cancelJob));
  retry.addEventListener("click", () => act(retry, retryJob));

  function update(next) {
    node.dataset.status = next.status;
    updateStatusBadge(badge, next.status);
    setProgress(bar, next.progress);
    bar.classList.toggle("pulse", next.status === "running");
    const text = [queueText(next), next.message].filter(Boolean).join(" · ");
    message.textContent = next.status === "succeeded" && !next.message ? "Done." : text;
    showMessage(error, next.status === "failed" ? errorSummary(next.error) || "The job failed." : "");
    cancel.hidden = !ACTIVE.has(next.status);
    retry.hidden = !(next.status === "failed" || next.status === "cancelled");
  }
  update(job);
  return { node, update };
}
