// The project page's dataset dialogs: import a zip (preview of source values -> classes, then a
// job with live progress) and export (options, a job, then a download over the session cookie).
import { getJSON, postJSON, withQuery } from "./api.js";
import { byTestId, el, formatBytes, formatNumber, showMessage } from "./dom.js";
import { FINISHED, jobCard, watchJob } from "./jobs-common.js";
import { postForm } from "./upload.js";

const projectId = Number(document.getElementById("main").dataset.projectId);

/** Tells the project page about an import job to list (it refreshes the frames at the end). */
const announce = (job, title) => document.dispatchEvent(new CustomEvent("segtune:job", { detail: { job, title } }));

/** Shows a live card for a job inside a dialog; onDone(job) once it has finished. */
function followJob(box, job, onDone) {
  const card = jobCard(job);
  box.replaceChildren(card.node);
  watchJob(job.id, (next) => {
    card.update(next);
    if (FINISHED.has(next.status)) onDone(next);
  });
}

const closeOnBackdrop = (dialog) =>
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close();
  });

// ---- import ---------------------------------------------------------------------------------
function setupImport(dialog) {
  const form = dialog.querySelector("form");
  const field = (name) => form.elements.namedItem(name);
  const errorBox = byTestId("import-error", dialog);
  const previewBox = byTestId("import-preview", dialog);
  const rows = byTestId("import-values", dialog).querySelector("tbody");
  const submit = byTestId("import-submit", dialog);
  const previewButton = byTestId("import-preview-button", dialog);
  const jobBox = byTestId("import-job", dialog);
  const presets = new Map();
  let preview = null;

  function mapping() {
    const chosen = field("mapping").value;
    if (chosen === "custom") return field("custom").value.trim();
    return chosen;
  }

  function syncCustom() {
    byTestId("import-custom-box", dialog).hidden = field("mapping").value !== "custom";
  }

  function invalidate() {
    preview = null;
    previewBox.hidden = true;
    submit.disabled = true;
    showMessage(errorBox, "");
  }

  function classSelect(value) {
    const options = [
      el("option", { value: "" }, "— no class —"),
      ...value.classes.map((c) => el("option", { value: c.index }, `${c.name} (${c.index})`)),
      el("option", { value: 255 }, "unlabeled (255)"),
    ];
    const select = el("select", { testid: "import-target", "aria-label": `Project class for source value ${value.value}` }, ...options);
    select.value = value.target === null ? "" : String(value.target);
    return select;
  }

  function edited() {
    // Editing a row turns the mapping into an explicit one: the shown rows, over what was sent.
    const table = { ...(preview.mapping || {}) };
    for (const row of rows.children) {
      const target = byTestId("import-target", row).value;
      if (target === "") delete table[row.dataset.value];
      else table[row.dataset.value] = Number(target);
    }
    field("mapping").value = "custom";
    field("custom").value = JSON.stringify(table);
    syncCustom();
    checkUnmapped();
  }

  function checkUnmapped() {
    const missing = [...rows.children].filter((row) => byTestId("import-target", row).value === "").map((row) => row.dataset.value);
    const warning = byTestId("import-unmapped", dialog);
    showMessage(
      warning,
      missing.length ? `No project class for source value${missing.length === 1 ? "" : "s"} ${missing.join(", ")}: choose one, or the import fails.` : "",
    );
    submit.disabled = missing.length > 0;
  }

  function valueRow(value, total, classes) {
    const colour = value.value.startsWith("#");
    const label = el(
      "span",
      { class: "class-cell" },
      colour ? el("span", { class: "swatch", style: `background-color: ${value.value}`, "aria-hidden": "true" }) : null,
      el("span", { testid: "import-value" }, value.value),
      value.source_name ? el("span", { class: "muted" }, `(${value.source_name})`) : null,
    );
    const share = total ? `${formatNumber((100 * value.pixels) / total, 1)}%` : "–";
    const select = classSelect({ ...value, classes });
    select.addEventListener("change", edited);
    return el(
      "tr",
      { testid: "import-value-row", dataset: { value: value.value } },
      el("td", {}, label),
      el("td", { class: "num muted" }, share),
      el("td", { class: "muted", "aria-hidden": "true" }, "→"),
      el("td", { class: "map-target" }, select),
    );
  }

  function showPreview(found) {
    preview = found;
    const splits = Object.entries(found.splits).map(([s, n]) => `${n} ${s}`).join(", ");
    byTestId("import-summary", dialog).textContent =
      `${found.layout} layout · ${found.frames} frame${found.frames === 1 ? "" : "s"}, ${found.masks} with masks · ${splits}`;
    const total = found.values.reduce((sum, v) => sum + v.pixels, 0);
    rows.replaceChildren(...found.values.map((v) => valueRow(v, total, found.classes)));
    const partial = found.masks_scanned < found.masks;
    byTestId("import-sample-note", dialog).textContent = partial
      ? `Values from ${found.masks_scanned} of ${found.masks} masks; a value the others hold without a mapping fails the import by name.`
      : `Values from all ${found.masks} masks.`;
    previewBox.hidden = false;
    checkUnmapped();
  }

  function upload(path, params) {
    const file = field("file").files[0];
    if (!file) {
      showMessage(errorBox, "Choose a zip file first.");
      return null;
    }
    const formData = new FormData();
    formData.append("file", file, file.name);
    return postForm(withQuery(path, params), formData).promise;
  }

  previewButton.addEventListener("click", async () => {
    invalidate();
    const sent = upload(`/api/projects/${projectId}/imports/preview`, { layout: field("layout").value, mapping: mapping() });
    if (!sent) return;
    previewButton.disabled = true;
    previewButton.textContent = "Reading…";
    try {
      showPreview(await sent);
    } catch (error) {
      showMessage(errorBox, error.message);
    } finally {
      previewButton.disabled = false;
      previewButton.textContent = "Preview";
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!preview) return;
    const params = { layout: field("layout").value, mapping: mapping(), split: field("split").value };
    const sent = upload(`/api/projects/${projectId}/imports`, params);
    if (!sent) return;
    submit.disabled = true;
    showMessage(errorBox, "");
    try {
      const job = await sent;
      const name = field("file").files[0].name;
      announce(job, `Import of ${name}`);
      followJob(jobBox, job, (done) => {
        if (done.status !== "succeeded") return;
        const { frames_added: frames, masks_added: masks } = done.result;
        showMessage(byTestId("import-done", dialog), `Imported ${frames} frame${frames === 1 ? "" : "s"} (${masks} with masks) from ${name}.`);
      });
    } catch (error) {
      showMessage(errorBox, error.message);
      submit.disabled = false;
    }
  });

  for (const name of ["file", "layout", "custom"]) field(name).addEventListener("input", invalidate);
  field("mapping").addEventListener("change", () => {
    const chosen = presets.get(field("mapping").value);
    if (field("mapping").value === "custom" && !field("custom").value.trim() && preview?.mapping) {
      field("custom").value = JSON.stringify(preview.mapping);
    }
    if (chosen) field("custom").value = JSON.stringify(chosen);
    syncCustom();
    invalidate();
  });
  byTestId("import-close", dialog).addEventListener("click", () => dialog.close());
  closeOnBackdrop(dialog);

  return async function open() {
    if (!presets.size) {
      try {
        for (const preset of await getJSON("/api/imports/presets")) {
          presets.set(preset.name, preset.mapping);
          field("mapping").insertBefore(el("option", { value: preset.name }, `Preset: ${preset.name}`), field("mapping").lastElementChild);
        }
      } catch (error) {
        showMessage(errorBox, `Could not load the mapping presets: ${error.message}`);
      }
    }
    form.reset();
    syncCustom();
    invalidate();
    jobBox.replaceChildren();
    showMessage(byTestId("import-done", dialog), "");
    dialog.showModal();
  };
}

// ---- export ---------------------------------------------------------------------------------
function setupExport(dialog) {
  const form = dialog.querySelector("form");
  const field = (name) => form.elements.namedItem(name);
  const errorBox = byTestId("export-error", dialog);
  const submit = byTestId("export-submit", dialog);
  const jobBox = byTestId("export-job", dialog);
  const ready = byTestId("export-ready", dialog);
  const link = byTestId("export-download", dialog);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      split: field("split").value || null,
      layout: field("layout").value,
      coco: field("coco").checked,
      only_labeled: field("only_labeled").checked,
    };
    submit.disabled = true;
    ready.hidden = true;
    showMessage(errorBox, "");
    try {
      const job = await postJSON(`/api/projects/${projectId}/exports`, body);
      followJob(jobBox, job, (done) => {
        submit.disabled = false;
        if (done.status !== "succeeded") return;
        // A plain link: the browser sends the session cookie and saves the file itself.
        link.href = `/api/exports/${done.id}/download`;
        const { filename, frames, bytes } = done.result;
        link.textContent = `Download ${filename} (${frames} frame${frames === 1 ? "" : "s"}, ${formatBytes(bytes)})`;
        ready.hidden = false;
      });
    } catch (error) {
      showMessage(errorBox, error.message);
      submit.disabled = false;
    }
  });
  byTestId("export-close", dialog).addEventListener("click", () => dialog.close());
  closeOnBackdrop(dialog);

  return function open() {
    showMessage(errorBox, "");
    ready.hidden = true;
    jobBox.replaceChildren();
    submit.disabled = false;
    dialog.showModal();
  };
}

const openImport = setupImport(byTestId("import-dialog"));
const openExport = setupExport(byTestId("export-dialog"));
byTestId("project-import")?.addEventListener("click", openImport);
byTestId("project-export")?.addEventListener("click", openExport);
