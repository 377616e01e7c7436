// The painter's review banners: a model draft ("edit, or accept as is"), the reviewer's
// request for changes with their comment, and, for reviewers and owners, the review decision.

import { ApiError, csrfHeaders, describeDetail, getJSON, parseJSON, patchJSON } from "../api.js";
import { el, toast } from "../dom.js";

const DECIDABLE = new Set(["done", "reviewed", "changes_requested"]);

export class Review {
  /** root: the painter's review area; sync: the mask Sync; setStatus(status) updates the page. */
  constructor({ root, frame, projectId, sync, setStatus }) {
    Object.assign(this, { root, frameId: frame.id, projectId, sync, setStatus });
    this.frame = null;
    this.names = new Map();
    this.draftTitle = el("strong", {}, "Model draft:");
    this.draftText = el("span", { testid: "draft-text" });
    this.draft = el(
      "div",
      { class: "review-banner draft", testid: "draft-banner", role: "status", hidden: true },
      this.draftTitle,
      this.draftText,
      el(
        "button",
        { type: "button", class: "btn small primary labeler-only", testid: "accept-draft", onclick: () => this.accept() },
        "Accept as is",
      ),
    );
    this.changesTitle = el("strong", { testid: "review-changes-title" });
    this.comment = el("p", { class: "review-comment", testid: "review-comment" });
    this.changes = el(
      "div",
      { class: "review-banner changes", testid: "review-changes", role: "alert", hidden: true },
      this.changesTitle,
      el("span", {}, "Fix the mask, then mark it done again."),
      this.comment,
    );
    this.input = el("textarea", {
      testid: "review-comment-input",
      placeholder: "What should change? (needed to request changes)",
      "aria-label": "Review comment",
      maxlength: 2000,
    });
    this.decide = el(
      "div",
      { class: "review-banner decide reviewer-only", testid: "review-decide", hidden: true },
      el("strong", {}, "Review:"),
      this.input,
      el(
        "button",
        { type: "button", class: "btn small primary", testid: "mark-reviewed", onclick: () => this.decideAs("reviewed") },
        "Mark reviewed",
      ),
      el(
        "button",
        { type: "button", class: "btn small danger", testid: "request-changes", onclick: () => this.decideAs("changes_requested") },
        "Request changes",
      ),
    );
    root.replaceChildren(this.draft, this.changes, this.decide);
  }

  /** Reads the frame's review state (and members' names for the reviewer) and shows it. */
  async load() {
    const [frame, members] = await Promise.all([
      getJSON(`/api/frames/${this.frameId}`),
      getJSON(`/api/projects/${this.projectId}/members`).catch(() => []),
    ]);
    for (const m of members) this.names.set(m.user_id, m.email);
    this.show(frame);
  }

  show(frame) {
    this.frame = frame;
    this.draft.hidden = !frame.draft;
    const propagated = frame.mask_source === "propagation";
    this.draftTitle.textContent = propagated ? "Propagated draft:" : "Model draft:";
    this.draftText.textContent = propagated
      ? "this mask was carried over from a neighbouring frame. Edit it, or accept it as is."
      : "a model pre-labeled this mask. Edit it, or accept it as is.";
    this.changes.hidden = frame.label_status !== "changes_requested";
    const by = this.names.get(frame.reviewed_by_id) || "a reviewer";
    this.changesTitle.textContent = `Changes requested by ${by}:`;
    this.comment.textContent = frame.review_comment || "";
    this.decide.hidden = !DECIDABLE.has(frame.label_status);
    this.setStatus(frame.label_status);
  }

  /** A new mask version was saved from the painter: it is a person's now, and a review is reopened. */
  saved(version) {
    if (!this.frame) return;
    const status = this.frame.label_status;
    const next = status === "unlabeled" || status === "reviewed" ? "in_progress" : status;
    this.show({ ...this.frame, draft: false, mask_source: "painter", mask_version: Number(version), label_status: next });
  }

  /** The label status changed elsewhere on the page (Mark done / Reopen). */
  statusChanged(frame) {
    this.show({ ...this.frame, ...frame });
  }

  async accept() {
    if (this.sync.dirty || this.sync.state !== "saved") {
      toast("You have edited the draft: your edits are saved as your own mask instead.", "error", 6000);
      return;
    }
    const response = await fetch(`/api/frames/${this.frameId}/mask/accept`, {
      method: "POST",
      headers: csrfHeaders({ Accept: "application/json", "If-Match": `"${this.sync.version}"` }),
    });
    const body = parseJSON(await response.text());
    if (!response.ok) {
      toast(new ApiError(response.status, describeDetail(body?.detail, response.status)).message, "error", 6000);
      return;
    }
    this.sync.version = String(body.mask_version);
    this.show(body);
    toast("Draft accepted as your mask; the frame is marked done.", "success");
  }

  async decideAs(status) {
    const comment = this.input.value.trim();
    try {
      const body = { label_status: status, ...(comment ? { review_comment: comment } : {}) };
      const frame = await patchJSON(`/api/frames/${this.frameId}`, body);
      this.input.value = "";
      this.show(frame);
      toast(status === "reviewed" ? "Frame marked reviewed." : "Changes requested.", "success");
    } catch (error) {
      toast(error.message, "error", 6000);
    }
  }
}
