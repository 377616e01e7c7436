// "Propagate to the next N frames": carries the saved mask along the video as drafts (optical
// flow; a model or unlabeled where the flow is unsure), with the job's progress and the drafts.

import { getJSON, postJSON } from "../api.js";
import { el, progressBar, setProgress, toast } from "../dom.js";
import { cancelJob, errorSummary, watchJob } from "../jobs-common.js";

const MAX_COUNT = 50;
const WORDS = { forward: "next", backward: "previous", both: "next and previous" };

export class Propagation {
  /** root: the painter's propagate section; save(): saves now, true when the server has the map. */
  constructor({ root, frame, projectId, save }) {
    Object.assign(this, { root, frame, projectId, save });
    this.watch = null;
    if (frame.video_id === null) {
      root.replaceChildren(
        el("h2", { class: "pt-label" }, "Propagate"),
        el("p", { class: "muted small", testid: "propagate-unavailable" }, "Only frames sampled from a video can be propagated."),
      );
      return;
    }
    this.count = el("input", {
      type: "number", min: 1, max: MAX_COUNT, value: 5, testid: "propagate-count",
      "aria-label": "Number of frames", class: "pt-propagate-count",
    });
    this.direction = el(
      "select",
      { testid: "propagate-direction", "aria-label": "Direction" },
      ...Object.entries(WORDS).map(([value, word]) => el("option", { value }, word)),
    );
    this.model = el(
      "select",
      { testid: "propagate-model", title: "Where the flow is unsure: a model's prediction, or left unlabeled" },
      el("option", { value: "" }, "unlabeled"),
    );
    this.overwrite = el("input", { type: "checkbox", testid: "propagate-overwrite" });
    this.button = el(
      "button",
      { type: "button", class: "btn small pt-wide", testid: "propagate-submit", onclick: () => this.start() },
      "",
    );
    this.bar = progressBar("propagate-progress", "Propagation progress");
    this.text = el("span", { class: "muted small", testid: "propagate-status", role: "status" });
    this.cancel = el("button", { type: "button", class: "btn small ghost", testid: "propagate-cancel", hidden: true }, "Cancel");
    this.cancel.addEventListener("click", () => this.stop());
    this.drafts = el("ul", { class: "pt-propagate-drafts", testid: "propagate-drafts" });
    this.job = el("div", { class: "pt-propagate-job", hidden: true }, this.bar, el("div", { class: "pt-row" }, this.text, this.cancel), this.drafts);
    root.replaceChildren(
      el("h2", { class: "pt-label" }, "Propagate"),
      el(
        "div",
        { class: "pt-propagate-form" },
        el("label", {}, "Frames", this.count),
        el("label", {}, "Direction", this.direction),
        el("label", { title: "What a draft holds where the optical flow is unsure" }, "Where unsure", this.model),
        el("label", { class: "pt-check", title: "Also replace masks a person saved" }, this.overwrite, "replace people's masks"),
      ),
      this.button,
      this.job,
    );
    const label = () => {
      this.button.textContent = `Propagate to the ${WORDS[this.direction.value]} ${this.count.value} frames`;
    };
    this.count.addEventListener("input", label);
    this.direction.addEventListener("change", label);
    label();
    this.loadModels();
  }

  async loadModels() {
    try {
      const models = await getJSON(`/api/models?project_id=${this.projectId}`);
      for (const m of models.filter((x) => x.status === "ready")) {
        this.model.append(el("option", { value: m.id }, `model: ${m.name}`));
      }
    } catch {
      // Without the list, propagation still works (unsure pixels are left unlabeled).
    }
  }

  async start() {
    const count = Number(this.count.value);
    if (!Number.isInteger(count) || count < 1 || count > MAX_COUNT) {
      toast(`Give a number of frames from 1 to ${MAX_COUNT}.`, "error");
      return;
    }
    if (!(await this.save())) {
      toast("Save the mask first (resolve the conflict if there is one).", "error");
      return;
    }
    const body = { count, direction: this.direction.value, overwrite: this.overwrite.checked };
    if (this.model.value) body.model_id = Number(this.model.value);
    this.button.disabled = true;
    try {
      const job = await postJSON(`/api/frames/${this.frame.id}/propagate`, body);
      this.follow(job);
    } catch (error) {
      this.button.disabled = false;
      toast(error.message, "error", 6000);
    }
  }

  follow(job) {
    this.jobId = job.id;
    this.job.hidden = false;
    this.drafts.replaceChildren();
    this.cancel.hidden = false;
    this.watch?.stop();
    this.watch = watchJob(job.id, (current) => this.show(current));
  }

  show(job) {
    setProgress(this.bar, job.progress);
    const active = job.status === "queued" || job.status === "running";
    this.cancel.hidden = !active;
    this.button.disabled = active;
    if (active) {
      this.text.textContent = job.status === "queued" ? "waiting for a worker…" : job.message || "running…";
      return;
    }
    if (job.status === "failed") this.text.textContent = `Failed: ${errorSummary(job.error)}`;
    else if (job.status === "cancelled") this.text.textContent = "Cancelled: no draft was written.";
    else this.showResult(job.result);
  }

  showResult(result) {
    const { saved, skipped } = result;
    this.text.textContent = `${saved} draft${saved === 1 ? "" : "s"} saved${skipped ? `, ${skipped} skipped` : ""}.`;
    const items = result.frames.map((f) => {
      const link = el("a", { href: `/frames/${f.frame_id}`, testid: "propagate-draft" }, `Frame ${f.frame_id}`);
      const note = f.saved ? `${Math.round(100 * f.reliable_share)}% from the flow` : f.reason;
      return el("li", { dataset: { saved: String(f.saved) } }, link, el("span", { class: "muted small" }, ` ${note}`));
    });
    this.drafts.replaceChildren(...items);
  }

  async stop() {
    try {
      await cancelJob(this.jobId);
      this.watch?.poke();
    } catch (error) {
      toast(error.message, "error", 6000);
    }
  }
}
