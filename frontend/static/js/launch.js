// Launch page: base model, preset and hyperparameters, class map, data check, then queue the job.
import { ApiError, getJSON, postJSON } from "./api.js";
import { byTestId, el, showMessage } from "./dom.js";
import { suggestPanel } from "./suggest.js";

const main = document.getElementById("main");
const projectId = Number(main.dataset.projectId);
const presets = JSON.parse(main.dataset.presets);
// Fields the presets leave out start at the engine's defaults (worker/ml/config.py TrainConfig).
const DEFAULTS = { seed: 0, hflip: true, color_jitter: 0.5, scale_min: 0.5, scale_max: 2.0 };
const NUMBERS = [
  "iterations",
  "batch_size",
  "crop_size",
  "lr",
  "val_every",
  "seed",
  "color_jitter",
  "scale_min",
  "scale_max",
];

const form = byTestId("launch-form");
const baseSelect = byTestId("launch-base");
const submit = byTestId("launch-submit");
const launchError = byTestId("launch-error");
const mapError = byTestId("classmap-error");
let projectClasses = [];
let models = new Map();
let classMap = [];
let check = null;
let sending = false;
let projectBaseId = null;
byTestId("suggest-box").replaceChildren(suggestPanel(projectId));

const colorOf = (c) => (Array.isArray(c.color) ? `rgb(${c.color.slice(0, 3).join(",")})` : c.color || "#888");
const swatch = (c) => el("span", { class: "swatch", style: `background-color: ${colorOf(c)}`, "aria-hidden": "true" });
const chosenBase = () => models.get(Number(baseSelect.value)) || null;

// ---- recipe -------------------------------------------------------------------------------
function fillPreset(name) {
  for (const [key, value] of Object.entries({ ...DEFAULTS, ...presets[name] })) {
    const input = form.elements[key];
    if (!input) continue;
    if (input.type === "checkbox") input.checked = Boolean(value);
    else input.value = String(value);
  }
  refresh();
}

function recipe() {
  const body = { preset: form.elements.preset.value, hflip: form.elements.hflip.checked };
  for (const key of NUMBERS) body[key] = Number(form.elements[key].value);
  return body;
}

function recipeProblem(body) {
  for (const key of NUMBERS) {
    const input = form.elements[key];
    if (input.value === "" || !input.checkValidity()) {
      const label = input.closest("label").querySelector(".field-label").textContent;
      return `${label}: ${input.validationMessage || "enter a number"}`;
    }
  }
  if (body.scale_min > body.scale_max) return "Scale from must not be larger than scale to.";
  return "";
}

function estimate(body) {
  const train = check?.labeled?.train ?? 0;
  const crops = body.iterations * body.batch_size;
  const epochs = train ? ` ≈ ${(crops / train).toFixed(1)} passes over ${train} labeled train frames` : "";
  const every = body.val_every === 1 ? "after every iteration" : `every ${body.val_every} iterations`;
  const val = check?.labeled?.val ? `; validation on ${check.labeled.val} frames ${every}` : "";
  return `${body.iterations} iterations × batch ${body.batch_size} = ${crops} crops of ${body.crop_size} px${epochs}${val}.`;
}

// ---- base model and class map ---------------------------------------------------------------
/** Base class -> project class by equal name (case-insensitive), else background (else 0). */
const fallbackIndex = () =>
  Math.max(
    0,
    projectClasses.findIndex((c) => c.name.toLowerCase() === "background"),
  );

function matchByName(baseClasses) {
  const names = projectClasses.map((c) => c.name.toLowerCase());
  return baseClasses.map((c) => {
    const i = names.indexOf(String(c.name).toLowerCase());
    return i >= 0 ? i : fallbackIndex();
  });
}

function renderClassMap() {
  const base = chosenBase();
  byTestId("classmap-card").hidden = !base;
  if (!base) return;
  const rows = (base.classes || []).map((c, i) => {
    const select = el(
      "select",
      { testid: "classmap-select", "aria-label": `Project class for ${c.name}`, dataset: { baseIndex: i } },
      ...projectClasses.map((p) => el("option", { value: p.index }, p.name)),
    );
    select.value = String(classMap[i]);
    const row = el(
      "tr",
      { testid: "classmap-row", dataset: { baseClass: c.name, mapped: classMap[i] !== fallbackIndex() } },
      el(
        "td",
        {},
        el(
          "span",
          { class: "class-cell" },
          swatch(c),
          el("span", {}, c.name),
          el("span", { class: "class-index" }, String(i)),
        ),
      ),
      el("td", { class: "muted", "aria-hidden": "true" }, "→"),
      el("td", { class: "map-target" }, select),
    );
    select.addEventListener("change", () => {
      classMap[i] = Number(select.value);
      row.dataset.mapped = String(classMap[i] !== fallbackIndex());
      refresh();
    });
    return row;
  });
  byTestId("classmap-rows").replaceChildren(...rows);
}

function classMapProblem() {
  if (!chosenBase()) return "";
  const orphans = projectClasses.filter((p) => !classMap.includes(p.index)).map((p) => p.name);
  return orphans.length ? `No base class maps to ${orphans.join(", ")}: choose at least one source for it.` : "";
}

function chooseBase() {
  const base = chosenBase();
  classMap = base ? matchByName(base.classes || []) : [];
  const info = base
    ? `${base.architecture || "unknown architecture"} · ${base.classes?.length ?? 0} classes${base.preset ? ` (${base.preset})` : ""} · ${base.kind === "finetuned" ? "fine-tuned in SegTune" : "registered base model"}`
    : "Random initialisation: no base model, so the report has no “before”.";
  byTestId("launch-base-info").textContent = info;
  // Any other start is allowed, but said here and in the report.
  const usual = models.get(projectBaseId);
  const differs = Boolean(usual) && usual !== base;
  showMessage(
    byTestId("launch-base-differs"),
    differs ? `Not the project's base model (“${usual.name}”): the report will say this fine-tune started from ${base ? `“${base.name}”` : "random initialisation"}.` : "",
  );
  renderClassMap();
  refresh();
}

/** Fills the base choice; the default is the project's base model (from the data check). */
async function loadModels(checked) {
  try {
    // Any model you can read may be the base: this project's and the shared ones come first.
    const rank = (m) => (m.project_id === projectId ? 0 : m.project_id === null ? 1 : 2);
    const list = (await getJSON("/api/models")).sort((a, b) => rank(a) - rank(b));
    const from = (m) => (rank(m) < 2 ? "" : ` · from ${m.project_name ?? `project #${m.project_id}`}`);
    const ready = list.filter((m) => m.status === "ready");
    models = new Map(ready.map((m) => [m.id, m]));
    const pending = list.filter((m) => m.status === "pending");
    baseSelect.replaceChildren(
      ...ready.map((m) =>
        el(
          "option",
          { value: m.id },
          `${m.name} · ${m.kind === "finetuned" ? "fine-tuned" : "base"} · ${m.classes?.length ?? 0} classes${from(m)}`,
        ),
      ),
      ...pending.map((m) => el("option", { value: m.id, disabled: true }, `${m.name} (still being checked)`)),
      el("option", { value: "" }, "Random initialisation (no base model)"),
    );
    await checked;
    projectBaseId = check?.project_base_model_id ?? null;
    const usual = baseSelect.querySelector(`option[value="${projectBaseId}"]`);
    if (usual) usual.textContent += " · the project's base";
    // A ?base= link (the Fine-tune button of a model) is an explicit choice; otherwise the
    // project's base, never simply the newest fine-tune.
    const wanted = Number(new URLSearchParams(window.location.search).get("base"));
    const first = [wanted, projectBaseId].find((id) => models.has(id)) ?? ready[0]?.id;
    baseSelect.value = first === undefined ? "" : String(first);
  } catch (error) {
    showMessage(launchError, `Could not load models: ${error.message}`);
  }
  chooseBase();
}

// ---- generalisation sets ------------------------------------------------------------------
const heldoutSelect = byTestId("launch-heldout");
const referenceSelect = byTestId("launch-reference");

/** Every other readable project as a choice; those with other classes cannot be scored alike. */
async function loadProjects() {
  let list = [];
  try {
    list = (await getJSON("/api/projects")).filter((p) => p.id !== projectId);
  } catch (error) {
    showMessage(launchError, `Could not load the projects: ${error.message}`);
  }
  const mine = projectClasses.map((c) => c.name).join("\n");
  const option = (p, value) => {
    const same = p.classes.map((c) => c.name).join("\n") === mine;
    const label = same ? p.name : `${p.name} (other classes)`;
    return el("option", { value, disabled: !same, dataset: { projectId: p.id } }, label);
  };
  heldoutSelect.append(...list.map((p) => option(p, `project:${p.id}`)));
  referenceSelect.append(...list.map((p) => option(p, String(p.id))));
}

function setsProblem() {
  if (heldoutSelect.value === "gap" && !form.elements.heldout_gap_s.checkValidity()) {
    return `Gap from training: ${form.elements.heldout_gap_s.validationMessage || "enter seconds"}`;
  }
  if (referenceSelect.value && !chosenBase()) return "A reference set measures forgetting of a base model: choose one.";
  return "";
}

function sets() {
  const body = {};
  const heldout = heldoutSelect.value;
  if (heldout === "gap") body.heldout_gap_s = Number(form.elements.heldout_gap_s.value);
  else if (heldout.startsWith("project:")) body.heldout_project_id = Number(heldout.slice(8));
  if (referenceSelect.value) body.reference_project_id = Number(referenceSelect.value);
  return body;
}

// ---- data check ---------------------------------------------------------------------------
async function loadCheck() {
  const box = byTestId("data-check");
  box.dataset.state = "loading";
  try {
    check = await getJSON(`/api/projects/${projectId}/train/check`);
  } catch (error) {
    check = null;
    box.dataset.state = "error";
    showMessage(launchError, `Could not check the data: ${error.message}`);
    refresh();
    return;
  }
  const counts = ["train", "val", "test"].map((split) =>
    el(
      "span",
      { class: `badge split-${split}`, testid: `check-count-${split}` },
      `${split} ${check.labeled[split]} labeled`,
    ),
  );
  byTestId("check-counts").replaceChildren(...counts);
  byTestId("check-blocking").replaceChildren(
    ...check.blocking.map((t) => el("li", { class: "problem blocking", testid: "check-problem" }, t)),
  );
  byTestId("check-warnings").replaceChildren(
    ...check.warnings.map((t) => el("li", { class: "problem warning", testid: "check-problem" }, t)),
  );
  byTestId("check-ok").hidden = !check.ok;
  byTestId("check-force-box").hidden = !(check.can_proceed && check.warnings.length);
  box.dataset.state = check.ok ? "ok" : check.can_proceed ? "warnings" : "blocked";
  refresh();
}

// ---- launch -------------------------------------------------------------------------------
function refresh() {
  const body = recipe();
  const problem = recipeProblem(body);
  byTestId("launch-estimate").textContent = problem ? "" : estimate(body);
  const mapProblem = classMapProblem();
  showMessage(mapError, mapProblem);
  byTestId("launch-gap-box").hidden = heldoutSelect.value !== "gap";
  let reason = problem || mapProblem || setsProblem();
  if (!check) reason ||= "Waiting for the data check.";
  else if (!check.can_proceed) reason ||= "Fix the blocking problems in the data check first.";
  else if (!check.ok && !form.elements.force.checked) reason ||= "Review the data check, then tick “Proceed anyway”.";
  const base = chosenBase();
  const usual = models.get(projectBaseId);
  const other = usual && usual !== base ? " (not the project's base)" : "";
  byTestId("launch-summary").textContent =
    reason || `Fine-tune ${base ? base.name : "a randomly initialised model"}${other} with the ${body.preset} recipe.`;
  submit.disabled = sending || Boolean(reason);
}

form.addEventListener("input", refresh);
form.addEventListener("change", (event) => {
  if (event.target.name === "preset") fillPreset(event.target.value);
  else if (event.target === baseSelect) chooseBase();
  else refresh();
});
byTestId("classmap-reset").addEventListener("click", () => {
  classMap = matchByName(chosenBase()?.classes || []);
  renderClassMap();
  refresh();
});
byTestId("check-refresh").addEventListener("click", loadCheck);

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  refresh();
  if (submit.disabled) return;
  const body = { ...recipe(), ...sets(), force: form.elements.force.checked };
  const base = chosenBase();
  if (base) Object.assign(body, { base_model_id: base.id, class_map: classMap });
  sending = true;
  submit.textContent = "Queueing…";
  showMessage(launchError, "");
  try {
    const job = await postJSON(`/api/projects/${projectId}/train`, body);
    window.location.assign(`/jobs/${job.id}`);
  } catch (error) {
    sending = false;
    submit.textContent = "Start fine-tune";
    showMessage(launchError, error.message);
    // The data may have changed since the page was loaded: show what the server sees now.
    if (error instanceof ApiError && error.status === 422) loadCheck();
    refresh();
  }
});

try {
  projectClasses = (await getJSON(`/api/projects/${projectId}`)).classes;
} catch (error) {
  showMessage(launchError, `Could not load the project: ${error.message}`);
}
fillPreset(form.elements.preset.value);
const checked = loadCheck();
await Promise.all([loadModels(checked), checked, loadProjects()]);
