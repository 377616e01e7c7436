// The "sample frames" dialog: fps or every N-th frame, optional range and cap -> a queued job.
import { postJSON } from "./api.js";
import { byTestId, dialogSubmit, formatDuration, formatNumber, showMessage } from "./dom.js";

/** Wires the <dialog>; returns open(video). onQueued(job, video) runs after the server accepts. */
export function setupSampleDialog(dialog, onQueued) {
  const form = dialog.querySelector("form");
  const field = (name) => form.elements.namedItem(name);
  const errorBox = byTestId("sample-error", dialog);
  const estimate = byTestId("sample-estimate", dialog);
  const submit = byTestId("sample-submit", dialog);
  let video = null;

  const mode = () => form.elements.namedItem("mode").value;
  const number = (name) => {
    const raw = field(name).value.trim();
    return raw === "" ? null : Number(raw);
  };

  function syncMode() {
    for (const node of form.querySelectorAll("[data-mode]")) node.hidden = node.dataset.mode !== mode();
    updateEstimate();
  }

  /** Reads and checks the form; returns [body, null] or [null, message]. */
  function read() {
    const body = {};
    if (mode() === "fps") {
      const fps = number("fps");
      if (!(fps > 0 && fps <= 240)) return [null, "Frames per second must be above 0 and at most 240."];
      body.fps = fps;
    } else {
      const n = number("every_n_frames");
      if (!(Number.isInteger(n) && n >= 1)) return [null, "Every N-th frame needs a whole number of at least 1."];
      body.every_n_frames = n;
    }
    const start = number("start_s");
    const end = number("end_s");
    const max = number("max_frames");
    if (start !== null && !(start >= 0)) return [null, "Start must be 0 or more seconds."];
    if (end !== null && !(end > 0)) return [null, "End must be above 0 seconds."];
    if (end !== null && end <= (start ?? 0)) return [null, "End must be after start."];
    if (video && start !== null && start >= video.duration_s) {
      return [null, `Start must be before the end of the video (${formatDuration(video.duration_s)}).`];
    }
    if (max !== null && !(Number.isInteger(max) && max >= 1)) return [null, "Max frames needs a whole number of at least 1."];
    if (start !== null) body.start_s = start;
    if (end !== null) body.end_s = end;
    if (max !== null) body.max_frames = max;
    return [body, null];
  }

  function updateEstimate() {
    const [body, problem] = read();
    if (!video || !body) {
      estimate.textContent = problem || "";
      return;
    }
    const start = body.start_s ?? 0;
    const end = Math.min(body.end_s ?? video.duration_s, video.duration_s);
    const span = Math.max(0, end - start);
    let count = body.fps
      ? Math.ceil(span * Math.min(body.fps, video.fps || body.fps) - 1e-9)
      : Math.ceil((span * (video.fps || 0)) / body.every_n_frames - 1e-9);
    if (body.max_frames) count = Math.min(count, body.max_frames);
    const range = `${formatDuration(start)}–${formatDuration(end)}`;
    estimate.textContent = `About ${count} frame${count === 1 ? "" : "s"} from ${range}.`;
  }

  for (const radio of form.querySelectorAll('input[name="mode"]')) radio.addEventListener("change", syncMode);
  form.addEventListener("input", updateEstimate);
  // Clicking the backdrop (outside the form) closes the dialog.
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close();
  });

  dialogSubmit(dialog, {
    form,
    submit,
    cancel: byTestId("sample-cancel", dialog),
    errorBox,
    read,
    send: (body) => postJSON(`/api/videos/${video.id}/sample`, body),
    done: (job) => onQueued(job, video),
    busyText: "Queueing…",
  });

  return function open(target) {
    video = target;
    const facts = `${formatDuration(video.duration_s)} · ${formatNumber(video.fps)} fps · ${video.frame_count} frames`;
    byTestId("sample-video", dialog).textContent = `${video.filename} (${facts})`;
    field("end_s").placeholder = formatNumber(video.duration_s, 2);
    field("end_s").max = String(video.duration_s);
    field("start_s").max = String(video.duration_s);
    showMessage(errorBox, "");
    syncMode();
    dialog.showModal();
    field(mode() === "fps" ? "fps" : "every_n_frames").focus();
  };
}
