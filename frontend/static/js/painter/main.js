// The mask painter page: loads the frame and its mask, wires tools, saving and navigation,
// and exposes `window.segtunePainter` for tests and benchmarks.

import { patchJSON } from "../api.js";
import { toast } from "../dom.js";
import { Painter } from "./controller.js";
import { bindPaintOver } from "./guard.js";
import { History } from "./history.js";
import { bindInput } from "./input.js";
import { LabelMap, UNLABELED } from "./labelmap.js";
import { bindNavigation } from "./navigate.js";
import { Panel, byId } from "./panel.js";
import { Propagation } from "./propagate.js";
import { Review } from "./review.js";
import { bindSuperpixels } from "./superpixels.js";
import { Sync, fetchMask } from "./sync.js";
import { VersionPanel } from "./versions.js";
import { View } from "./view.js";

const { frame, project, neighbours, place } = JSON.parse(document.getElementById("painter-data").textContent);
const classes = project.classes;
const perf = { enabled: false, samples: [] };
const fail = (error) => toast(error.message, "error", 6000);

let resolveReady;
let rejectReady;
const ready = new Promise((resolve, reject) => {
  resolveReady = resolve;
  rejectReady = reject;
});
ready.catch(() => {}); // shown on the page; tests await it themselves
const hook = { ready, width: frame.width, height: frame.height, perf };
window.segtunePainter = hook;

function waitForImage(img) {
  if (img.complete && img.naturalWidth) return img.decode().catch(() => {});
  return new Promise((resolve, reject) => {
    img.addEventListener("load", resolve, { once: true });
    img.addEventListener("error", () => reject(new Error("The frame image could not be loaded.")), { once: true });
  });
}

async function loadMask() {
  try {
    return await fetchMask(frame.id);
  } catch (error) {
    if (error.status !== 404) throw error;
    // The server has no mask for this frame: start from the project's initial mask.
    const bg = classes.find((c) => c.name.toLowerCase() === "background")?.index ?? 0;
    const fill = project.initial_mask === "background" ? bg : UNLABELED;
    const data = new Uint8Array(frame.width * frame.height).fill(fill);
    return { width: frame.width, height: frame.height, data, version: "0" };
  }
}

async function boot() {
  const [mask] = await Promise.all([loadMask(), waitForImage(byId("frame-image"))]);
  if (mask.width !== frame.width || mask.height !== frame.height) {
    throw new Error(`The mask is ${mask.width}×${mask.height} but the frame is ${frame.width}×${frame.height}.`);
  }
  const panel = new Panel({ frame, classes });
  const labelMap = new LabelMap(frame.width, frame.height, mask.data);
  const viewport = byId("viewport");
  let painter = null;
  let versions = null;
  const view = new View({
    viewport,
    stage: byId("stage"),
    overlay: byId("overlay"),
    hud: viewport.querySelector(".pt-hud"),
    labelMap,
    classes,
    onChange: (v) => {
      panel.showZoom(v.zoom);
      painter?.queueHud?.();
    },
  });
  const history = new History(labelMap);
  const localShares = () => {
    const counts = labelMap.histogram();
    panel.showShares((i) => counts[i]);
  };
  // Every finished edit (a stroke, a fill, "copy previous", undo) recounts once per frame drawn,
  // so the shares never wait for the autosave's answer.
  let sharesQueued = false;
  const queueShares = () => {
    if (sharesQueued) return;
    sharesQueued = true;
    requestAnimationFrame(() => {
      sharesQueued = false;
      localShares();
    });
  };
  const sync = new Sync({
    frameId: frame.id,
    labelMap,
    version: mask.version,
    classIdsVersion: project.class_ids_version,
    onState: (state) => panel.setSaveState(state),
    onSaved(result) {
      if (frame.label_status === "unlabeled") panel.setLabelStatus("in_progress");
      if (result?.class_pixel_counts) panel.showShares((i) => result.class_pixel_counts[String(i)] || 0);
      review.saved(result.version);
      versions?.refresh();
    },
    onConflict: (current) => panel.describeConflict(current, sync.version),
    onError: (message) => toast(message, "error", 6000),
  });
  const review = new Review({
    root: byId("review-area"),
    frame,
    projectId: project.id,
    sync,
    setStatus: (status) => panel.setLabelStatus(status),
  });
  painter = new Painter({
    labelMap,
    view,
    history,
    sync,
    classes,
    onChange: (what) => {
      panel.render(painter, history);
      painter.queueHud?.();
      if (what === "history") queueShares();
    },
  });

  const save = async () => {
    if (sync.state === "conflict") {
      panel.flashConflict();
      return false;
    }
    return sync.save();
  };
  const go = async (id) => {
    if (id === null || id === undefined) return;
    if (sync.dirty) await save(); // if that fails, beforeunload asks before leaving
    window.location.assign(`/frames/${id}`);
  };
  window.addEventListener("beforeunload", (e) => {
    if (sync.state === "saved" && !sync.dirty) return;
    e.preventDefault();
    e.returnValue = "";
  });

  const on = (id, handler) => byId(id).addEventListener("click", handler);
  on("save-button", save);
  on("prev-frame", () => go(neighbours.previous));
  on("next-frame", () => go(neighbours.next));
  on("undo", () => painter.undo());
  on("redo", () => painter.redo());
  on("fill-unlabeled", () => painter.fillUnlabeled() || toast("Nothing is unlabeled."));
  on("copy-previous", async () => {
    try {
      const changed = await painter.copyFrom(neighbours.previous);
      if (changed) toast("Copied the previous frame's mask (Ctrl+Z undoes it).", "success");
      else toast("The previous frame's mask is the same as this one.");
    } catch (error) {
      fail(error);
    }
  });
  on("mark-done", async () => {
    const next = frame.label_status === "done" ? "in_progress" : "done";
    try {
      if (next === "done" && !(await save())) {
        toast("Save the mask first (resolve the conflict if there is one).", "error");
        return;
      }
      const updated = await patchJSON(`/api/frames/${frame.id}`, { label_status: next });
      panel.setLabelStatus(updated.label_status);
      review.statusChanged(updated);
      toast(next === "done" ? "Frame marked done." : "Frame reopened.", "success");
    } catch (error) {
      fail(error);
    }
  });
  on("conflict-reload", async () => {
    try {
      await sync.reload();
      painter.resetHistory();
      localShares();
      toast("Loaded the saved mask.", "success");
    } catch (error) {
      fail(error);
    }
  });
  on("conflict-overwrite", async () => {
    try {
      if (await sync.overwrite()) toast("Your mask was saved over the other version.", "success");
    } catch (error) {
      fail(error);
    }
  });
  on("zoom-in", () => view.zoomCentre(view.step(1)));
  on("zoom-out", () => view.zoomCentre(view.step(-1)));
  on("zoom-fit", () => view.fit());
  on("zoom-100", () => view.zoomCentre(1));

  panel.bindPalette(painter);
  const toggleOverlay = panel.bindOverlay(view);
  bindInput({
    painter,
    view,
    viewport,
    perf,
    actions: {
      save,
      prev: () => go(neighbours.previous),
      next: () => go(neighbours.next),
      toggleOverlay,
      fit: () => view.fit(),
      zoomStep: (direction) => view.zoomCentre(view.step(direction)),
      onHover: (hover) => panel.showCursor(hover, labelMap),
    },
  });

  bindPaintOver(painter);
  const superpixels = bindSuperpixels({ painter, frame, view });
  bindNavigation({ frame, place, save, go, panel });
  versions = new VersionPanel({
    frameId: frame.id,
    view,
    sync,
    save,
    async onRestored() {
      await sync.reload();
      painter.resetHistory();
      localShares();
      if (frame.label_status === "unlabeled") panel.setLabelStatus("in_progress");
    },
  });

  const propagation = new Propagation({ root: byId("propagate-panel"), frame, projectId: project.id, save });

  view.redrawAll();
  view.fit();
  panel.render(painter, history);
  panel.setLabelStatus(frame.label_status);
  panel.setSaveState("saved");
  localShares();
  await review.load().catch(fail);
  byId("painter-loading").hidden = true;

  Object.assign(hook, {
    labelMap: () => labelMap.data,
    labelMapBase64() {
      let text = "";
      for (let i = 0; i < labelMap.data.length; i += 0x8000) {
        text += String.fromCharCode(...labelMap.data.subarray(i, i + 0x8000));
      }
      return btoa(text);
    },
    version: () => sync.version,
    state: () => sync.state,
    view() {
      view.measure();
      return { zoom: view.zoom, panX: view.panX, panY: view.panY, left: view.rect.left, top: view.rect.top };
    },
    setView(v) {
      view.measure();
      view.setView(v);
    },
    save,
    redrawAll: () => view.redrawAll(),
    painter,
    history,
    versions,
    superpixels,
    propagation,
  });
}

boot().then(
  () => resolveReady(hook),
  (error) => {
    const loading = byId("painter-loading");
    loading.textContent = error.message;
    loading.classList.add("error");
    rejectReady(error);
  },
);
