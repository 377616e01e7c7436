// "Watch before | after on a video of this project": a fine-tune report's control that runs the
// fine-tuned model and the base it started from over one of the project's videos.
import { getJSON, postJSON } from "./api.js";
import { byTestId, el, formatDuration, showMessage } from "./dom.js";

/**
 * What to run: the fine-tuned model, and its start read through the class map the fine-tune was
 * trained with (the report's "before" mapping), so both sides are read under one mapping.
 */
export function watchRequest(report, job) {
  const before = report.mappings?.before;
  const body = { model_id: report.model_id };
  const baseId = before?.model_id ?? job?.params?.base_model_id ?? null;
  if (baseId !== null && baseId !== body.model_id) {
    body.compare_model_id = baseId;
    const table = before?.class_map ?? job?.params?.class_map;
    if (table) body.compare_class_map = table;
  }
  return body;
}

/** Shows `card` with a video picker and a button (or says the project has no video). */
export async function renderWatchControl(card, { projectId, report, job }) {
  if (!projectId || !report.model_id) return;
  const box = byTestId("watch-body", card);
  card.hidden = false;
  const body = watchRequest(report, job);
  const paired = body.compare_model_id !== undefined;
  let videos;
  try {
    videos = await getJSON(`/api/projects/${projectId}/videos`);
  } catch (failure) {
    box.replaceChildren(el("p", { class: "form-error", role: "alert", testid: "watch-error" }, failure.message));
    return;
  }
  if (!videos.length) {
    const note = "This project has no video yet: upload one on the project page to watch the models on it.";
    box.replaceChildren(el("p", { class: "muted", testid: "watch-no-videos" }, note));
    return;
  }
  const option = (v) => el("option", { value: String(v.id) }, `${v.filename} (${formatDuration(v.duration_s)})`);
  const select = el("select", { name: "video_id", testid: "watch-video" }, ...videos.map(option));
  const label = paired ? "Watch before | after" : "Watch the fine-tuned model";
  const button = el("button", { type: "submit", class: "btn primary", testid: "watch-submit" }, label);
  const error = el("p", { class: "form-error", role: "alert", hidden: true, testid: "watch-error" });
  const hint = paired
    ? "The base model (left, before) and the fine-tuned model (right, after) side by side over the whole video, each under its name, both read as this project's classes through the class map the fine-tune was trained with. The job page plays the video when it is ready."
    : "This fine-tune started from random initialisation, so there is no before: the video shows the fine-tuned model alone. The job page plays it when it is ready.";
  const form = el(
    "form",
    { class: "watch-form", testid: "watch-form" },
    el("label", { class: "field" }, el("span", { class: "field-label" }, "Video"), select),
    button,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    showMessage(error, "");
    try {
      const queued = await postJSON(`/api/videos/${select.value}/predict`, body);
      window.location.assign(`/jobs/${queued.id}`);
    } catch (failure) {
      showMessage(error, failure.message);
      button.disabled = false;
    }
  });
  box.replaceChildren(el("p", { class: "hint" }, hint), form, error);
}
