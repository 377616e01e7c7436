// The label map (one class id per pixel, 255 = unlabeled) and the edits on it.
// Every edit records what it changed in a Diff (see diff.js) for undo/redo.

import { extendBox } from "./diff.js";

export { Diff, emptyBox, extendBox, isEmptyBox } from "./diff.js";

export const UNLABELED = 255;

/**
 * Half-widths of a round brush of diameter `size` pixels, row by row: a pixel at integer offset
 * (dx, dy) from the centre pixel is covered when its centre lies within size/2 of the centre
 * pixel's centre, i.e. 4·(dx² + dy²) ≤ size².
 */
export function brushSpans(size) {
  const s2 = size * size;
  const reach = Math.floor(size / 2);
  const spans = new Int32Array(2 * reach + 1);
  for (let dy = -reach; dy <= reach; dy++) {
    let hw = reach;
    while (hw > 0 && 4 * (hw * hw + dy * dy) > s2) hw--;
    spans[dy + reach] = 4 * dy * dy <= s2 ? hw : -1;
  }
  return { reach, spans };
}

/** Calls fn(x, y) for each point of the Bresenham line from (x0, y0) to (x1, y1), ends included. */
export function bresenham(x0, y0, x1, y1, fn) {
  const dx = Math.abs(x1 - x0);
  const dy = -Math.abs(y1 - y0);
  const sx = x0 < x1 ? 1 : -1;
  const sy = y0 < y1 ? 1 : -1;
  let err = dx + dy;
  for (;;) {
    fn(x0, y0);
    if (x0 === x1 && y0 === y1) return;
    const e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      x0 += sx;
    }
    if (e2 <= dx) {
      err += dx;
      y0 += sy;
    }
  }
}

export class LabelMap {
  constructor(width, height, data) {
    this.width = width;
    this.height = height;
    this.data = data || new Uint8Array(width * height).fill(UNLABELED);
    // Protect classes: brush, eraser, fill and polygon change only pixels of this id (-1: any).
    this.only = -1;
  }

  /** Sets one pixel (if the guard allows it), recording the change. */
  set(i, value, diff) {
    const old = this.data[i];
    if (old !== value && (this.only < 0 || old === this.only)) {
      this.data[i] = value;
      diff.push(i, old, value);
    }
  }

  /** Stamps a round brush centred on pixel (cx, cy). */
  stamp(cx, cy, brush, value, diff) {
    const { width: w, height: h, data, only } = this;
    const { reach, spans } = brush;
    const ya = Math.max(0, cy - reach);
    const yb = Math.min(h - 1, cy + reach);
    for (let y = ya; y <= yb; y++) {
      const hw = spans[y - cy + reach];
      if (hw < 0) continue;
      const xa = Math.max(0, cx - hw);
      const xb = Math.min(w - 1, cx + hw);
      const row = y * w;
      for (let i = row + xa, end = row + xb; i <= end; i++) {
        const old = data[i];
        if (old !== value && (only < 0 || old === only)) {
          data[i] = value;
          diff.push(i, old, value);
        }
      }
    }
    const x0 = Math.max(0, cx - reach);
    const x1 = Math.min(w, cx + reach + 1);
    if (x1 > x0 && yb >= ya) extendBox(diff.box, x0, ya, x1, yb + 1);
    return this;
  }

  /**
   * Stamps the brush at every pixel of the Bresenham line from (x0, y0) to (x1, y1): no gaps.
   * Computed row by row: the line's y is monotonic and successive points move by at most one
   * pixel, so in each row the union of the stamps is one run [min(x - hw), max(x + hw)]. This
   * costs (points × brush rows) + the covered area instead of points × brush area.
   */
  line(x0, y0, x1, y1, brush, value, diff) {
    const { width: w, height: h, data, only } = this;
    const { reach, spans } = brush;
    const ya = Math.min(y0, y1) - reach;
    const rows = Math.abs(y1 - y0) + 2 * reach + 1;
    const lo = new Int32Array(rows).fill(0x7fffffff);
    const hi = new Int32Array(rows).fill(-0x7fffffff);
    bresenham(x0, y0, x1, y1, (x, y) => {
      for (let dy = -reach, r = y - reach - ya; dy <= reach; dy++, r++) {
        const hw = spans[dy + reach];
        if (x - hw < lo[r]) lo[r] = x - hw;
        if (x + hw > hi[r]) hi[r] = x + hw;
      }
    });
    const box = diff.box;
    for (let r = 0; r < rows; r++) {
      const y = ya + r;
      if (y < 0 || y >= h) continue;
      const xa = Math.max(0, lo[r]);
      const xb = Math.min(w - 1, hi[r]);
      if (xb < xa) continue;
      const row = y * w;
      for (let i = row + xa, end = row + xb; i <= end; i++) {
        const old = data[i];
        if (old !== value && (only < 0 || old === only)) {
          data[i] = value;
          diff.push(i, old, value);
        }
      }
      extendBox(box, xa, y, xb + 1, y + 1);
    }
  }

  /** Fills the 4-connected region of equal ids containing (x, y) with `value`. */
  floodFill(x, y, value, diff) {
    const { width: w, height: h, data } = this;
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    const target = data[y * w + x];
    if (target === value || (this.only >= 0 && target !== this.only)) return;
    let stack = new Int32Array(1024);
    let top = 0;
    stack[top++] = y * w + x;
    const box = diff.box;
    while (top > 0) {
      const p = stack[--top];
      if (data[p] !== target) continue;
      const py = (p / w) | 0;
      const row = py * w;
      let l = p;
      while (l > row && data[l - 1] === target) l--;
      let r = p;
      while (r < row + w - 1 && data[r + 1] === target) r++;
      for (let i = l; i <= r; i++) {
        data[i] = value;
        diff.push(i, target, value);
      }
      extendBox(box, l - row, py, r - row + 1, py + 1);
      for (const ny of [py - 1, py + 1]) {
        if (ny < 0 || ny >= h) continue;
        const off = (ny - py) * w;
        let inRun = false;
        for (let i = l + off; i <= r + off; i++) {
          if (data[i] === target) {
            if (!inRun) {
              if (top === stack.length) {
                const bigger = new Int32Array(stack.length * 2);
                bigger.set(stack);
                stack = bigger;
              }
              stack[top++] = i;
              inRun = true;
            }
          } else inRun = false;
        }
      }
    }
  }

  /**
   * Fills a polygon given by vertices at pixel coordinates [[x, y], ...]: every pixel whose centre
   * is inside (even-odd rule on the pixel-centre scanline, left edges in, right edges out) plus
   * every pixel of the closed outline (Bresenham between consecutive vertices).
   */
  fillPolygon(points, value, diff) {
    const { width: w, height: h } = this;
    const n = points.length;
    if (n === 0) return;
    const verts = points.map(([x, y]) => [x + 0.5, y + 0.5]);
    let ymin = Infinity;
    let ymax = -Infinity;
    for (const [, y] of verts) {
      ymin = Math.min(ymin, y);
      ymax = Math.max(ymax, y);
    }
    const ja = Math.max(0, Math.floor(ymin));
    const jb = Math.min(h - 1, Math.ceil(ymax));
    const xs = [];
    for (let j = ja; j <= jb; j++) {
      const yc = j + 0.5;
      xs.length = 0;
      for (let k = 0; k < n; k++) {
        const [ax, ay] = verts[k];
        const [bx, by] = verts[(k + 1) % n];
        if ((ay <= yc && yc < by) || (by <= yc && yc < ay)) xs.push(ax + ((yc - ay) * (bx - ax)) / (by - ay));
      }
      xs.sort((a, b) => a - b);
      for (let k = 0; k + 1 < xs.length; k += 2) {
        const ia = Math.max(0, Math.ceil(xs[k] - 0.5));
        const ib = Math.min(w - 1, Math.ceil(xs[k + 1] - 0.5) - 1);
        for (let i = ia; i <= ib; i++) this.set(j * w + i, value, diff);
        if (ib >= ia) extendBox(diff.box, ia, j, ib + 1, j + 1);
      }
    }
    const dot = { reach: 0, spans: new Int32Array([0]) };
    for (let k = 0; k < n; k++) {
      const [ax, ay] = points[k];
      const [bx, by] = points[(k + 1) % n];
      this.line(ax, ay, bx, by, dot, value, diff);
    }
  }

  /** Sets every pixel equal to `from` to `to`. */
  replace(from, to, diff) {
    const { data, width: w } = this;
    for (let i = 0; i < data.length; i++) {
      if (data[i] === from) {
        data[i] = to;
        diff.push(i, from, to);
      }
    }
    if (diff.n) extendBox(diff.box, 0, 0, w, this.height);
  }

  /** Makes the map equal to `source` (same size, not modified afterwards), recording changes. */
  assign(source, diff) {
    const { data, width: w } = this;
    diff.source = source;
    for (let i = 0; i < data.length; i++) {
      const value = source[i];
      if (data[i] !== value) {
        diff.push(i, data[i], value);
        data[i] = value;
      }
    }
    if (diff.n) extendBox(diff.box, 0, 0, w, this.height);
  }

  /** Applies a sealed diff backwards (undo) or forwards (redo). */
  apply(diff, forward) {
    const { data } = this;
    const { source, value, olds } = diff;
    let chunk = 0;
    let o = 0;
    let old = olds[0];
    for (const runs of diff.runs) {
      for (let r = 0; r < runs.length; r += 2) {
        const start = runs[r];
        const end = start + runs[r + 1];
        if (forward) {
          if (source) for (let i = start; i < end; i++) data[i] = source[i];
          else data.fill(value, start, end);
          continue;
        }
        for (let i = start; i < end; i++) {
          if (o === old.length) {
            old = olds[++chunk];
            o = 0;
          }
          data[i] = old[o++];
        }
      }
    }
  }

  /** Pixel counts per id (Float64 not needed: at most width×height). */
  histogram() {
    const counts = new Uint32Array(256);
    const { data } = this;
    for (let i = 0; i < data.length; i++) counts[data[i]]++;
    return counts;
  }
}
