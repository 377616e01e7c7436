// The "Run a model…" dialog of a video row, and the job page's player and downloads.
import { getJSON, postJSON } from "./api.js";
import { byTestId, dialogSubmit, el, formatDuration, formatNumber, showMessage } from "./dom.js";

/** Wires the <dialog>; returns open(video). onQueued(job) runs after the server accepts. */
export function setupPredictDialog(dialog, projectId, onQueued) {
  const form = dialog.querySelector("form");
  const field = (name) => form.elements.namedItem(name);
  const errorBox = byTestId("predict-error", dialog);
  const submit = byTestId("predict-submit", dialog);
  let video = null;
  const number = (name) => {
    const raw = field(name).value.trim();
    return raw === "" ? null : Number(raw);
  };

  function read() {
    const body = { model_id: Number(field("model_id").value), masks: field("masks").checked };
    if (!body.model_id) return [null, "Choose a model (register or fine-tune one first)."];
    const compare = field("compare_model_id").value;
    if (compare) body.compare_model_id = Number(compare);
    if (body.compare_model_id === body.model_id) return [null, "Compare with another model than the one you run."];
    const [fps, start, end] = [number("fps"), number("start_s"), number("end_s")];
    if (fps !== null && !(fps > 0 && fps <= 120)) return [null, "Frames per second must be above 0 and at most 120."];
    if (start !== null && !(start >= 0)) return [null, "Start must be 0 or more seconds."];
    if (end !== null && end <= (start ?? 0)) return [null, "End must be after start."];
    if (end !== null && end > video.duration_s) return [null, `End must be within the video (${formatDuration(video.duration_s)}).`];
    for (const [key, value] of [["fps", fps], ["start_s", start], ["end_s", end]]) if (value !== null) body[key] = value;
    return [body, null];
  }

  dialogSubmit(dialog, {
    form,
    submit,
    cancel: byTestId("predict-cancel", dialog),
    errorBox,
    read,
    send: (body) => postJSON(`/api/videos/${video.id}/predict`, body),
    done: (job) => onQueued(job, video),
  });

  return async function open(target) {
    video = target;
    const facts = `${formatDuration(video.duration_s)} · ${formatNumber(video.fps)} fps`;
    byTestId("predict-video", dialog).textContent = `${video.filename} (${facts})`;
    field("end_s").placeholder = formatNumber(video.duration_s, 2);
    showMessage(errorBox, "");
    dialog.showModal();
    try {
      const ready = (await getJSON(`/api/models?project_id=${projectId}`)).filter((m) => m.status === "ready");
      const options = () => ready.map((m) => el("option", { value: String(m.id) }, `${m.name} (#${m.id}, ${m.kind})`));
      field("model_id").replaceChildren(...options());
      field("compare_model_id").replaceChildren(el("option", { value: "" }, "No comparison"), ...options());
      if (!ready.length) showMessage(errorBox, "No ready model yet: register a base model or fine-tune one first.");
    } catch (error) {
      showMessage(errorBox, error.message);
    }
  };
}

const DOWNLOADS = [
  ["video", "Overlay video (MP4)"],
  ["timeline_csv", "Class areas per frame (CSV)"],
  ["timeline_png", "Class-area chart (PNG)"],
  ["masks_zip", "Masks, one PNG per frame (zip)"],
];

/** Once a prediction has succeeded: the MP4 in a <video>, the chart and the downloads. */
export function renderPrediction(box, job) {
  if (job.status !== "succeeded" || box.dataset.shown === "1") return;
  box.dataset.shown = "1";
  const files = job.result?.files || {};
  const player = byTestId("predict-player", box);
  player.src = `/api/jobs/${job.id}/video`;
  byTestId("predict-chart", box).src = `/api/jobs/${job.id}/outputs/timeline_png`;
  const links = DOWNLOADS.filter(([what]) => files[what]).map(([what, label]) =>
    el("li", {}, el("a", { href: `/api/jobs/${job.id}/outputs/${what}`, download: "", testid: `predict-download-${what}` }, label)),
  );
  byTestId("predict-downloads", box).replaceChildren(...links);
  const names = (job.result?.models || []).map((m) => m.name).join(" | ");
  byTestId("predict-summary", box).textContent = `${job.result?.frames ?? 0} frames at ${formatNumber(job.result?.fps)} fps · ${names}`;
  box.hidden = false;
}
