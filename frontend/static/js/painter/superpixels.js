// The superpixel tool (a click or stroke fills every superpixel it touches) and edge snapping
// (the brush stays inside the superpixel under its centre). Superpixels come from the server,
// computed by a job on first use; see backend/services/superpixels.py for the label PNG.

import { postJSON } from "../api.js";
import { toast } from "../dom.js";
import { watchJob } from "../jobs-common.js";
import { extendBox } from "./labelmap.js";
import { byId } from "./panel.js";
import { SuperpixelIndex, decodeLabelPNG, fillAlong, snappedLine } from "./superpixel-index.js";

/** The Painter's stroke hook (painter.strokes): superpixel fills and snapped brush strokes. */
export class SuperpixelStrokes {
  constructor(painter) {
    this.painter = painter;
    this.index = null; // the SuperpixelIndex of the chosen granularity, once loaded
    this.snap = false;
  }

  /** Whether this stroke is ours: the superpixel tool, or the brush/eraser while snapping. */
  owns(tool) {
    return tool === "superpixel" || (this.snap && this.index !== null && (tool === "brush" || tool === "eraser"));
  }

  begin(stroke, x, y) {
    const tool = this.painter.tool;
    if (!this.owns(tool)) return false;
    stroke.snapped = true;
    if (!this.index) return true; // still computing: the click changes nothing
    if (tool === "superpixel") stroke.done = new Uint8Array(this.index.count);
    this.segment(stroke, x, y, x, y);
    return true;
  }

  extend(stroke, points) {
    if (!stroke.snapped) return false;
    let { x, y } = stroke;
    for (const [nx, ny] of points) {
      if (nx === x && ny === y) continue;
      if (this.index) this.segment(stroke, x, y, nx, ny);
      x = nx;
      y = ny;
    }
    stroke.x = x;
    stroke.y = y;
    return true;
  }

  segment(stroke, x0, y0, x1, y1) {
    const { labelMap, view, brush } = this.painter;
    const before = { ...stroke.diff.box };
    stroke.diff.box = { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity };
    if (stroke.done) fillAlong(this.index, labelMap, stroke, x0, y0, x1, y1);
    else snappedLine(this.index, labelMap, brush, stroke, x0, y0, x1, y1);
    const box = stroke.diff.box;
    if (box.x1 > box.x0) view.redrawBox(box);
    stroke.diff.box = extendBox(box, before.x0, before.y0, before.x1, before.y1);
  }
}

/** Wires the superpixel controls: loads superpixels on first use and shows their edges. */
export function bindSuperpixels({ painter, frame, view }) {
  const strokes = new SuperpixelStrokes(painter);
  painter.strokes = strokes;
  const status = byId("superpixel-status");
  const granularity = byId("superpixel-granularity");
  const snap = byId("superpixel-snap");
  const showEdges = byId("superpixel-edges-toggle");
  const canvas = byId("superpixel-edges");
  canvas.width = frame.width;
  canvas.height = frame.height;
  const loaded = new Map();
  let wanted = null;
  let watcher = null;

  const say = (text, state) => {
    status.textContent = text;
    status.dataset.state = state;
  };
  const drawEdges = () => {
    const on = strokes.index !== null && showEdges.checked && (painter.tool === "superpixel" || strokes.snap);
    canvas.hidden = !on;
  };
  const use = (name, index) => {
    if (wanted !== name) return;
    strokes.index = index;
    canvas.getContext("2d").putImageData(index.edges(), 0, 0);
    say(`${index.count.toLocaleString()} ${name} superpixels`, "ready");
    drawEdges();
  };
  const fetchLabels = async (name) => {
    const response = await fetch(`/api/frames/${frame.id}/superpixels?granularity=${name}`, { cache: "no-store" });
    if (!response.ok) throw new Error(`Could not load the superpixels (HTTP ${response.status}).`);
    const { labels, width, height } = await decodeLabelPNG(await response.arrayBuffer());
    if (width !== frame.width || height !== frame.height) throw new Error("The superpixels do not match the frame's size.");
    const index = new SuperpixelIndex(labels, width, height);
    loaded.set(name, index);
    use(name, index);
  };
  const fail = (error) => {
    say(error.message, "error");
    toast(error.message, "error", 6000);
  };
  let pending = null;
  const start = async (name) => {
    if (loaded.has(name)) return use(name, loaded.get(name));
    say(`Computing ${name} superpixels…`, "busy");
    const state = await postJSON(`/api/frames/${frame.id}/superpixels`, { granularity: name });
    if (state.ready) return fetchLabels(name);
    await new Promise((resolve, reject) => {
      watcher = watchJob(state.job.id, (job) => {
        if (wanted !== name) return resolve();
        if (job.status === "succeeded") fetchLabels(name).then(resolve, reject);
        else if (job.status === "failed" || job.status === "cancelled") {
          reject(new Error(job.error || `Computing the superpixels was ${job.status}.`));
        } else say(`Computing ${name} superpixels… ${Math.round(100 * job.progress)}%`, "busy");
      });
    }).finally(() => {
      watcher = null;
    });
  };
  /** Loads the chosen granularity (once; a second call returns the same promise). */
  const load = () => {
    const name = granularity.value;
    if (wanted === name && pending) return pending;
    wanted = name;
    watcher?.stop();
    watcher = null;
    strokes.index = null;
    drawEdges();
    pending = start(name).catch((error) => {
      if (wanted === name) pending = null; // a later use tries again
      fail(error);
    });
    return pending;
  };
  const needed = () => painter.tool === "superpixel" || strokes.snap;
  const onChange = painter.onChange;
  painter.onChange = (what, p) => {
    onChange?.(what, p);
    if (what === "tool" && needed()) load();
    drawEdges();
  };
  granularity.addEventListener("change", () => {
    granularity.blur();
    if (needed()) load();
  });
  snap.addEventListener("change", () => {
    snap.blur();
    strokes.snap = snap.checked;
    if (needed()) load();
    drawEdges();
  });
  showEdges.addEventListener("change", () => {
    showEdges.blur();
    drawEdges();
  });
  return { strokes, load };
}
