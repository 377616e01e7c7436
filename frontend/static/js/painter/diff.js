// Diffs: what an edit changed, for undo/redo with bounded memory; and dirty-rectangle boxes.

const OLD_CHUNK = 1 << 18; // old ids per chunk
const RUN_CHUNK = 1 << 15; // ints per chunk: (start, length) pairs

/**
 * What an edit changed: runs of consecutive pixel indices (start, length) with the old id of
 * every changed pixel, plus the new id, which is one value for the whole edit (brush, eraser,
 * fills) or, for `assign`, read from the source array. About one byte per changed pixel.
 * Stored in fixed-size chunks, so growing never copies what is recorded (no stalls mid-stroke).
 * An edit changes each pixel at most once (it is skipped once it holds the new id).
 */
export class Diff {
  constructor(label = "edit") {
    this.label = label;
    this.n = 0;
    this.value = -1; // the new id, or -1 while unknown / when `source` holds them
    this.source = null;
    this.olds = [];
    this.runs = [];
    this.oc = null; // current chunks and how full they are
    this.of = OLD_CHUNK;
    this.rc = null;
    this.rf = RUN_CHUNK;
    this.next = -1; // index just after the current run
    this.box = emptyBox();
  }

  push(i, oldValue, newValue) {
    if (this.value < 0 && this.source === null) this.value = newValue;
    if (this.of === OLD_CHUNK) {
      this.oc = new Uint8Array(OLD_CHUNK);
      this.olds.push(this.oc);
      this.of = 0;
    }
    this.oc[this.of++] = oldValue;
    if (i === this.next) {
      this.rc[this.rf - 1]++;
    } else {
      if (this.rf === RUN_CHUNK) {
        this.rc = new Int32Array(RUN_CHUNK);
        this.runs.push(this.rc);
        this.rf = 0;
      }
      this.rc[this.rf++] = i;
      this.rc[this.rf++] = 1;
    }
    this.next = i + 1;
    this.n++;
  }

  /** Trims the last chunks to their content (so `bytes` is what is really held); no more pushes. */
  seal() {
    if (this.olds.length) this.olds[this.olds.length - 1] = this.oc.slice(0, this.of);
    if (this.runs.length) this.runs[this.runs.length - 1] = this.rc.slice(0, this.rf);
    this.oc = this.rc = null;
    this.of = OLD_CHUNK;
    this.rf = RUN_CHUNK;
    this.next = -1;
    return this;
  }

  get bytes() {
    let total = 128 + (this.source ? this.source.byteLength : 0);
    for (const c of this.olds) total += c.byteLength;
    for (const c of this.runs) total += c.byteLength;
    return total;
  }
}

export function emptyBox() {
  return { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity };
}

/** Grows box to include the half-open rectangle [x0, x1) × [y0, y1). */
export function extendBox(box, x0, y0, x1, y1) {
  if (x0 < box.x0) box.x0 = x0;
  if (y0 < box.y0) box.y0 = y0;
  if (x1 > box.x1) box.x1 = x1;
  if (y1 > box.y1) box.y1 = y1;
  return box;
}

export const isEmptyBox = (box) => !(box.x1 > box.x0 && box.y1 > box.y0);
