// Project page: videos, uploads, sampling jobs with live progress, splits and the frame grid.
import { getJSON, postJSON, withQuery } from "./api.js";
import { byTestId, el, formatBytes, formatDuration, formatNumber, showMessage, throttle, toast } from "./dom.js";
import { createFrameGrid } from "./frames.js";
import { ACTIVE, FINISHED, jobCard, watchJob } from "./jobs-common.js";
import { confirmDelete, manageButtons, renameDialog } from "./removal.js";
import { setupPredictDialog } from "./predict.js";
import { setupSampleDialog } from "./sample.js";
import { isImage, setupDropZone, uploadFiles, uploadItem } from "./upload.js";

const main = document.getElementById("main");
const projectId = Number(main.dataset.projectId);
const maxUploadBytes = Number(main.dataset.maxUploadBytes) || 0;
const videos = new Map();
const framesPerVideo = new Map();

// ---- frames -------------------------------------------------------------------------------
const grid = createFrameGrid(document.querySelector("section.frames"), projectId, {
  sourceName: (frame) => videos.get(frame.video_id)?.filename || frame.source_name || "image",
  onFrames(all) {
    framesPerVideo.clear();
    for (const frame of all) {
      if (frame.video_id !== null) framesPerVideo.set(frame.video_id, (framesPerVideo.get(frame.video_id) || 0) + 1);
    }
    for (const row of document.querySelectorAll('[data-testid="video-row"]')) {
      const cell = byTestId("video-sampled", row);
      cell.textContent = String(framesPerVideo.get(Number(row.dataset.videoId)) || 0);
    }
  },
});

// ---- videos -------------------------------------------------------------------------------
const rows = byTestId("video-rows");
const openSample = setupSampleDialog(byTestId("sample-dialog"), (job, video) => {
  trackJob(job, `Sampling ${video.filename}`);
  toast(`Sampling job #${job.id} queued.`, "success");
});

const openPredict = setupPredictDialog(byTestId("predict-dialog"), projectId, (job) => {
  window.location.href = `/jobs/${job.id}`;
});

function videoRow(video) {
  const format = [video.container, video.codec, formatBytes(video.size_bytes)].filter(Boolean).join(" · ");
  const rotated = video.rotation ? ` (rotated ${video.rotation}°)` : "";
  const showFrames = () => {
    grid.setFilters({ video_id: video.id });
    document.querySelector("section.frames").scrollIntoView({ behavior: "smooth" });
  };
  return el(
    "tr",
    { testid: "video-row", dataset: { videoId: video.id } },
    el(
      "td",
      { class: "file-cell" },
      el("span", { class: "file-name", testid: "video-name", title: video.filename }, video.filename),
      el("span", { class: "file-meta", testid: "video-format" }, format),
    ),
    el("td", { class: "num", testid: "video-resolution" }, `${video.width}×${video.height}${rotated}`),
    el("td", { class: "num", testid: "video-fps" }, formatNumber(video.fps)),
    el("td", { class: "num", testid: "video-duration" }, formatDuration(video.duration_s)),
    el("td", { class: "num", testid: "video-frames" }, String(video.frame_count)),
    el("td", { class: "num", testid: "video-sampled" }, String(framesPerVideo.get(video.id) || 0)),
    el(
      "td",
      { class: "actions" },
      el("button", { type: "button", class: "btn small primary owner-only", testid: "video-sample", onclick: () => openSample(video) }, "Sample…"),
      el("button", { type: "button", class: "btn small ghost labeler-only", testid: "video-predict", onclick: () => openPredict(video) }, "Run a model…"),
      el("button", { type: "button", class: "btn small ghost", testid: "video-show-frames", title: "Show only this video's frames", onclick: showFrames }, "Frames"),
      ...manageButtons("video", { onRename: () => renameVideo(video), onDelete: () => deleteVideo(video) }),
    ),
  );
}

async function renameVideo(video) {
  const renamed = await renameDialog(`video “${video.filename}”`, `/api/videos/${video.id}`, "filename", video.filename);
  if (!renamed) return;
  videos.set(video.id, renamed);
  renderVideos();
  grid.refresh();
}

async function deleteVideo(video) {
  if (!(await confirmDelete(`video “${video.filename}” and its frames`, `/api/videos/${video.id}`))) return;
  videos.delete(video.id);
  renderVideos();
  grid.refresh();
  toast(`Video “${video.filename}” deleted.`, "success");
}

function renderVideos() {
  const list = [...videos.values()];
  rows.replaceChildren(...list.map(videoRow));
  byTestId("video-empty").hidden = list.length > 0;
  const seconds = list.reduce((sum, v) => sum + v.duration_s, 0);
  byTestId("video-summary").textContent = list.length
    ? `${list.length} video${list.length === 1 ? "" : "s"} · ${formatDuration(seconds, 0)} total`
    : "";
  const filter = byTestId("filter-video");
  const chosen = filter.value;
  filter.replaceChildren(
    el("option", { value: "" }, "All sources"),
    ...list.map((v) => el("option", { value: v.id }, v.filename)),
  );
  filter.value = videos.has(Number(chosen)) ? chosen : "";
}

async function loadVideos() {
  try {
    const list = await getJSON(`/api/projects/${projectId}/videos`);
    videos.clear();
    for (const video of list) videos.set(video.id, video);
    renderVideos();
  } catch (error) {
    toast(`Could not load videos: ${error.message}`, "error", 8000);
  }
}

// ---- uploads ------------------------------------------------------------------------------
const uploadList = byTestId("upload-list");
if (maxUploadBytes) byTestId("upload-zone").querySelector("#upload-limit").textContent = ` · up to ${formatBytes(maxUploadBytes)} each`;

/**
 * Uploads files as one request; onAdded(item, data, mode) on success. An identical file already
 * in the project comes back as 409: the item then offers skip (images: send the others) or
 * upload anyway, without holding up the uploads queued after it.
 */
function send(url, field, files, title, onAdded) {
  const bytes = files.reduce((sum, f) => sum + f.size, 0);
  const item = uploadItem(uploadList, title, bytes);
  const big = files.filter((f) => maxUploadBytes && f.size > maxUploadBytes);
  if (big.length) {
    // The row's head names a single file already; of several, say which ones.
    const which = files.length === 1 ? "Larger" : `${big.map((f) => f.name).join(", ")}: larger`;
    item.failed(`${which} than the ${formatBytes(maxUploadBytes)} upload limit.`);
    return Promise.resolve();
  }
  const attempt = (mode) => {
    const upload = uploadFiles(withQuery(url, { duplicates: mode }), field, files, {
      onProgress: (fraction, loaded, total) => item.progress(fraction, loaded, total),
      onSent: () => item.processing(field === "file" ? "Checking the video…" : "Checking the images…"),
    });
    item.cancel = upload.abort;
    return upload.promise.then(
      (data) => onAdded(item, data, mode),
      (error) => {
        const found = error.status === 409 ? error.data?.duplicates : null;
        if (!found) {
          // The row's head names the file; the server names it too (needed for several).
          const named = files.length === 1 && error.message.startsWith(`${files[0].name}: `);
          return item.failed(named ? error.message.slice(files[0].name.length + 2) : error.message);
        }
        const again = (next) => () => {
          item.restart();
          attempt(next);
        };
        const others = files.length - new Set(found.map((d) => d.index)).size;
        const skip = others > 0
          ? ["Skip duplicates", "upload-skip", again("skip")]
          : ["Skip", "upload-skip", () => item.skipped(`Skipped: already in this project`)];
        item.duplicate(error.message, [skip, ["Upload anyway", "upload-keep", again("keep")]]);
      },
    );
  };
  return attempt(undefined);
}

function uploadVideo(file) {
  return send(`/api/projects/${projectId}/videos`, "file", [file], file.name, (item, video) => {
    item.done(`Added: ${video.width}×${video.height}, ${formatNumber(video.fps)} fps, ${formatDuration(video.duration_s)}`);
    videos.set(video.id, video);
    renderVideos();
  });
}

function uploadImages(files) {
  const title = files.length === 1 ? files[0].name : `${files.length} images`;
  return send(`/api/projects/${projectId}/images`, "files", files, title, (item, frames, mode) => {
    const skipped = mode === "skip" ? files.length - frames.length : 0;
    const note = skipped ? `, skipped ${skipped} duplicate${skipped === 1 ? "" : "s"}` : "";
    item.done(`Added ${frames.length} frame${frames.length === 1 ? "" : "s"}${note}`);
    grid.refresh();
  });
}

async function handleFiles(files) {
  const images = files.filter(isImage);
  const others = files.filter((f) => !isImage(f));
  // One at a time, so each file gets the whole connection and its own clear progress.
  for (const file of others) await uploadVideo(file);
  if (images.length) await uploadImages(images);
}

const input = byTestId("upload-input");
input.addEventListener("change", () => {
  const files = [...input.files];
  input.value = "";
  handleFiles(files);
});
const imagesInput = byTestId("images-input");
imagesInput.addEventListener("change", () => {
  const files = [...imagesInput.files];
  imagesInput.value = "";
  if (files.length) uploadImages(files);
});
setupDropZone(byTestId("upload-zone"), handleFiles);

// ---- jobs ---------------------------------------------------------------------------------
const jobList = byTestId("job-list");
const watched = new Map();

const KEEP_FINISHED = 5;

function syncJobEmpty() {
  // Keep every active job and the few most recent finished ones; the rest live on /jobs.
  const finished = [...jobList.children].filter((node) => FINISHED.has(node.dataset.status));
  for (const node of finished.slice(KEEP_FINISHED)) {
    watched.get(Number(node.dataset.jobId))?.stop();
    watched.delete(Number(node.dataset.jobId));
    node.remove();
  }
  byTestId("job-empty").hidden = jobList.children.length > 0;
}

function trackJob(job, title) {
  if (watched.has(job.id)) return;
  const refreshFrames = throttle(() => grid.refresh(), 1000);
  let lastProgress = -1;
  let latest = job;
  const card = jobCard(job, {
    title,
    onChange: (updated) => {
      if (!FINISHED.has(updated.status)) watcher.poke();
    },
  });
  jobList.prepend(card.node);
  syncJobEmpty();
  const watcher = watchJob(
    job.id,
    (next) => {
      latest = next;
      card.update(next);
      if (next.kind === "sample" && next.progress !== lastProgress) {
        lastProgress = next.progress;
        refreshFrames();
      }
      if (FINISHED.has(next.status)) {
        grid.refresh();
        syncJobEmpty();
        if (next.status === "succeeded" && next.result) {
          const added = next.result.frames_added ?? 0;
          const existing = next.result.frames_existing ?? 0;
          toast(`${title}: ${added} frame${added === 1 ? "" : "s"} added${existing ? `, ${existing} already there` : ""}.`, "success");
        } else if (next.status === "failed") toast(`${title} failed.`, "error", 8000);
      }
    },
    { onError: (error) => card.update({ ...latest, message: `Connection problem, retrying… (${error.message})` }) },
  );
  watched.set(job.id, watcher);
}

async function loadActiveJobs() {
  try {
    const jobs = await getJSON(withQuery("/api/jobs", { project_id: projectId }));
    for (const job of jobs.filter((j) => ACTIVE.has(j.status)).reverse()) {
      const video = videos.get(job.params?.video_id);
      trackJob(job, job.kind === "sample" && video ? `Sampling ${video.filename}` : undefined);
    }
  } catch (error) {
    toast(`Could not load jobs: ${error.message}`, "error");
  }
  syncJobEmpty();
}

// ---- splits -------------------------------------------------------------------------------
const splitForm = byTestId("split-form");
splitForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const f = splitForm.elements;
  const errorBox = byTestId("split-error");
  const result = byTestId("split-result");
  const body = {
    strategy: f.namedItem("strategy").value,
    train: Number(f.namedItem("train").value || 0),
    val: Number(f.namedItem("val").value || 0),
    test: Number(f.namedItem("test").value || 0),
    seed: Number(f.namedItem("seed").value || 0),
  };
  const fractions = [body.train, body.val, body.test];
  if (fractions.some((x) => !Number.isFinite(x) || x < 0) || fractions.every((x) => x === 0)) {
    showMessage(errorBox, "Fractions must be 0 or more, and not all 0.");
    return;
  }
  if (!Number.isInteger(body.seed)) {
    showMessage(errorBox, "The seed must be a whole number.");
    return;
  }
  showMessage(errorBox, "");
  const button = byTestId("split-submit");
  button.disabled = true;
  try {
    const counts = await postJSON(`/api/projects/${projectId}/splits`, body);
    result.replaceChildren(
      "Assigned: ",
      ...["train", "val", "test"].map((s) =>
        el("span", { class: `badge split-${s}`, testid: `split-result-${s}`, dataset: { count: counts[s] } }, `${s} ${counts[s]}`),
      ),
    );
    result.hidden = false;
    await grid.refresh();
  } catch (error) {
    showMessage(errorBox, error.message);
  } finally {
    button.disabled = false;
  }
});

// Dataset imports and exports (datasets.js) are listed here too; an import's end refreshes the grid.
document.addEventListener("segtune:job", (event) => trackJob(event.detail.job, event.detail.title));

// ---- start --------------------------------------------------------------------------------
await loadVideos();
await Promise.all([grid.refresh(), loadActiveJobs()]);
