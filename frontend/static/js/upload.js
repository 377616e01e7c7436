// Uploads with real progress (XMLHttpRequest), drag-and-drop, and the per-file progress list.
import { ApiError, csrfToken, describeDetail, parseJSON } from "./api.js";
import { el, formatBytes, progressBar, setProgress } from "./dom.js";

/**
 * POSTs a FormData as multipart/form-data with upload progress (XMLHttpRequest: fetch has none).
 * Returns {promise, abort}; the promise resolves to the JSON body or rejects with ApiError.
 */
export function postForm(url, form, { onProgress = () => {}, onSent = () => {} } = {}) {
  const xhr = new XMLHttpRequest();
  let aborted = false;
  const promise = new Promise((resolve, reject) => {
    xhr.open("POST", url);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total, event.loaded, event.total);
    });
    xhr.upload.addEventListener("load", () => onSent());
    xhr.addEventListener("load", () => {
      const data = parseJSON(xhr.responseText);
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(new ApiError(xhr.status, describeDetail(data?.detail, xhr.status), data));
    });
    xhr.addEventListener("error", () =>
      reject(new ApiError(0, "The upload was interrupted: the connection to the server was lost.")),
    );
    xhr.addEventListener("abort", () =>
      reject(new ApiError(0, aborted ? "Upload cancelled." : "The upload was aborted.")),
    );
    xhr.send(form);
  });
  return {
    promise,
    abort() {
      aborted = true;
      xhr.abort();
    },
  };
}

/** POSTs files under the multipart field `field`; see postForm. */
export function uploadFiles(url, field, files, options) {
  const form = new FormData();
  for (const file of files) form.append(field, file, file.name);
  return postForm(url, form, options);
}

/** Makes `zone` accept dropped files; also stops the browser opening files dropped elsewhere. */
export function setupDropZone(zone, onFiles) {
  let depth = 0;
  const hasFiles = (event) => Array.from(event.dataTransfer?.types || []).includes("Files");
  zone.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth += 1;
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  zone.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) zone.classList.remove("dragging");
  });
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    depth = 0;
    zone.classList.remove("dragging");
    const files = Array.from(event.dataTransfer?.files || []);
    if (files.length) onFiles(files);
  });
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (event) => {
      if (hasFiles(event) && !zone.contains(event.target)) event.preventDefault();
    });
  }
}

export const isImage = (file) =>
  /^image\/(jpeg|png)$/.test(file.type) || /\.(jpe?g|png)$/i.test(file.name);

/** One row in the upload list: name, size, progress bar, status line, cancel/dismiss, choices. */
export function uploadItem(list, title, bytes) {
  const bar = progressBar("upload-progress", `Upload of ${title}`);
  const status = el("span", { class: "upload-status", testid: "upload-status" }, "Starting…");
  const percent = el("span", { class: "upload-percent", testid: "upload-percent" }, "0%");
  const error = el("p", { class: "form-error", role: "alert", testid: "upload-error", hidden: true });
  const notice = el("p", { class: "problem warning", role: "status", testid: "upload-duplicate", hidden: true });
  const choices = el("div", { class: "upload-choices", hidden: true });
  const button = el("button", { type: "button", class: "icon-btn", "aria-label": "Cancel upload", title: "Cancel" }, "×");
  const node = el(
    "li",
    { class: "upload-item", testid: "upload-item", dataset: { state: "uploading" } },
    el(
      "div",
      { class: "upload-head" },
      el("span", { class: "upload-name", title }, title),
      el("span", { class: "muted small" }, formatBytes(bytes)),
      button,
    ),
    bar,
    el("div", { class: "upload-foot" }, status, percent),
    error,
    notice,
    choices,
  );
  list.prepend(node);
  let onCancel = null;
  button.addEventListener("click", () => (onCancel ? onCancel() : node.remove()));
  const finish = (state, text) => {
    node.dataset.state = state;
    status.textContent = text;
    onCancel = null;
    button.setAttribute("aria-label", "Dismiss");
    button.title = "Dismiss";
  };
  return {
    node,
    set cancel(fn) {
      onCancel = fn;
    },
    /** An identical file is already there: say so and offer choices ([label, testid, fn]...). */
    duplicate(message, actions) {
      finish("duplicate", "Duplicate");
      notice.textContent = message;
      notice.hidden = false;
      const buttons = actions.map(([label, testid, fn]) =>
        el("button", { type: "button", class: "btn small", testid, onclick: () => fn() }, label),
      );
      choices.replaceChildren(...buttons);
      choices.hidden = false;
    },
    /** Back to uploading (after a choice), with the notice and choices gone. */
    restart() {
      node.dataset.state = "uploading";
      notice.hidden = choices.hidden = true;
      button.setAttribute("aria-label", "Cancel upload");
      button.title = "Cancel";
    },
    skipped(text) {
      notice.hidden = choices.hidden = true;
      finish("skipped", text);
    },
    progress(fraction, loaded, total) {
      setProgress(bar, fraction);
      percent.textContent = `${Math.round(fraction * 100)}%`;
      status.textContent = `Uploading… ${formatBytes(loaded)} of ${formatBytes(total)}`;
    },
    processing(text = "Checking the file…") {
      setProgress(bar, 1);
      percent.textContent = "100%";
      node.dataset.state = "processing";
      status.textContent = text;
    },
    done(text) {
      setProgress(bar, 1);
      percent.textContent = "100%";
      finish("done", text);
    },
    failed(message) {
      finish("error", "Failed");
      error.textContent = message;
      error.hidden = false;
    },
  };
}
