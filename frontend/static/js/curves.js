// Training visuals without a library: SVG line charts of the live curves, and the timeline player.
import { el } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";
const W = 520;
const H = 230;
const M = { left: 46, right: 14, top: 30, bottom: 34 };

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

/** Round tick values covering [lo, hi] (about `count` of them). */
export function niceTicks(lo, hi, count = 5) {
  const top = hi > lo ? hi : lo + 1;
  const raw = (top - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  const ticks = [];
  for (let v = Math.floor(lo / step) * step; v < top + step * 0.999; v += step) ticks.push(Number(v.toPrecision(10)));
  return ticks;
}

const short = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : Number(v.toPrecision(3)).toString());

/**
 * A line chart as an <svg>. series: [{name, cls, points: [{x, y, best}], dots}]; the y range
 * is [yMin, yMax] (yMax defaults to the data's maximum, rounded up to a tick).
 */
export function lineChart({ label, series, xMax = 1, yMin = 0, yMax, format = short, testid }) {
  const ys = series.flatMap((s) => s.points.map((p) => p.y)).filter(Number.isFinite);
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const yTicks = niceTicks(yMin, yMax ?? (ys.length ? Math.max(...ys) : 1), yMax ? 5 : 4);
  const y1 = yMax ?? yTicks[yTicks.length - 1];
  const x1 = Math.max(1, xMax, ...xs);
  const xTicks = niceTicks(0, x1, 6).filter((t) => Number.isInteger(t) && t <= x1);
  const sx = (x) => M.left + (x / x1) * (W - M.left - M.right);
  const sy = (y) => H - M.bottom - ((Math.min(y, y1) - yMin) / (y1 - yMin || 1)) * (H - M.top - M.bottom);
  const root = svg("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: "chart-svg",
    role: "img",
    "aria-label": label,
    "data-testid": testid,
    "data-points": series.map((s) => s.points.length).join(","),
  });
  const grid = svg("g", { class: "chart-grid" });
  for (const t of yTicks.filter((v) => v <= y1)) {
    grid.append(svg("line", { x1: M.left, x2: W - M.right, y1: sy(t), y2: sy(t) }));
    grid.append(svg("text", { x: M.left - 6, y: sy(t) + 4, "text-anchor": "end" }, format(t)));
  }
  for (const t of xTicks) {
    grid.append(svg("text", { x: sx(t), y: H - M.bottom + 16, "text-anchor": "middle" }, String(t)));
  }
  grid.append(svg("text", { x: W - M.right, y: H - 4, "text-anchor": "end" }, "iteration"));
  grid.append(svg("line", { class: "chart-axis", x1: M.left, x2: W - M.right, y1: sy(yMin), y2: sy(yMin) }));
  root.append(grid);
  if (!ys.length) {
    root.append(
      svg(
        "text",
        { class: "chart-empty", x: W / 2, y: H / 2, "text-anchor": "middle" },
        "Waiting for the first values…",
      ),
    );
  }
  series.forEach((s, i) => {
    const group = svg("g", { class: `chart-series ${s.cls}` });
    // Iterations without a value (e.g. between validations) are bridged, not broken.
    const finite = s.points.filter((p) => Number.isFinite(p.y));
    const d = finite.map((p, k) => `${k ? "L" : "M"}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join("");
    if (d) group.append(svg("path", { d }));
    for (const p of finite) {
      if (!(s.dots || p.best || finite.length < 30)) continue;
      const dot = svg("circle", { cx: sx(p.x), cy: sy(p.y), r: p.best ? 5 : 2.8, class: p.best ? "best" : null });
      dot.append(
        svg(
          "title",
          {},
          `${s.name} at iteration ${p.x}: ${format(p.y)}${p.best ? " (best so far: the kept model)" : ""}`,
        ),
      );
      group.append(dot);
    }
    root.append(group);
    const lx = M.left + 8 + i * 120;
    root.append(
      svg(
        "g",
        { class: `chart-legend ${s.cls}` },
        svg("line", { x1: lx, x2: lx + 18, y1: 12, y2: 12 }),
        svg("text", { x: lx + 24, y: 16 }, s.name),
      ),
    );
  });
  return root;
}

/** The loss chart (train and val) and the val mean IoU chart of a training history. */
export function trainingCharts(history, total) {
  const xMax = total || Math.max(1, ...history.map((h) => h.iteration));
  // The ring marks the best validation so far: the iteration whose model is kept.
  const best = history.filter((h) => h.is_best).pop()?.iteration;
  const at = (key) =>
    history.map((h) => ({ x: h.iteration, y: h[key] ?? NaN, best: key === "val_miou" && h.iteration === best }));
  const loss = lineChart({
    label: "Train and validation loss over iterations",
    series: [
      { name: "train loss", cls: "curve-train", points: at("train_loss") },
      { name: "val loss", cls: "curve-val", points: at("val_loss"), dots: true },
    ],
    xMax,
    testid: "chart-loss-svg",
  });
  const miou = lineChart({
    label: "Validation mean IoU over iterations (the best so far is ringed)",
    series: [{ name: "val mean IoU", cls: "curve-miou", points: at("val_miou"), dots: true }],
    xMax,
    yMax: 1,
    testid: "chart-miou-svg",
  });
  return { loss, miou };
}

/**
 * A player for the training timeline: [{iteration, urls}] shown step by step.
 * Play/pause, previous/next and a range slider to scrub; returns {node, show(i), stop()}.
 */
export function timelinePlayer(steps, { total, interval = 700 } = {}) {
  const stage = el("div", { class: "overlay-grid", testid: "timeline-stage" });
  const slider = el("input", {
    type: "range",
    min: 0,
    max: Math.max(0, steps.length - 1),
    step: 1,
    value: 0,
    testid: "timeline-slider",
    "aria-label": "Timeline position",
  });
  const play = el("button", { type: "button", class: "btn small primary", testid: "timeline-play" }, "Play");
  const prev = el(
    "button",
    { type: "button", class: "btn small", testid: "timeline-prev", "aria-label": "Previous iteration" },
    "‹",
  );
  const next = el(
    "button",
    { type: "button", class: "btn small", testid: "timeline-next", "aria-label": "Next iteration" },
    "›",
  );
  const caption = el("span", { class: "timeline-caption", testid: "timeline-iteration", "aria-live": "off" });
  const node = el(
    "div",
    { class: "timeline", testid: "timeline" },
    stage,
    el("div", { class: "timeline-controls" }, play, prev, next, slider, caption),
  );
  // Preload every step so playback does not flicker.
  const pictures = steps.map((step) =>
    step.urls.map((url, k) =>
      el("img", {
        src: url,
        alt: `Validation overlay ${k + 1} after iteration ${step.iteration}`,
        testid: "timeline-image",
        decoding: "async",
      }),
    ),
  );
  let index = 0;
  let timer = null;
  function show(i) {
    if (!steps.length) return;
    index = (i + steps.length) % steps.length;
    stage.replaceChildren(...pictures[index]);
    stage.dataset.count = String(pictures[index].length);
    slider.value = String(index);
    node.dataset.step = String(index);
    const of = total ? ` / ${total}` : "";
    caption.textContent = `Iteration ${steps[index].iteration}${of} · step ${index + 1} of ${steps.length}`;
  }
  function stop() {
    clearInterval(timer);
    timer = null;
    play.textContent = "Play";
    node.dataset.playing = "false";
  }
  function start() {
    if (index === steps.length - 1) show(0);
    timer = setInterval(() => (index === steps.length - 1 ? stop() : show(index + 1)), interval);
    play.textContent = "Pause";
    node.dataset.playing = "true";
  }
  play.addEventListener("click", () => (timer ? stop() : start()));
  prev.addEventListener("click", () => (stop(), show(index - 1)));
  next.addEventListener("click", () => (stop(), show(index + 1)));
  slider.addEventListener("input", () => (stop(), show(Number(slider.value))));
  if (steps.length < 2) for (const b of [play, prev, next, slider]) b.disabled = true;
  show(0);
  stop();
  return { node, show, stop };
}
