// The frame grid: thumbnails with split / label badges, filters, counts, per-frame split override.
import { getJSON, patchJSON, withQuery } from "./api.js";
import { byTestId, el, formatDuration, showMessage, toast } from "./dom.js";
import { confirmDelete } from "./removal.js";
import { createAssignments } from "./review-grid.js";

const SPLITS = ["train", "val", "test", "none"];
const LABELS = ["unlabeled", "in_progress", "done", "changes_requested", "reviewed"];
const LABEL_NAMES = {
  unlabeled: "unlabeled",
  in_progress: "in progress",
  done: "done",
  changes_requested: "changes requested",
  reviewed: "reviewed",
};
const FINISHED = new Set(["done", "reviewed"]);
const PAGE = 240;

/**
 * createFrameGrid(root, projectId, {sourceName, onFrames})
 * root: the frames section. sourceName(frame) names a frame's video; onFrames(all) gets every
 * frame of the project after each refresh (for per-video counts).
 */
export function createFrameGrid(root, projectId, { sourceName = () => "", onFrames = () => {} } = {}) {
  const grid = byTestId("frame-grid", root);
  const empty = byTestId("frame-empty", root);
  const total = byTestId("frame-total", root);
  const more = byTestId("frame-more", root);
  const errorBox = byTestId("frame-error", root);
  const reset = byTestId("filter-reset", root);
  const filters = {
    split: byTestId("filter-split", root),
    label_status: byTestId("filter-label", root),
    video_id: byTestId("filter-video", root),
    assignee: byTestId("filter-assignee", root),
    draft: byTestId("filter-draft", root),
  };
  const sort = byTestId("frame-sort", root);
  if (new URLSearchParams(location.search).get("sort") === "suggested") sort.value = "suggested";
  let ranks = new Map();
  const review = createAssignments(root, projectId, { onAssigned: () => refresh() });
  const me = Number(document.getElementById("main").dataset.userId);
  const cards = new Map();
  let limit = PAGE;
  let running = null;
  let again = false;

  const filterValues = () => Object.fromEntries(Object.entries(filters).map(([k, s]) => [k, s.value]));
  const filtered = () => Object.values(filterValues()).some(Boolean);

  for (const select of Object.values(filters)) {
    select.addEventListener("change", () => {
      limit = PAGE;
      refresh();
    });
  }
  sort.addEventListener("change", () => {
    const url = new URL(location.href);
    if (sort.value) url.searchParams.set("sort", sort.value);
    else url.searchParams.delete("sort");
    history.replaceState(null, "", url);
    refresh();
  });
  reset.addEventListener("click", () =>
    setFilters({ split: "", label_status: "", video_id: "", assignee: "", draft: "" }),
  );
  more.addEventListener("click", () => {
    limit += PAGE;
    refresh();
  });

  function setFilters(values) {
    for (const [key, value] of Object.entries(values)) {
      if (key in filters) filters[key].value = String(value ?? "");
    }
    limit = PAGE;
    refresh();
  }

  /** Re-reads frames (all of them for the counts, the filtered list for the grid); coalesces calls. */
  async function refresh() {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        try {
          await review.ready;
          const all = await getJSON(`/api/projects/${projectId}/frames`);
          let shown = filtered()
            ? await getJSON(withQuery(`/api/projects/${projectId}/frames`, filterValues()))
            : all;
          ranks = sort.value === "suggested" ? await suggestedRanks() : new Map();
          if (ranks.size) shown = bySuggestion(shown);
          showMessage(errorBox, "");
          renderCounts(all);
          renderGrid(shown, all.length);
          onFrames(all);
        } catch (error) {
          showMessage(errorBox, `Could not load frames: ${error.message}`);
        }
      } while (again);
    })();
    try {
      await running;
    } finally {
      running = null;
    }
  }

  /** Frame id -> rank in the newest suggestion ranking (frames labeled since left out). */
  async function suggestedRanks() {
    const ranking = await getJSON(`/api/projects/${projectId}/suggestions`);
    return new Map(ranking.frames.filter((f) => !f.stale).map((f) => [f.frame_id, f]));
  }

  /** Ranked frames first in rank order, then every other frame in grid order. */
  function bySuggestion(frames) {
    const ranked = frames.filter((f) => ranks.has(f.id)).sort((a, b) => ranks.get(a.id).rank - ranks.get(b.id).rank);
    return [...ranked, ...frames.filter((f) => !ranks.has(f.id))];
  }

  function countChip(group, key, label, count, active, onClick, extra = null) {
    return el(
      "button",
      {
        type: "button",
        class: `count-chip ${group}-${key}`,
        testid: `count-${group}-${key}`,
        dataset: { count },
        "aria-pressed": active ? "true" : "false",
        title: `Show only ${label}`,
        onclick: onClick,
      },
      el("span", { class: "count-label" }, label),
      el("strong", { class: "count-value" }, String(count)),
      ...(extra ? [el("span", { class: "count-extra", testid: `count-${group}-${key}-done` }, extra)] : []),
    );
  }

  function renderCounts(all) {
    const bySplit = Object.fromEntries(SPLITS.map((s) => [s, 0]));
    const byLabel = Object.fromEntries(LABELS.map((s) => [s, 0]));
    const doneBySplit = Object.fromEntries(SPLITS.map((s) => [s, 0]));
    for (const frame of all) {
      bySplit[frame.split || "none"] += 1;
      if (FINISHED.has(frame.label_status)) doneBySplit[frame.split || "none"] += 1;
      byLabel[frame.label_status] = (byLabel[frame.label_status] || 0) + 1;
    }
    const { split, label_status: label, assignee, draft } = filterValues();
    const toggle = (key, value, current) => () => setFilters({ [key]: current === value ? "" : value });
    byTestId("split-counts", root).replaceChildren(
      ...SPLITS.map((s) =>
        countChip("split", s, s, bySplit[s], split === s, toggle("split", s, split), `${doneBySplit[s]} done`),
      ),
    );
    byTestId("label-counts", root).replaceChildren(
      ...LABELS.map((s) =>
        countChip("label", s, LABEL_NAMES[s], byLabel[s], label === s, toggle("label_status", s, label)),
      ),
      countChip("review", "draft", "model drafts", all.filter((f) => f.draft).length, draft === "true",
        toggle("draft", "true", draft)),
      countChip("review", "mine", "my frames", all.filter((f) => f.assignee_id === me).length, assignee === "me",
        toggle("assignee", "me", assignee)),
    );
  }

  function renderGrid(frames, allCount) {
    const visible = frames.slice(0, limit);
    const keep = new Set(visible.map((f) => f.id));
    for (const [id, card] of cards) {
      if (!keep.has(id)) {
        card.node.remove();
        card.drop();
        cards.delete(id);
      }
    }
    visible.forEach((frame, position) => {
      let card = cards.get(frame.id);
      if (!card) {
        card = frameCard(frame);
        cards.set(frame.id, card);
      }
      card.update(frame);
      if (grid.children[position] !== card.node) grid.insertBefore(card.node, grid.children[position] || null);
    });
    more.hidden = frames.length <= limit;
    more.textContent = `Show more (${frames.length - visible.length} hidden)`;
    reset.hidden = !filtered();
    total.textContent = filtered()
      ? `${frames.length} of ${allCount} frames match`
      : `${allCount} frame${allCount === 1 ? "" : "s"}`;
    if (!allCount) showMessage(empty, "No frames yet. Sample a video or add images to fill the grid.");
    else showMessage(empty, frames.length ? "" : "No frames match these filters.");
  }

  function frameCard(frame) {
    const img = el("img", {
      src: `/api/frames/${frame.id}/thumbnail`,
      loading: "lazy",
      decoding: "async",
      alt: "",
      width: frame.width,
      height: frame.height,
    });
    img.addEventListener("error", () => img.closest(".frame-thumb")?.classList.add("broken"), { once: true });
    const maskImg = el("img", { class: "frame-mask-thumb", testid: "frame-mask-thumb", loading: "lazy", decoding: "async", alt: "", hidden: true });
    const splitBadge = el("span", { class: "badge", testid: "frame-split" });
    const labelBadge = el("span", { class: "badge", testid: "frame-label" });
    const marks = review.marks(frame);
    const suggested = el("span", { class: "badge suggested", testid: "frame-suggested", hidden: true });
    const time = el("span", { class: "frame-time", testid: "frame-time" });
    const sourceName_ = el("span", { class: "frame-source-name" });
    const sourceIndex = el("span", { class: "frame-source-index" });
    const source = el("span", { class: "frame-source" }, sourceName_, sourceIndex);
    const select = el(
      "select",
      {
        class: "split-select",
        testid: "frame-split-select",
        "aria-label": `Set the split of frame ${frame.id}`,
        title: "Set the split by hand (none: leave it to automatic splits)",
      },
      ...SPLITS.map((s) => el("option", { value: s }, s)),
    );
    const remove = el("button", {
      type: "button",
      class: "btn small danger frame-delete owner-only",
      testid: "frame-delete",
      title: "Delete this frame and its masks…",
      "aria-label": `Delete frame ${frame.id}`,
      onclick: async () => {
        if (await confirmDelete(`frame ${current.id} (${sourceName(current)})`, `/api/frames/${current.id}`)) refresh();
      },
    }, "✕");
    const node = el(
      "article",
      { class: "frame-card", testid: "frame-card", dataset: { frameId: frame.id } },
      el(
        "a",
        { class: "frame-thumb", href: `/frames/${frame.id}`, "aria-label": `Open frame ${frame.id}` },
        img,
        maskImg,
        time,
      ),
      el("div", { class: "frame-meta" }, marks.pick, splitBadge, labelBadge, suggested, marks.draft, marks.assignee),
      el("div", { class: "frame-foot" }, source, select, remove),
    );
    let current = frame;
    select.addEventListener("change", async () => {
      select.disabled = true;
      try {
        current = await patchJSON(`/api/frames/${current.id}`, { split: select.value });
        update(current);
        refresh();
      } catch (error) {
        select.value = current.split || "none";
        toast(`Could not change the split: ${error.message}`, "error");
      } finally {
        select.disabled = false;
      }
    });

    function update(next) {
      current = next;
      const split = next.split || "none";
      node.dataset.split = split;
      node.dataset.labelStatus = next.label_status;
      splitBadge.className = `badge split-${split}`;
      splitBadge.textContent = next.split_locked ? `${split} · manual` : split;
      splitBadge.title = next.split_locked ? "Set by hand; automatic splits keep it" : "Assigned automatically";
      labelBadge.className = `badge label-${next.label_status}`;
      labelBadge.textContent = LABEL_NAMES[next.label_status] || next.label_status;
      time.textContent = next.timestamp_s === null ? "image" : formatDuration(next.timestamp_s, 2);
      const name = sourceName(next);
      sourceName_.textContent = name;
      sourceIndex.textContent = next.index === null ? "" : `#${next.index}`;
      source.title = next.index === null ? name : `${name}, frame ${next.index}`;
      if (document.activeElement !== select) select.value = split;
      marks.update(next);
      const rank = ranks.get(next.id);
      suggested.hidden = !rank;
      if (rank) {
        suggested.textContent = `suggested #${rank.rank}`;
        suggested.title = `Score ${rank.score.toFixed(3)} (uncertainty ${rank.uncertainty.toFixed(3)}, rare-class weight ${rank.rare_weight.toFixed(2)}): ${rank.reason}`;
      }
      // The mask preview is cached per version: a new version is a new URL.
      maskImg.hidden = !next.mask_version;
      const maskSrc = `/api/frames/${next.id}/mask/thumbnail?v=${next.mask_version}`;
      if (next.mask_version && maskImg.getAttribute("src") !== maskSrc) maskImg.src = maskSrc;
    }
    return { node, update, drop: marks.drop };
  }

  return { refresh, setFilters };
}
