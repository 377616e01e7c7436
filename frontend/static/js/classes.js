// Classes editor on the project page: rename, recolour, add, reorder, remove or merge classes.
// Renames, colours and new classes apply at once; a reorder, removal or merge changes the ids
// stored in the masks, so it is previewed (how many masks and pixels), confirmed, and run as
// a remap job whose progress shows here.
import { api, getJSON, postJSON } from "./api.js";
import { byTestId, el, formatNumber, showMessage, toast } from "./dom.js";
import { FINISHED, jobCard, watchJob } from "./jobs-common.js";

const main = document.getElementById("main");
const projectId = Number(main.dataset.projectId);
const chips = byTestId("class-list");
const count = (n, word, plural = `${word}s`) => `${formatNumber(n, 0)} ${n === 1 ? word : plural}`;

let project = null;
// The editor's rows: {index (current id, null = new), name, color, removed, into (id or "")}.
let rows = [];

const dialog = el("dialog", { class: "dialog classes-dialog", testid: "classes-dialog", "aria-labelledby": "classes-title" });
const list = el("ol", { class: "classes-rows", testid: "classes-rows" });
const errorBox = el("p", { class: "form-error", testid: "classes-error", role: "alert", hidden: true });
const confirmBox = el("div", { class: "classes-confirm", testid: "classes-confirm", hidden: true });
const jobBox = el("ul", { class: "job-list", testid: "classes-job", hidden: true });
const save = el("button", { type: "submit", class: "btn primary", testid: "classes-save" }, "Save");
const close = el("button", { type: "button", class: "btn ghost", testid: "classes-close", onclick: () => dialog.close() }, "Close");
const add = el("button", { type: "button", class: "btn small", testid: "classes-add", onclick: addClass }, "Add class");
const form = el(
  "form",
  { novalidate: true, onsubmit: onSave },
  el(
    "header",
    { class: "dialog-head" },
    el("h2", { id: "classes-title" }, "Edit classes"),
    el(
      "p",
      { class: "muted small" },
      "Names, colours and new classes apply at once. Moving, removing or merging a class rewrites the masks " +
        "in a job; the earlier versions stay in each frame's history.",
    ),
  ),
  list,
  el("div", { class: "row-actions" }, add),
  errorBox,
  confirmBox,
  jobBox,
  el("footer", { class: "dialog-actions" }, close, save),
);
dialog.append(form);
document.body.append(dialog);

const live = () => rows.filter((r) => !r.removed);
const nameOf = (index) => project.classes.find((c) => c.index === index)?.name ?? `class ${index}`;

function render() {
  const kept = live();
  list.replaceChildren(
    ...rows.map((row, i) => {
      const id = row.index === null ? "new" : `id ${row.index}`;
      const move = (delta) => () => {
        const j = i + delta;
        if (j < 0 || j >= rows.length) return;
        [rows[i], rows[j]] = [rows[j], rows[i]];
        changed();
      };
      const head = [
        el("input", {
          type: "color",
          value: row.color,
          testid: "class-color",
          "aria-label": `Colour of ${row.name || "the new class"}`,
          oninput: (e) => (row.color = e.target.value),
          disabled: row.removed,
        }),
        el("input", {
          type: "text",
          value: row.name,
          maxlength: 100,
          testid: "class-name",
          "aria-label": "Class name",
          oninput: (e) => (row.name = e.target.value),
          disabled: row.removed,
        }),
        el("span", { class: "class-index", title: "Mask value today" }, id),
      ];
      const controls = row.removed
        ? [
            el(
              "label",
              { class: "classes-into" },
              "pixels become ",
              el(
                "select",
                { testid: "class-into", onchange: (e) => ((row.into = e.target.value), changed()) },
                el("option", { value: "" }, "unlabeled"),
                ...kept
                  .filter((k) => k.index !== null)
                  .map((k) => el("option", { value: k.index, selected: String(k.index) === row.into }, k.name || nameOf(k.index))),
              ),
            ),
            el("button", { type: "button", class: "btn small", testid: "class-restore", onclick: () => ((row.removed = false), changed()) }, "Keep"),
          ]
        : [
            el("button", { type: "button", class: "btn small", testid: "class-up", "aria-label": "Move up", disabled: i === 0, onclick: move(-1) }, "↑"),
            el("button", { type: "button", class: "btn small", testid: "class-down", "aria-label": "Move down", disabled: i === rows.length - 1, onclick: move(1) }, "↓"),
            el("button", { type: "button", class: "btn small danger", testid: "class-remove", onclick: () => removeRow(i) }, row.index === null ? "Drop" : "Remove…"),
          ];
      return el("li", { class: `classes-row${row.removed ? " removed" : ""}`, testid: "class-row" }, ...head, ...controls);
    }),
  );
}

/** Any edit hides an earlier confirmation: its numbers were for another change. */
function changed() {
  showMessage(confirmBox, "");
  delete save.dataset.confirming;
  save.textContent = "Save";
  render();
}

function removeRow(i) {
  if (rows[i].index === null) rows.splice(i, 1);
  else rows[i] = { ...rows[i], removed: true, into: "" };
  changed();
}

function addClass() {
  const hue = Math.floor(Math.random() * 360);
  rows.push({ index: null, name: "", color: hslHex(hue), removed: false, into: "" });
  changed();
  list.querySelector("li:last-child input[type=text]")?.focus();
}

function hslHex(hue) {
  const f = (n) => {
    const k = (n + hue / 30) % 12;
    const v = 0.5 - 0.35 * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(v * 255).toString(16).padStart(2, "0");
  };
  return `#${f(0)}${f(8)}${f(4)}`;
}

function body() {
  return {
    version: project.classes_version,
    classes: live().map((r) => ({ index: r.index, name: r.name, color: r.color })),
    remove: rows.filter((r) => r.removed).map((r) => ({ index: r.index, into: r.into === "" ? null : Number(r.into) })),
  };
}

/** Whether stored ids change: something removed, or a kept class not at its own position. */
function remaps() {
  return rows.some((r) => r.removed) || live().some((r, pos) => r.index !== null && r.index !== pos);
}

function describe(preview) {
  const removed = rows.filter((r) => r.removed);
  const lines = removed.map((r) => {
    const px = preview.class_pixels[String(r.index)] || 0;
    const masks = preview.class_masks[String(r.index)] || 0;
    const into = r.into === "" ? "unlabeled" : nameOf(Number(r.into));
    return el("li", {}, `${nameOf(r.index)}: ${count(px, "pixel")} in ${count(masks, "mask")} become ${into}.`);
  });
  const moved = live().filter((r, pos) => r.index !== null && r.index !== pos);
  if (moved.length) lines.push(el("li", {}, `${count(moved.length, "class", "classes")} get a new id (${moved.map((r) => r.name).join(", ")}).`));
  confirmBox.replaceChildren(
    el("p", { class: "classes-confirm-title" }, `This rewrites ${count(preview.masks, "mask")} (${count(preview.pixels, "pixel")} change id).`),
    el("ul", {}, ...lines),
    el("p", { class: "hint" }, "Mask saves wait while the job runs. Each frame's earlier versions stay in its history and can be restored."),
  );
  confirmBox.hidden = false;
  save.textContent = "Confirm and remap";
  save.dataset.confirming = "1";
}

async function onSave(event) {
  event.preventDefault();
  showMessage(errorBox, "");
  const blank = live().find((r) => !r.name.trim());
  if (blank) return showMessage(errorBox, "Every class needs a name.");
  save.disabled = true;
  try {
    if (remaps() && !save.dataset.confirming) {
      describe(await postJSON(`/api/projects/${projectId}/classes/preview`, body()));
      return;
    }
    const answer = await api(`/api/projects/${projectId}/classes`, { method: "PUT", body: body() });
    delete save.dataset.confirming;
    if (answer.job) follow(answer.job);
    else {
      show(answer.project);
      dialog.close();
      toast("Classes saved.", "success");
    }
  } catch (error) {
    delete save.dataset.confirming;
    save.textContent = "Save";
    showMessage(errorBox, error.message);
  } finally {
    save.disabled = false;
  }
}

function follow(job) {
  const card = jobCard(job, { title: "Remapping masks" });
  jobBox.replaceChildren(card.node);
  jobBox.hidden = false;
  showMessage(confirmBox, "");
  save.hidden = true;
  watchJob(job.id, async (current) => {
    card.update(current);
    // Once the job has ended the editor works on the classes as they now are.
    if (FINISHED.has(current.status)) {
      save.hidden = false;
      save.textContent = "Save";
    }
    if (current.status === "succeeded") {
      show(await getJSON(`/api/projects/${projectId}`));
      toast(`Classes changed; ${count(current.result.masks, "mask")} remapped.`, "success");
    }
  });
}

/** Shows a project's classes in the page's chip list and loads them into the editor. */
function show(fresh) {
  project = fresh;
  rows = project.classes.map((c) => ({ index: c.index, name: c.name, color: c.color, removed: false, into: "" }));
  chips.replaceChildren(
    ...project.classes.map((c) =>
      el(
        "li",
        { class: "class-chip", testid: "class-item", dataset: { classIndex: c.index } },
        el("span", { class: "swatch", style: `background-color: ${c.color}`, "aria-hidden": "true" }),
        el("span", { class: "class-name" }, c.name),
        el("span", { class: "class-index", title: "Mask value" }, String(c.index)),
      ),
    ),
  );
  render();
}

byTestId("classes-edit")?.addEventListener("click", async () => {
  showMessage(errorBox, "");
  showMessage(confirmBox, "");
  jobBox.hidden = true;
  save.hidden = false;
  save.textContent = "Save";
  delete save.dataset.confirming;
  try {
    show(await getJSON(`/api/projects/${projectId}`));
    dialog.showModal();
  } catch (error) {
    toast(error.message, "error");
  }
});
