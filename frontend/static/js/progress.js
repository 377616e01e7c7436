// Labeling progress on a project card: done / labeled / frames, a bar, per split, last activity.
import { el } from "./dom.js";

const SPLITS = ["train", "val", "test", "none"];

function ago(iso) {
  if (!iso) return "no activity yet";
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 60) return "active just now";
  if (s < 3600) return `active ${Math.round(s / 60)} min ago`;
  if (s < 86400) return `active ${Math.round(s / 3600)} h ago`;
  return `active ${new Date(iso).toLocaleDateString([], { dateStyle: "medium" })}`;
}

/** The progress block for one project's stats (GET /api/project-progress). */
export function progressView(stats) {
  const share = (n) => (stats.frames ? (100 * n) / stats.frames : 0);
  const done = el("span", { class: "progress-done" });
  const labeled = el("span", { class: "progress-labeled" });
  done.style.width = `${share(stats.done)}%`; // CSSOM, not a style attribute: the CSP allows it
  labeled.style.width = `${share(stats.labeled - stats.done)}%`;
  const label = `${stats.done} done and ${stats.labeled - stats.done} more labeled of ${stats.frames} frames`;
  const bar = el("span", { class: "progress-stack", role: "img", "aria-label": label, title: label }, done, labeled);
  const splits = SPLITS.filter((s) => stats.splits[s]?.frames).map((s) => {
    const c = stats.splits[s];
    return el(
      "span",
      { class: `progress-split split-${s}`, testid: `progress-${s}`, title: `${s}: ${c.labeled} labeled, ${c.done} done of ${c.frames}` },
      `${s} ${c.done}/${c.frames}`,
    );
  });
  return el(
    "span",
    { class: "project-progress", testid: "project-progress" },
    el(
      "span",
      { class: "progress-line", testid: "progress-summary" },
      stats.frames
        ? `${stats.frames} frame${stats.frames === 1 ? "" : "s"} · ${stats.labeled} labeled · ${stats.done} done`
        : "No frames yet",
    ),
    stats.frames ? bar : null,
    splits.length ? el("span", { class: "progress-splits" }, ...splits) : null,
    el("span", { class: "muted small", testid: "progress-activity" }, ago(stats.last_activity)),
  );
}
