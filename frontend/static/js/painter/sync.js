// Loading and saving the mask with optimistic concurrency (ETag / If-Match), autosave and
// the visible save state: "saved", "unsaved", "saving" or "conflict".

import { csrfHeaders } from "../api.js";
import { decodeGrayPNG, encodeGrayPNG } from "./png.js";

export const AUTOSAVE_MS = 1000;
const RETRY_MS = 5000;

/** `"12"` or `W/"12"` → "12". */
export function parseETag(header) {
  if (!header) return null;
  return header.replace(/^W\//, "").replace(/^"|"$/g, "");
}

async function errorDetail(response) {
  try {
    const body = await response.json();
    if (typeof body?.detail === "string") return body.detail;
    if (Array.isArray(body?.detail)) return body.detail.map((d) => d.msg).join("; ");
  } catch {
    /* not JSON */
  }
  return `HTTP ${response.status}`;
}

/** GET a frame's mask: {width, height, data, version}. */
export async function fetchMask(frameId) {
  const response = await fetch(`/api/frames/${frameId}/mask`, { cache: "no-store" });
  if (!response.ok) {
    const error = new Error(`Could not load the mask: ${await errorDetail(response)}`);
    error.status = response.status;
    throw error;
  }
  const version = parseETag(response.headers.get("ETag")) ?? "0";
  const png = await decodeGrayPNG(await response.arrayBuffer());
  return { ...png, version };
}

/** Only the current version (ETag) of a frame's mask; the body is not read. */
export async function fetchVersion(frameId) {
  const response = await fetch(`/api/frames/${frameId}/mask`, { cache: "no-store" });
  if (!response.ok) throw new Error(`Could not read the mask version: ${await errorDetail(response)}`);
  response.body?.cancel();
  return parseETag(response.headers.get("ETag")) ?? "0";
}

export class Sync {
  /**
   * labelMap: the LabelMap; version: the loaded ETag; classIdsVersion: the project's
   * class_ids_version the page was loaded with (sent with each save); onState(state); onSaved(result);
   * onConflict(currentVersion); onError(message).
   */
  constructor({ frameId, labelMap, version, classIdsVersion, onState, onSaved, onConflict, onError }) {
    Object.assign(this, { frameId, labelMap, classIdsVersion, onState, onSaved, onConflict, onError });
    this.version = String(version);
    this.state = "saved";
    this.edits = 0; // bumped on every change
    this.savedEdits = 0; // `edits` as of the last successful save
    this.timer = null;
    this.inflight = null;
    this.hold = false; // true while a stroke is being drawn
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.onState?.(state);
  }

  get dirty() {
    return this.edits !== this.savedEdits;
  }

  /** Something changed; `settled` = the edit is finished (a stroke ended), so autosave may run. */
  touch(settled = true) {
    this.edits++;
    if (this.state !== "conflict" && this.state !== "saving") this.setState("unsaved");
    if (settled) this.schedule();
    else clearTimeout(this.timer);
  }

  schedule(ms = AUTOSAVE_MS) {
    clearTimeout(this.timer);
    if (this.state === "conflict") return;
    this.timer = setTimeout(() => (this.hold ? this.schedule(ms) : this.save()), ms);
  }

  /** Saves now if anything is unsaved; resolves true once the server has the current map. */
  async save() {
    clearTimeout(this.timer);
    if (this.state === "conflict") return false;
    if (this.inflight) {
      await this.inflight;
      return this.save();
    }
    if (!this.dirty) {
      this.setState("saved");
      return true;
    }
    this.inflight = this.put().finally(() => {
      this.inflight = null;
    });
    const ok = await this.inflight;
    if (ok && this.dirty) return this.save(); // edited while saving
    return ok;
  }

  async put() {
    const edits = this.edits;
    const { width, height, data } = this.labelMap;
    this.setState("saving");
    let response;
    let result = null;
    try {
      const body = await encodeGrayPNG(data.slice(), width, height);
      response = await fetch(`/api/frames/${this.frameId}/mask`, {
        method: "PUT",
        headers: csrfHeaders({
          "Content-Type": "image/png",
          "If-Match": `"${this.version}"`,
          // After a class reorder, removal or merge the server refuses strokes in the old ids.
          ...(this.classIdsVersion === undefined ? {} : { "X-Class-Ids-Version": String(this.classIdsVersion) }),
          Accept: "application/json",
        }),
        body,
      });
      if (response.ok) result = await response.json();
    } catch (error) {
      this.setState("unsaved");
      this.onError?.(`Saving failed (${error.message}); retrying shortly.`);
      this.schedule(RETRY_MS);
      return false;
    }
    if (result) {
      this.version = String(result.version);
      this.savedEdits = edits;
      this.setState(this.dirty ? "unsaved" : "saved");
      if (this.dirty) this.schedule();
      this.onSaved?.(result);
      return true;
    }
    if (response.status === 409) {
      let current = null;
      try {
        current = (await response.json()).current_version ?? null;
      } catch {
        /* keep null */
      }
      this.setState("conflict");
      this.onConflict?.(current);
      return false;
    }
    this.setState("unsaved");
    this.onError?.(`The server refused the mask: ${await errorDetail(response)}`);
    return false;
  }

  /** Conflict resolution 1: take the server's mask (local changes are dropped). */
  async reload() {
    const mask = await fetchMask(this.frameId);
    const { width, height } = this.labelMap;
    if (mask.width !== width || mask.height !== height) throw new Error("The server's mask has a different size.");
    this.labelMap.data.set(mask.data);
    this.version = mask.version;
    this.savedEdits = this.edits;
    this.setState("saved");
    return mask;
  }

  /** Conflict resolution 2: adopt the server's current version and save ours over it. */
  async overwrite() {
    this.version = await fetchVersion(this.frameId);
    this.setState("unsaved");
    this.edits++; // make sure the save below really runs
    return this.save();
  }
}
