// Superpixels on the client: decoding the server's label PNG, the per-superpixel pixel index
// (so filling one costs only its own pixels), and the fills along a stroke that use them.

import { bresenham, extendBox } from "./labelmap.js";

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

/** Decodes the server's 16-bit greyscale label PNG (rows with filter 0) into a Uint16Array. */
export async function decodeLabelPNG(buffer) {
  const bytes = new Uint8Array(buffer);
  if (!SIGNATURE.every((b, i) => bytes[i] === b)) throw new Error("superpixels are not a PNG");
  const view = new DataView(buffer);
  const idat = [];
  let width = 0;
  let height = 0;
  for (let p = 8; p + 8 <= bytes.length; ) {
    const length = view.getUint32(p);
    const type = String.fromCharCode(...bytes.subarray(p + 4, p + 8));
    if (type === "IHDR") {
      width = view.getUint32(p + 8);
      height = view.getUint32(p + 12);
      if (bytes[p + 16] !== 16 || bytes[p + 17] !== 0 || bytes[p + 20] !== 0) {
        throw new Error("superpixels must be a 16-bit greyscale PNG");
      }
    } else if (type === "IDAT") idat.push(bytes.subarray(p + 8, p + 8 + length));
    else if (type === "IEND") break;
    p += 12 + length;
  }
  const stream = new Blob(idat).stream().pipeThrough(new DecompressionStream("deflate"));
  const raw = new Uint8Array(await new Response(stream).arrayBuffer());
  const stride = 1 + 2 * width;
  if (raw.length < stride * height) throw new Error("superpixel image data is truncated");
  const labels = new Uint16Array(width * height);
  for (let y = 0, o = 0; y < height; y++) {
    let s = y * stride;
    if (raw[s++] !== 0) throw new Error("superpixel rows must use PNG filter 0");
    for (let x = 0; x < width; x++, s += 2) labels[o++] = (raw[s] << 8) | raw[s + 1];
  }
  return { width, height, labels };
}

/**
 * A frame's superpixels with each superpixel's pixel indices (ascending, in one array, from
 * `start[k]` to `start[k + 1]`) and bounding box: filling one costs its own pixels only.
 */
export class SuperpixelIndex {
  constructor(labels, width, height) {
    Object.assign(this, { labels, width, height });
    let count = 0;
    for (let i = 0; i < labels.length; i++) if (labels[i] >= count) count = labels[i] + 1;
    this.count = count;
    const start = new Uint32Array(count + 1);
    for (let i = 0; i < labels.length; i++) start[labels[i] + 1]++;
    for (let k = 0; k < count; k++) start[k + 1] += start[k];
    const cursor = start.slice(0, count);
    const order = new Int32Array(labels.length);
    const box = new Int32Array(4 * count).fill(-1);
    for (let y = 0, i = 0; y < height; y++) {
      for (let x = 0; x < width; x++, i++) {
        const k = labels[i];
        order[cursor[k]++] = i;
        const b = 4 * k;
        if (box[b] < 0) {
          box[b] = x;
          box[b + 1] = y;
          box[b + 2] = x;
        } else if (x < box[b]) box[b] = x;
        else if (x > box[b + 2]) box[b + 2] = x;
        box[b + 3] = y;
      }
    }
    Object.assign(this, { start, order, box });
  }

  /** Sets every pixel of superpixel k to value (where the paint-over guard allows it). */
  fill(k, labelMap, value, diff) {
    const { data, only } = labelMap;
    const { order } = this;
    for (let j = this.start[k], end = this.start[k + 1]; j < end; j++) {
      const i = order[j];
      const old = data[i];
      if (old !== value && (only < 0 || old === only)) {
        data[i] = value;
        diff.push(i, old, value);
      }
    }
    const b = 4 * k;
    extendBox(diff.box, this.box[b], this.box[b + 1], this.box[b + 2] + 1, this.box[b + 3] + 1);
  }

  /** An RGBA image of the superpixel edges (a pixel whose right or lower neighbour differs). */
  edges() {
    const { labels, width: w, height: h } = this;
    const image = new ImageData(w, h);
    const px = new Uint32Array(image.data.buffer);
    const edge = 0x99ffff40; // ABGR: a light cyan, 60% opaque, that shows on every class colour
    for (let y = 0, i = 0; y < h; y++) {
      for (let x = 0; x < w; x++, i++) {
        const k = labels[i];
        if ((x + 1 < w && labels[i + 1] !== k) || (y + 1 < h && labels[i + w] !== k)) px[i] = edge;
      }
    }
    return image;
  }
}

/**
 * Fills the superpixels along the line (x0, y0)–(x1, y1) not yet filled in this stroke
 * (`done`: one flag per superpixel).
 */
export function fillAlong(index, labelMap, stroke, x0, y0, x1, y1) {
  const { width: w, height: h } = index;
  bresenham(x0, y0, x1, y1, (x, y) => {
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    const k = index.labels[y * w + x];
    if (stroke.done[k]) return;
    stroke.done[k] = 1;
    index.fill(k, labelMap, stroke.value, stroke.diff);
  });
}

/**
 * The round brush swept along the line, each stamp limited to the superpixel under its centre.
 * Consecutive centres in one superpixel are swept together row by row (as LabelMap.line does).
 */
export function snappedLine(index, labelMap, brush, stroke, x0, y0, x1, y1) {
  const points = [];
  bresenham(x0, y0, x1, y1, (x, y) => points.push(x, y));
  const { width: w, height: h, labels } = index;
  const inside = (x, y) => x >= 0 && y >= 0 && x < w && y < h;
  let a = 0;
  while (a < points.length) {
    const k = inside(points[a], points[a + 1]) ? labels[points[a + 1] * w + points[a]] : -1;
    let b = a + 2;
    while (b < points.length && inside(points[b], points[b + 1]) && labels[points[b + 1] * w + points[b]] === k) {
      b += 2;
    }
    if (k >= 0) sweep(index, labelMap, brush, stroke, points.slice(a, b), k);
    a = b;
  }
}

function sweep(index, labelMap, { reach, spans }, stroke, points, k) {
  const { width: w, height: h, labels } = index;
  const { data, only } = labelMap;
  const { value, diff } = stroke;
  let ymin = Infinity;
  let ymax = -Infinity;
  for (let p = 1; p < points.length; p += 2) {
    ymin = Math.min(ymin, points[p]);
    ymax = Math.max(ymax, points[p]);
  }
  const ya = ymin - reach;
  const rows = ymax - ymin + 2 * reach + 1;
  const lo = new Int32Array(rows).fill(0x7fffffff);
  const hi = new Int32Array(rows).fill(-0x7fffffff);
  for (let p = 0; p < points.length; p += 2) {
    const x = points[p];
    for (let dy = -reach, r = points[p + 1] - reach - ya; dy <= reach; dy++, r++) {
      const hw = spans[dy + reach];
      if (hw < 0) continue;
      if (x - hw < lo[r]) lo[r] = x - hw;
      if (x + hw > hi[r]) hi[r] = x + hw;
    }
  }
  // Only the superpixel's own box can hold its pixels.
  const b = 4 * k;
  const [bx0, by0, bx1, by1] = [index.box[b], index.box[b + 1], index.box[b + 2], index.box[b + 3]];
  for (let r = 0; r < rows; r++) {
    const y = ya + r;
    if (y < by0 || y > by1 || y < 0 || y >= h) continue;
    const xa = Math.max(0, bx0, lo[r]);
    const xb = Math.min(w - 1, bx1, hi[r]);
    if (xb < xa) continue;
    for (let i = y * w + xa, end = y * w + xb; i <= end; i++) {
      const old = data[i];
      if (labels[i] === k && old !== value && (only < 0 || old === only)) {
        data[i] = value;
        diff.push(i, old, value);
      }
    }
    extendBox(diff.box, xa, y, xb + 1, y + 1);
  }
}

