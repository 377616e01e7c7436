// Tool state and the edits the tools make: brush/eraser strokes, flood fill, polygon fill,
// "fill unlabeled with background", "copy the previous frame's mask", undo and redo.

import { Diff, emptyBox, extendBox } from "./diff.js";
import { UNLABELED, brushSpans } from "./labelmap.js";
import { fetchMask } from "./sync.js";

export const TOOLS = ["brush", "eraser", "fill", "polygon", "superpixel"];
export const MIN_BRUSH = 1;
export const MAX_BRUSH = 1024;

export class Painter {
  constructor({ labelMap, view, history, sync, classes, onChange }) {
    Object.assign(this, { labelMap, view, history, sync, classes, onChange });
    this.tool = "brush";
    this.classIndex = classes.length ? classes[0].index : 0;
    this.brushSize = 9;
    this.brush = brushSpans(this.brushSize);
    this.polygon = [];
    this.hover = null;
    this.stroke = null;
    this.strokes = null; // superpixels.js: superpixel fills and snapped brush strokes
    const bg = classes.find((c) => c.name.trim().toLowerCase() === "background");
    this.backgroundIndex = bg ? bg.index : 0;
  }

  changed(what) {
    this.onChange?.(what, this);
  }

  // ---- settings -------------------------------------------------------------------------------
  setTool(tool) {
    if (!TOOLS.includes(tool) || tool === this.tool) return;
    if (this.tool === "polygon") this.polygon = [];
    this.tool = tool;
    this.changed("tool");
  }

  setClass(index) {
    if (!this.classes.some((c) => c.index === index)) return;
    this.classIndex = index;
    if (this.tool === "eraser") this.tool = "brush";
    this.changed("class");
  }

  setBrushSize(size) {
    const value = Math.min(MAX_BRUSH, Math.max(MIN_BRUSH, Math.round(Number(size) || 1)));
    if (value === this.brushSize) return;
    this.brushSize = value;
    this.brush = brushSpans(value);
    this.changed("brush");
  }

  /** `[` / `]`: one pixel at a time for small brushes, about 1/8 of the size for big ones. */
  nudgeBrush(direction) {
    const step = Math.max(1, Math.round(this.brushSize / 8));
    this.setBrushSize(this.brushSize + direction * step);
  }

  /** Protect classes: the tools change only pixels whose id is `only` (-1: any pixel). */
  setPaintOver(only) {
    const value = Number.isInteger(only) && only >= 0 && only <= UNLABELED ? only : -1;
    if (value === this.labelMap.only) return;
    this.labelMap.only = value;
    this.changed("paint-over");
  }

  get paintValue() {
    return this.tool === "eraser" ? UNLABELED : this.classIndex;
  }

  // ---- edits ----------------------------------------------------------------------------------
  /** Records a finished edit, redraws what it touched and lets autosave know. */
  commit(diff) {
    if (!this.history.push(diff)) return false;
    this.view.redrawBox(diff.box);
    this.sync.touch();
    this.changed("history");
    return true;
  }

  beginStroke(x, y) {
    const diff = new Diff(this.tool);
    this.stroke = { diff, x, y, value: this.paintValue, touched: false };
    this.sync.hold = true; // no autosave of a half-drawn stroke
    if (this.strokes?.begin(this.stroke, x, y)) return this.markTouched();
    this.labelMap.stamp(x, y, this.brush, this.stroke.value, diff);
    const r = this.brush.reach;
    this.view.redrawBox(extendBox(emptyBox(), x - r, y - r, x + r + 1, y + r + 1));
    this.markTouched();
  }

  markTouched() {
    const s = this.stroke;
    if (s.touched || s.diff.n === 0) return;
    s.touched = true;
    this.sync.touch(false);
  }

  /** Continues the stroke through image pixels [[x, y], ...] (one per coalesced event). */
  extendStroke(points) {
    const s = this.stroke;
    if (!s) return;
    if (this.strokes?.extend(s, points)) return this.markTouched();
    const box = emptyBox();
    const r = this.brush.reach;
    let { x, y } = s;
    for (const [nx, ny] of points) {
      if (nx === x && ny === y) continue;
      this.labelMap.line(x, y, nx, ny, this.brush, s.value, s.diff);
      extendBox(box, Math.min(x, nx) - r, Math.min(y, ny) - r, Math.max(x, nx) + r + 1, Math.max(y, ny) + r + 1);
      x = nx;
      y = ny;
    }
    s.x = x;
    s.y = y;
    this.view.redrawBox(box);
    this.markTouched();
  }

  endStroke() {
    const s = this.stroke;
    if (!s) return;
    this.stroke = null;
    this.sync.hold = false;
    if (!this.history.push(s.diff)) return;
    this.sync.touch();
    this.changed("history");
  }

  flood(x, y) {
    const diff = new Diff("fill");
    this.labelMap.floodFill(x, y, this.classIndex, diff);
    this.commit(diff);
  }

  addPolygonPoint(x, y) {
    const last = this.polygon[this.polygon.length - 1];
    if (last && last[0] === x && last[1] === y) return;
    this.polygon.push([x, y]);
    this.changed("polygon");
  }

  closePolygon() {
    const points = this.polygon;
    this.polygon = [];
    this.changed("polygon");
    if (points.length < 3) return false;
    const diff = new Diff("polygon");
    this.labelMap.fillPolygon(points, this.classIndex, diff);
    return this.commit(diff);
  }

  cancelPolygon() {
    if (!this.polygon.length) return false;
    this.polygon = [];
    this.changed("polygon");
    return true;
  }

  fillUnlabeled() {
    const diff = new Diff("fill unlabeled");
    this.labelMap.replace(UNLABELED, this.backgroundIndex, diff);
    return this.commit(diff);
  }

  /** Replaces the map with the previous frame's saved mask (undoable); throws on a mismatch. */
  async copyFrom(frameId) {
    const mask = await fetchMask(frameId);
    const { width, height } = this.labelMap;
    if (mask.width !== width || mask.height !== height) {
      throw new Error(`The previous frame is ${mask.width}×${mask.height}, this one is ${width}×${height}.`);
    }
    const diff = new Diff("copy previous");
    this.labelMap.assign(mask.data, diff);
    return this.commit(diff);
  }

  undo() {
    if (this.stroke) return false;
    if (this.polygon.length) {
      this.polygon.pop();
      this.changed("polygon");
      return true;
    }
    return this.replay(this.history.undo());
  }

  redo() {
    if (this.stroke) return false;
    return this.replay(this.history.redo());
  }

  replay(diff) {
    if (!diff) return false;
    this.view.redrawBox(diff.box);
    this.sync.touch();
    this.changed("history");
    return true;
  }

  /** After a reload from the server: the undo history no longer applies. */
  resetHistory() {
    this.history.clear();
    this.polygon = [];
    this.view.redrawAll();
    this.changed("history");
  }
}
