// The painter page's DOM outside the canvas: save state, conflict bar, label status, palette,
// tool buttons, overlay controls, zoom and cursor read-outs.

import { UNLABELED } from "./labelmap.js";

export const byId = (id) => document.querySelector(`[data-testid="${id}"]`);
const all = (selector) => [...document.querySelectorAll(selector)];

function formatShare(count, total) {
  if (!count) return "";
  const share = (100 * count) / total;
  return share < 0.1 ? "<0.1%" : `${share.toFixed(share < 10 ? 1 : 0)}%`;
}

export class Panel {
  constructor({ frame, classes }) {
    this.frame = frame;
    this.classNames = new Map(classes.map((c) => [c.index, c.name]));
    this.state = byId("save-state");
    this.conflictBar = byId("conflict-bar");
    this.options = all('[data-testid="class-option"]');
    this.tools = all(".pt-tool");
    this.overlayToggle = byId("overlay-toggle");
    this.opacity = byId("overlay-opacity");
  }

  setSaveState(state) {
    this.state.textContent = state;
    this.state.dataset.state = state;
    this.conflictBar.hidden = state !== "conflict";
    byId("save-button").disabled = state === "saving";
  }

  describeConflict(current, base) {
    const theirs = current === null || current === undefined ? "a newer version" : `version ${current}`;
    byId("conflict-text").textContent =
      `This mask was saved somewhere else (${theirs}; your edits started from version ${base}). ` +
      "Reload to take the saved mask and drop your changes, or overwrite it with yours.";
  }

  flashConflict() {
    this.conflictBar.classList.remove("flash");
    void this.conflictBar.offsetWidth; // restart the animation
    this.conflictBar.classList.add("flash");
  }

  /** countOf(id) → pixels with that id; shows each class's share of the frame. */
  showShares(countOf) {
    const total = this.frame.width * this.frame.height;
    for (const item of this.options) {
      item.querySelector(".pt-class-share").textContent = formatShare(countOf(Number(item.dataset.classIndex)), total);
    }
    const unlabeled = countOf(UNLABELED);
    const text = unlabeled ? `Unlabeled: ${formatShare(unlabeled, total)}` : "Everything is labeled.";
    byId("unlabeled-share").textContent = text;
  }

  setLabelStatus(status) {
    this.frame.label_status = status;
    const badge = byId("label-status");
    badge.textContent = status.replace("_", " ");
    badge.className = `badge label-${status}`;
    const done = status === "done";
    const button = byId("mark-done");
    button.textContent = done ? "Reopen" : "Mark done";
    button.classList.toggle("primary", !done);
    button.title = done ? "Set the frame back to in progress" : "Save and mark this frame as done";
  }

  render(painter, history) {
    for (const button of this.tools) button.setAttribute("aria-pressed", String(button.dataset.tool === painter.tool));
    byId("viewport").dataset.tool = painter.tool;
    for (const item of this.options) {
      const selected = Number(item.dataset.classIndex) === painter.classIndex && painter.tool !== "eraser";
      item.setAttribute("aria-selected", String(selected));
    }
    byId("brush-size").value = String(painter.brushSize);
    byId("brush-size-value").textContent = String(painter.brushSize);
    byId("undo").disabled = !history.canUndo;
    byId("redo").disabled = !history.canRedo;
  }

  /** Wires the overlay checkbox and opacity slider to the view; returns a toggle function. */
  bindOverlay(view) {
    const setVisible = (visible) => {
      this.overlayToggle.checked = visible;
      view.setOverlayVisible(visible);
    };
    const setOpacity = () => {
      view.setOpacity(Number(this.opacity.value) / 100);
      byId("overlay-opacity-value").textContent = this.opacity.value;
    };
    this.overlayToggle.addEventListener("change", () => setVisible(this.overlayToggle.checked));
    this.opacity.addEventListener("input", () => {
      setOpacity();
      setVisible(true);
    });
    setOpacity();
    return () => setVisible(!this.overlayToggle.checked);
  }

  bindPalette(painter) {
    for (const item of this.options) {
      const pick = () => painter.setClass(Number(item.dataset.classIndex));
      item.addEventListener("click", pick);
      item.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          pick();
        }
      });
    }
    for (const button of this.tools) button.addEventListener("click", () => painter.setTool(button.dataset.tool));
    byId("brush-size").addEventListener("input", (e) => painter.setBrushSize(e.target.value));
  }

  showZoom(zoom) {
    byId("zoom-value").textContent = `${Math.round(zoom * 1000) / 10}%`;
  }

  showCursor(hover, labelMap) {
    const { width, height, data } = labelMap;
    const el = byId("cursor-info");
    if (!hover || hover[0] < 0 || hover[1] < 0 || hover[0] >= width || hover[1] >= height) {
      el.textContent = "";
      return;
    }
    const id = data[hover[1] * width + hover[0]];
    const name = id === UNLABELED ? "unlabeled" : this.classNames.get(id) ?? `id ${id}`;
    el.textContent = `x ${hover[0]}, y ${hover[1]} · ${name}`;
  }
}
