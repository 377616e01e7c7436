// The mask history panel: every saved version with who saved it, when and how; preview one
// over the frame, and restore it (the server stores a restore as a new version).

import { csrfHeaders, describeDetail, getJSON, parseJSON } from "../api.js";
import { el, toast } from "../dom.js";
import { byId } from "./panel.js";
import { decodeGrayPNG } from "./png.js";

const SOURCES = {
  painter: "painted",
  prelabel: "model draft",
  import: "import",
  restore: "restore",
  propagation: "propagation",
  remap: "class remap",
  accepted: "accepted draft",
};

/** Who saved a version: the person's name or e-mail, or what made it when no person did. */
export function authorOf(v) {
  if (v.author_name) return v.author_name;
  if (v.author_email) return v.author_email;
  if (v.source === "prelabel") return "a model";
  if (v.source === "propagation") return "optical flow";
  if (v.source === "import") return "a dataset import";
  return "someone (not recorded)";
}

/** "just now", "5 min ago", "3 h ago", else the local date and time. */
export function ago(iso, now = Date.now()) {
  const then = new Date(iso);
  const s = Math.max(0, (now - then.getTime()) / 1000);
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return then.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

export class VersionPanel {
  /** frameId; view: the View (its colour table and overlay); sync: the Sync; save(): saves now;
   * onRestored(): reloads the map from the server after a restore. */
  constructor({ frameId, view, sync, save, onRestored }) {
    Object.assign(this, { frameId, view, sync, save, onRestored });
    this.details = byId("versions-panel");
    this.list = byId("version-list");
    this.canvas = byId("preview-overlay");
    this.bar = byId("preview-bar");
    this.viewport = byId("viewport");
    this.versions = [];
    this.previewing = null;
    this.busy = false;
    this.details.addEventListener("toggle", () => this.details.open && this.refresh());
    byId("preview-close").addEventListener("click", () => this.endPreview());
    byId("preview-restore").addEventListener("click", () => this.previewing && this.restore(this.previewing));
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && this.previewing) this.endPreview();
    });
    // No painting on a mask that is not shown; capture runs before the painter's own handler.
    const block = (e) => {
      if (!this.previewing || e.button !== 0) return;
      e.stopImmediatePropagation();
      e.preventDefault();
      toast("This is a preview: restore it, or go back to the current mask to paint.");
    };
    this.viewport.addEventListener("pointerdown", block, { capture: true });
  }

  /** Re-reads the list while the panel is open. */
  async refresh() {
    if (!this.details.open) return;
    try {
      this.versions = await getJSON(`/api/frames/${this.frameId}/masks`);
    } catch (error) {
      this.list.replaceChildren(el("li", { class: "error small" }, `Could not load the history: ${error.message}`));
      return;
    }
    this.render();
  }

  render() {
    const current = Number(this.sync.version);
    byId("versions-count").textContent = `(${this.versions.length})`;
    if (!this.versions.length) {
      this.list.replaceChildren(el("li", { class: "muted small" }, "Nothing saved yet."));
      return;
    }
    this.list.replaceChildren(...this.versions.map((v) => this.item(v, v.version === current)));
  }

  item(v, isCurrent) {
    const source = el("span", { class: `pt-source src-${v.source}` }, SOURCES[v.source] || v.source);
    const actions = el(
      "span",
      { class: "pt-version-actions" },
      el("button", { type: "button", class: "btn small ghost", testid: "version-preview", onclick: () => this.preview(v) }, "Preview"),
    );
    if (!isCurrent) {
      const restore = el("button", { type: "button", class: "btn small", testid: "version-restore", onclick: () => this.restore(v) }, "Restore");
      actions.append(restore);
    }
    const who = authorOf(v);
    return el(
      "li",
      {
        class: `pt-version${this.previewing?.version === v.version ? " previewing" : ""}`,
        testid: "version-item",
        dataset: { version: v.version, source: v.source },
        "aria-current": isCurrent ? "true" : "false",
      },
      el("span", { class: "pt-version-head", title: `Version ${v.version}` }, `v${v.version}${isCurrent ? " (current)" : ""}`),
      actions,
      el(
        "span",
        { class: "pt-version-meta", title: `${who}, ${new Date(v.created_at).toLocaleString()}`, testid: "version-meta" },
        source,
        ` ${who} · ${ago(v.created_at)}`,
      ),
    );
  }

  /** Shows a saved version over the frame in place of the current mask (which is unchanged). */
  async preview(v) {
    let png;
    try {
      const response = await fetch(`/api/frames/${this.frameId}/masks/${v.version}`, { cache: "no-store" });
      if (!response.ok) throw new Error(describeDetail(parseJSON(await response.text())?.detail, response.status));
      png = await decodeGrayPNG(await response.arrayBuffer());
    } catch (error) {
      toast(`Could not load version ${v.version}: ${error.message}`, "error", 6000);
      return;
    }
    const { width, height, data } = png;
    const { canvas, view } = this;
    canvas.width = width;
    canvas.height = height;
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(width, height);
    const pixels = new Uint32Array(image.data.buffer);
    for (let i = 0; i < data.length; i++) pixels[i] = view.lut[data[i]];
    ctx.putImageData(image, 0, 0);
    canvas.style.opacity = view.overlay.style.opacity;
    canvas.hidden = false;
    view.overlay.style.visibility = "hidden";
    this.previewing = v;
    this.previewData = data;
    this.viewport.classList.add("previewing");
    byId("preview-text").textContent =
      `Previewing version ${v.version} (${SOURCES[v.source] || v.source}, ${authorOf(v)}, ${ago(v.created_at)}). ` +
      "Your current mask is hidden, not changed.";
    byId("preview-restore").hidden = v.version === Number(this.sync.version);
    this.bar.hidden = false;
    this.render();
  }

  endPreview() {
    if (!this.previewing) return;
    this.previewing = null;
    this.previewData = null;
    this.canvas.hidden = true;
    this.view.overlay.style.visibility = "";
    this.viewport.classList.remove("previewing");
    this.bar.hidden = true;
    if (this.versions.length) this.render();
  }

  /** Saves pending edits first (so they stay in the history), then restores `v` as a new version. */
  async restore(v) {
    if (this.busy) return;
    if (this.sync.state === "conflict") {
      toast("Resolve the conflict first (reload or overwrite), then restore.", "error", 6000);
      return;
    }
    this.busy = true;
    try {
      if (!(await this.save())) throw new Error("your edits could not be saved first");
      const response = await fetch(`/api/frames/${this.frameId}/masks/${v.version}/restore`, {
        method: "POST",
        headers: csrfHeaders({ "If-Match": `"${this.sync.version}"`, Accept: "application/json" }),
      });
      const body = parseJSON(await response.text());
      if (!response.ok) throw new Error(describeDetail(body?.detail, response.status));
      await this.onRestored();
      this.endPreview();
      toast(`Version ${v.version} restored as version ${body.version}.`, "success");
    } catch (error) {
      toast(`Could not restore version ${v.version}: ${error.message}`, "error", 6000);
    } finally {
      this.busy = false;
      await this.refresh();
    }
  }
}
