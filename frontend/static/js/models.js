// Models page: the project's models (downloads, ONNX export), registering a checkpoint with real
// upload progress, and pre-labeling frames (asking before any human-edited mask is replaced).
import { getJSON, postJSON } from "./api.js";
import { byTestId, el, formatBytes, formatDate, showMessage, toast } from "./dom.js";
import { jobCard, watchJob } from "./jobs-common.js";
import { retryDialog } from "./model-retry.js";
import { onnxControl, onnxExports } from "./report.js";
import { confirmDelete, manageButtons, renameDialog } from "./removal.js";
import { postForm, uploadItem } from "./upload.js";

const main = document.getElementById("main");
const projectId = Number(main.dataset.projectId);
const maxUploadBytes = Number(main.dataset.maxUploadBytes) || 0;
const STATUS_LOOK = { pending: "running", ready: "succeeded", failed: "failed" };
const HUMAN_KEPT = "human-edited mask kept";
let models = [];
let exported = new Set();
let timer = null;

// ---- model list ---------------------------------------------------------------------------
function classesCell(model) {
  const classes = model.classes || [];
  const dots = classes.slice(0, 6).map((c) => el("span", { class: "swatch", style: `background-color: ${c.color}` }));
  const facts = [model.output_stride ? `output stride ${model.output_stride}` : "", model.preset || ""].filter(Boolean);
  return el(
    "td",
    { testid: "model-architecture" },
    model.architecture || "–",
    el(
      "span",
      { class: "model-meta project-classes", testid: "model-classes", dataset: { count: classes.length } },
      el("span", { class: "swatches", "aria-hidden": "true" }, ...dots),
      `${classes.length} classes${facts.length ? ` · ${facts.join(" · ")}` : ""}`,
    ),
  );
}

function modelRow(model) {
  const look = STATUS_LOOK[model.status] || model.status;
  const status = el("span", { class: "status", testid: "model-status", dataset: { status: look } }, model.status);
  const origin = model.train_job_id
    ? el("a", { href: `/jobs/${model.train_job_id}/report`, class: "model-meta" }, `from job #${model.train_job_id}`)
    : el("span", { class: "model-meta" }, model.project_id ? "this project" : "shared");
  const error = model.error
    ? el(
        "span",
        { class: "model-meta model-error", testid: "model-error", title: model.error },
        model.error.trim().split("\n").pop(),
      )
    : null;
  const actions = [];
  if (model.status === "failed" && model.kind === "base") {
    actions.push(
      el("button", { type: "button", class: "btn small", testid: "model-retry", onclick: () => openRetry(model) }, "Retry…"),
    );
  }
  if (model.status === "ready") {
    const train = `/projects/${projectId}/train?base=${model.id}`;
    actions.push(
      el("a", { class: "btn small primary", href: train, testid: "model-finetune" }, "Fine-tune"),
      el(
        "a",
        { class: "btn small", href: `/api/models/${model.id}/download`, download: "", testid: "model-download" },
        "Checkpoint",
      ),
      onnxControl(model, exported),
    );
  }
  const url = `/api/models/${model.id}`;
  actions.push(
    ...manageButtons("model", {
      async onRename() {
        if (await renameDialog(`model “${model.name}”`, url, "name", model.name)) loadModels();
      },
      async onDelete() {
        if (!(await confirmDelete(`model “${model.name}”`, url))) return;
        toast(`Model “${model.name}” deleted.`, "success");
        loadModels();
      },
    }),
  );
  const when = `#${model.id} · ${formatBytes(model.size_bytes)} · ${formatDate(model.created_at)}`;
  return el(
    "tr",
    { testid: "model-row", dataset: { modelId: model.id, status: model.status } },
    el(
      "td",
      { class: "file-cell" },
      el("span", { class: "model-name", testid: "model-name", title: model.filename }, model.name),
      el("span", { class: "model-meta" }, when),
    ),
    el(
      "td",
      {},
      el("span", { class: "badge", testid: "model-kind" }, model.kind === "finetuned" ? "fine-tuned" : "base"),
      origin,
    ),
    el("td", {}, status, error),
    classesCell(model),
    el("td", { class: "actions" }, el("div", { class: "action-wrap" }, ...actions)),
  );
}

async function loadModels() {
  clearTimeout(timer);
  try {
    models = await getJSON(`/api/models?project_id=${projectId}`);
    byTestId("models-rows").replaceChildren(...models.map(modelRow));
    byTestId("models-empty").hidden = models.length > 0;
    const ready = models.filter((m) => m.status === "ready");
    byTestId("models-summary").textContent = models.length ? `${ready.length} of ${models.length} ready` : "";
    fillModelChoice(ready);
    showMessage(byTestId("models-error"), "");
  } catch (error) {
    showMessage(byTestId("models-error"), `Could not load models: ${error.message}`);
  }
  // Registering models are checked by a worker: keep the list fresh until they are done.
  if (models.some((m) => m.status === "pending")) timer = setTimeout(loadModels, 1500);
  return models;
}

const openRetry = retryDialog(() => loadModels());

// ---- register -----------------------------------------------------------------------------
const registerForm = byTestId("register-form");
const registerError = byTestId("register-error");

registerForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const fields = registerForm.elements;
  const file = fields.file.files[0];
  let problem = !file ? "Choose a checkpoint file." : "";
  if (!problem && maxUploadBytes && file.size > maxUploadBytes)
    problem = `The file is larger than the ${formatBytes(maxUploadBytes)} upload limit.`;
  if (!problem && !fields.sha256.checkValidity()) problem = "SHA-256 must be 64 hexadecimal characters.";
  showMessage(registerError, problem);
  if (problem) return;
  const form = new FormData();
  for (const key of ["name", "preset", "architecture", "output_stride", "sha256"]) {
    const value = fields[key].value.trim();
    if (value) form.append(key, value);
  }
  if (!fields.shared.checked) form.append("project_id", String(projectId));
  form.append("file", file, file.name);
  const item = uploadItem(byTestId("register-uploads"), fields.name.value.trim() || file.name, file.size);
  byTestId("register-submit").disabled = true;
  try {
    const onProgress = (fraction, loaded, total) => item.progress(fraction, loaded, total);
    const model = await postForm("/api/models", form, { onProgress }).promise;
    item.processing("Checking the checkpoint on a worker…");
    registerForm.reset();
    let current = model;
    while (current.status === "pending") {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      current = await getJSON(`/api/models/${model.id}`);
    }
    await loadModels();
    if (current.status === "ready") {
      item.done(`Ready: ${current.architecture}, ${current.classes?.length ?? 0} classes`);
      toast(`Model “${current.name}” is ready.`, "success");
    } else item.failed(current.error || "The checkpoint could not be loaded.");
  } catch (error) {
    item.failed(error.message);
  } finally {
    byTestId("register-submit").disabled = false;
    loadModels();
  }
});

// ---- pre-label ----------------------------------------------------------------------------
const prelabelForm = byTestId("prelabel-form");
const prelabelError = byTestId("prelabel-error");
const modelChoice = byTestId("prelabel-model");
const scopeChoice = byTestId("prelabel-scope");
let frames = [];

function fillModelChoice(ready) {
  const chosen = modelChoice.value;
  modelChoice.replaceChildren(...ready.map((m) => el("option", { value: m.id }, `${m.name} (#${m.id})`)));
  if (ready.some((m) => String(m.id) === chosen)) modelChoice.value = chosen;
  byTestId("prelabel-submit").disabled = !ready.length;
  if (!ready.length) modelChoice.append(el("option", { value: "" }, "No ready model yet"));
}

const SCOPES = {
  missing: ["Frames without a mask", (f) => f.mask_version === 0],
  not_done: ["Frames not marked done", (f) => f.label_status !== "done"],
  all: ["All frames", () => true],
};

async function loadFrames() {
  try {
    frames = await getJSON(`/api/projects/${projectId}/frames`);
  } catch {
    frames = [];
  }
  for (const option of scopeChoice.options) {
    const [label, keep] = SCOPES[option.value];
    option.textContent = `${label} (${frames.filter(keep).length})`;
  }
}

/** Queues one pre-label job and resolves to its finished state, showing it as a job card. */
function runPrelabel(body) {
  return new Promise((resolve, reject) => {
    postJSON(`/api/projects/${projectId}/prelabel`, body).then((job) => {
      const card = jobCard(job, { title: `Pre-label #${job.id}${body.overwrite ? " (overwrite)" : ""}` });
      byTestId("prelabel-jobs").prepend(card.node);
      watchJob(
        job.id,
        (next) => {
          card.update(next);
          if (!["queued", "running"].includes(next.status)) resolve(next);
        },
        { interval: 1000 },
      );
    }, reject);
  });
}

function confirmOverwrite(count) {
  const dialog = byTestId("overwrite-dialog");
  const noun = count === 1 ? "mask" : "masks";
  byTestId("overwrite-title").textContent = `Overwrite ${count} human-edited ${noun}?`;
  byTestId("overwrite-text").textContent =
    `A person edited ${count === 1 ? "this frame" : `these ${count} frames`}. Their versions stay in each frame's mask history, but the drafts become the current masks.`;
  byTestId("overwrite-confirm").textContent = `Overwrite ${count} ${noun}`;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) =>
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "overwrite"), { once: true }),
  );
}

function showResult(saved, kept, savedFrames) {
  const box = byTestId("prelabel-result");
  const links = savedFrames
    .slice(0, 5)
    .map((id) => el("li", {}, el("a", { href: `/frames/${id}` }, `Frame ${id}`), " — open the draft in the painter"));
  const summary = `${saved} draft${saved === 1 ? "" : "s"} saved${kept ? `; ${kept} human-edited mask${kept === 1 ? "" : "s"} kept` : ""}.`;
  box.replaceChildren(el("p", { testid: "prelabel-summary" }, summary));
  if (links.length) box.append(el("ul", {}, ...links));
  box.hidden = false;
}

prelabelForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const modelId = Number(modelChoice.value);
  const scope = scopeChoice.value;
  const chosen = frames.filter(SCOPES[scope][1]).map((f) => f.id);
  showMessage(prelabelError, !modelId ? "Choose a model." : !chosen.length ? "No frames in this selection." : "");
  if (!modelId || !chosen.length) return;
  const submit = byTestId("prelabel-submit");
  submit.disabled = true;
  byTestId("prelabel-result").hidden = true;
  try {
    const first = await runPrelabel({
      model_id: modelId,
      frame_ids: scope === "missing" ? null : chosen,
      overwrite: false,
    });
    if (first.status !== "succeeded") throw new Error(`The pre-label job ${first.status}.`);
    const outcomes = first.result?.frames || [];
    const savedFrames = outcomes.filter((o) => o.saved).map((o) => o.frame_id);
    const human = outcomes.filter((o) => !o.saved && o.reason === HUMAN_KEPT).map((o) => o.frame_id);
    let kept = human.length;
    if (human.length && (await confirmOverwrite(human.length))) {
      const second = await runPrelabel({ model_id: modelId, frame_ids: human, overwrite: true });
      if (second.status !== "succeeded") throw new Error(`The overwrite job ${second.status}.`);
      const again = (second.result?.frames || []).filter((o) => o.saved).map((o) => o.frame_id);
      savedFrames.push(...again);
      kept -= again.length;
    }
    showResult(savedFrames.length, kept, savedFrames);
  } catch (error) {
    showMessage(prelabelError, error.message);
  } finally {
    submit.disabled = false;
    loadFrames();
  }
});

exported = await onnxExports();
await Promise.all([loadModels(), loadFrames()]);
