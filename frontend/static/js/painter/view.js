// Zoom/pan of the stage (frame image + mask overlay canvas) and the screen-space HUD.
// The stage is CSS-transformed: translate(panX, panY) scale(zoom), origin at the viewport's
// top-left, so the image pixel under a client point is floor((clientX - left - panX) / zoom).

import { isEmptyBox } from "./diff.js";

export const MIN_ZOOM = 1 / 32;
export const MAX_ZOOM = 64;
export const ZOOM_STEPS = [
  1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 3, 1 / 2, 2 / 3, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64,
];
const SVG = "http://www.w3.org/2000/svg";

/** "#rrggbb" → little-endian RGBA word for an ImageData's Uint32Array view. */
function rgbaWord(hex, alpha = 255) {
  const v = parseInt(hex.slice(1), 16);
  return ((alpha << 24) | ((v & 0xff) << 16) | (v & 0xff00) | ((v >> 16) & 0xff)) >>> 0;
}

export class View {
  constructor({ viewport, stage, overlay, hud, labelMap, classes, onChange }) {
    Object.assign(this, { viewport, stage, overlay, hud, labelMap, onChange });
    this.zoom = 1;
    this.panX = 0;
    this.panY = 0;
    this.rect = viewport.getBoundingClientRect();
    const { width, height } = labelMap;
    overlay.width = width;
    overlay.height = height;
    stage.style.width = `${width}px`;
    stage.style.height = `${height}px`;
    this.ctx = overlay.getContext("2d");
    this.imageData = this.ctx.createImageData(width, height);
    this.pixels = new Uint32Array(this.imageData.data.buffer);
    this.lut = new Uint32Array(256).fill(rgbaWord("#ff00ff")); // ids without a class stand out
    this.lut[255] = 0;
    for (const c of classes) this.lut[c.index] = rgbaWord(c.color);
    this.hudParts = this.buildHud();
    new ResizeObserver(() => this.measure()).observe(viewport);
    window.addEventListener("scroll", () => this.measure(), { passive: true });
  }

  measure() {
    this.rect = this.viewport.getBoundingClientRect();
  }

  // ---- geometry ------------------------------------------------------------------------------
  /** Image coordinates (fractional) of a client point. */
  toImage(clientX, clientY) {
    return [(clientX - this.rect.left - this.panX) / this.zoom, (clientY - this.rect.top - this.panY) / this.zoom];
  }

  /** The image pixel under a client point (may lie outside the image). */
  pixelAt(clientX, clientY) {
    const [x, y] = this.toImage(clientX, clientY);
    return [Math.floor(x), Math.floor(y)];
  }

  /** Viewport-local screen position of image coordinates. */
  toLocal(x, y) {
    return [this.panX + x * this.zoom, this.panY + y * this.zoom];
  }

  setView({ zoom = this.zoom, panX = this.panX, panY = this.panY } = {}) {
    this.zoom = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, zoom));
    this.panX = panX;
    this.panY = panY;
    this.stage.style.transform = `translate(${this.panX}px, ${this.panY}px) scale(${this.zoom})`;
    this.stage.classList.toggle("smooth", this.zoom < 1);
    this.onChange?.(this);
  }

  /** Zooms to `zoom` keeping the image point under the client point where it is. */
  zoomAt(clientX, clientY, zoom) {
    const [x, y] = this.toImage(clientX, clientY);
    const z = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, zoom));
    const lx = clientX - this.rect.left;
    const ly = clientY - this.rect.top;
    this.setView({ zoom: z, panX: lx - x * z, panY: ly - y * z });
  }

  /** The next zoom step up (+1) or down (-1) from the current zoom. */
  step(direction) {
    const z = this.zoom;
    if (direction > 0) return ZOOM_STEPS.find((s) => s > z * 1.001) ?? MAX_ZOOM;
    return [...ZOOM_STEPS].reverse().find((s) => s < z / 1.001) ?? MIN_ZOOM;
  }

  zoomCentre(zoom) {
    this.measure();
    this.zoomAt(this.rect.left + this.rect.width / 2, this.rect.top + this.rect.height / 2, zoom);
  }

  /** Whole image in view, centred, with a small margin. */
  fit() {
    this.measure();
    const { width, height } = this.labelMap;
    const margin = 24;
    const zoom = Math.max(MIN_ZOOM, Math.min((this.rect.width - margin) / width, (this.rect.height - margin) / height));
    this.setView({
      zoom,
      panX: Math.round((this.rect.width - width * zoom) / 2),
      panY: Math.round((this.rect.height - height * zoom) / 2),
    });
  }

  // ---- overlay --------------------------------------------------------------------------------
  /** Recolours the overlay inside a box [x0, x1) × [y0, y1) and uploads only that rectangle. */
  redrawBox(box) {
    if (!box || isEmptyBox(box)) return;
    const { width: w, height: h, data } = this.labelMap;
    const x0 = Math.max(0, box.x0);
    const y0 = Math.max(0, box.y0);
    const x1 = Math.min(w, box.x1);
    const y1 = Math.min(h, box.y1);
    if (x1 <= x0 || y1 <= y0) return;
    const { pixels, lut } = this;
    for (let y = y0; y < y1; y++) {
      for (let i = y * w + x0, end = y * w + x1; i < end; i++) pixels[i] = lut[data[i]];
    }
    this.ctx.putImageData(this.imageData, 0, 0, x0, y0, x1 - x0, y1 - y0);
  }

  redrawAll() {
    this.redrawBox({ x0: 0, y0: 0, x1: this.labelMap.width, y1: this.labelMap.height });
  }

  setOpacity(value) {
    this.overlay.style.opacity = String(value);
  }

  setOverlayVisible(visible) {
    this.overlay.hidden = !visible;
  }

  // ---- HUD (brush outline, hovered pixel, polygon in progress) -------------------------------
  buildHud() {
    const make = (tag, cls) => {
      const node = document.createElementNS(SVG, tag);
      node.setAttribute("class", cls);
      this.hud.append(node);
      return node;
    };
    return {
      pixel: make("rect", "hud-pixel"),
      brush: make("circle", "hud-brush"),
      polyFill: make("polygon", "hud-poly-fill"),
      poly: make("polyline", "hud-poly"),
      vertices: make("path", "hud-vertices"),
    };
  }

  /** hover: [x, y] image pixel or null; tool: name; size: brush diameter; polygon: [[x, y]...]. */
  drawHud({ hover, tool, size, polygon }) {
    const { pixel, brush, poly, polyFill, vertices } = this.hudParts;
    const z = this.zoom;
    const show = (node, on) => node.setAttribute("visibility", on ? "visible" : "hidden");
    const { width, height } = this.labelMap;
    const inside = hover && hover[0] >= 0 && hover[1] >= 0 && hover[0] < width && hover[1] < height;
    show(pixel, inside && z >= 4);
    if (inside) {
      const [lx, ly] = this.toLocal(hover[0], hover[1]);
      pixel.setAttribute("x", lx);
      pixel.setAttribute("y", ly);
      pixel.setAttribute("width", z);
      pixel.setAttribute("height", z);
    }
    const brushy = hover && (tool === "brush" || tool === "eraser");
    show(brush, brushy);
    if (brushy) {
      const [cx, cy] = this.toLocal(hover[0] + 0.5, hover[1] + 0.5);
      brush.setAttribute("cx", cx);
      brush.setAttribute("cy", cy);
      brush.setAttribute("r", Math.max(1.5, (size / 2) * z));
    }
    const active = tool === "polygon" && polygon.length > 0;
    show(poly, active);
    show(polyFill, active);
    show(vertices, active);
    if (active) {
      const pts = polygon.map(([x, y]) => this.toLocal(x + 0.5, y + 0.5));
      const withCursor = hover ? [...pts, this.toLocal(hover[0] + 0.5, hover[1] + 0.5)] : pts;
      const text = withCursor.map(([x, y]) => `${x},${y}`).join(" ");
      poly.setAttribute("points", text);
      polyFill.setAttribute("points", text);
      // The first vertex is drawn bigger once clicking it would close the polygon.
      const square = ([x, y], k) => {
        const s = k === 0 && pts.length >= 3 ? 5 : 3;
        return `M${x - s},${y - s}h${2 * s}v${2 * s}h${-2 * s}z`;
      };
      vertices.setAttribute("d", pts.map(square).join(""));
    }
  }
}
