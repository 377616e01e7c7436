// Moving on through the project from the painter: "Done & next", next unlabeled frame, next
// model draft, and jump to frame N (the position in the project's grid order).

import { getJSON, patchJSON } from "../api.js";
import { toast } from "../dom.js";
import { typing } from "./input.js";
import { byId } from "./panel.js";

// Statuses that need no more labeling ("reviewed" comes with a review step).
const FINISHED = ["done", "reviewed"];

/**
 * frame: the page's frame (label_status kept current by the panel); place: {position, total};
 * save(): saves now, true when the server has the map; go(id): opens another frame;
 * panel: the Panel (label status badge).
 */
export function bindNavigation({ frame, place, save, go, panel }) {
  let busy = false;
  const once = (fn) => async (...args) => {
    if (busy) return;
    busy = true;
    try {
      await fn(...args);
    } catch (error) {
      toast(error.message, "error", 6000);
    } finally {
      busy = false;
    }
  };

  async function nextOf(kind, none) {
    const found = await getJSON(`/api/frames/${frame.id}/next?kind=${kind}`);
    if (found.frame_id === null) toast(none);
    else await go(found.frame_id);
  }

  const doneAndNext = once(async () => {
    if (!(await save())) {
      toast("Save the mask first (resolve the conflict if there is one).", "error");
      return;
    }
    if (!FINISHED.includes(frame.label_status)) {
      const updated = await patchJSON(`/api/frames/${frame.id}`, { label_status: "done" });
      panel.setLabelStatus(updated.label_status);
    }
    await nextOf("open", "Frame done. Every frame of this project is done now.");
  });
  const nextUnlabeled = once(() => nextOf("unlabeled", "No other frame is unlabeled."));
  // The ranking's next frame after this one (its first if this one is not in it), skipping
  // frames labeled since the ranking was made.
  const nextSuggested = once(async () => {
    const ranking = await getJSON(`/api/projects/${frame.project_id}/suggestions`);
    const frames = ranking.frames;
    const here = frames.findIndex((f) => f.frame_id === frame.id);
    const found = frames.slice(here + 1).find((f) => !f.stale);
    if (found) await go(found.frame_id);
    else if (!ranking.job_id) toast("No suggestions yet: run “Suggest frames to label next” after a fine-tune.");
    else toast("No other suggested frame is left unlabeled.");
  });
  const nextDraft = once(() => nextOf("draft", "No other frame holds a model draft to check."));

  const input = byId("jump-input");
  const jump = once(async () => {
    const position = Number(input.value);
    if (!Number.isInteger(position) || position < 1 || position > place.total) {
      toast(`Give a frame number from 1 to ${place.total}.`, "error");
      return;
    }
    if (position === place.position) return;
    const found = await getJSON(`/api/projects/${frame.project_id}/frame-at?position=${position}`);
    await go(found.frame_id);
  });

  byId("done-next").addEventListener("click", doneAndNext);
  byId("next-unlabeled").addEventListener("click", nextUnlabeled);
  byId("next-draft").addEventListener("click", nextDraft);
  byId("next-suggested").addEventListener("click", nextSuggested);
  byId("jump-form").addEventListener("submit", (e) => {
    e.preventDefault();
    jump();
  });
  input.addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    input.value = String(place.position);
    input.blur();
  });
  document.addEventListener("keydown", (e) => {
    if (typing(e.target) || e.altKey) return;
    const mod = e.ctrlKey || e.metaKey;
    const key = e.key.toLowerCase();
    if (mod && key === "enter") doneAndNext();
    else if (mod) return;
    else if (key === "n") (e.shiftKey ? nextDraft : nextUnlabeled)();
    else if (key === "m" && !e.shiftKey) nextSuggested();
    else if (key === "j") {
      input.focus();
      input.select();
    } else return;
    e.preventDefault();
  });
  return { doneAndNext, nextUnlabeled, nextDraft, nextSuggested };
}
