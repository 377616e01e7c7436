// Small DOM helpers. Text always goes in through textContent / text nodes, never as HTML.

/**
 * el("a", {href, class, text, testid, dataset, onclick}, ...children)
 * Strings among children become text nodes; null/false children are skipped.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "testid") node.dataset.testid = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const byTestId = (id, root = document) => root.querySelector(`[data-testid="${id}"]`);

/** Shows a message in an element (or hides it when the message is empty). */
export function showMessage(node, message) {
  node.textContent = message || "";
  node.hidden = !message;
}

/** A progress bar element: a div[role=progressbar] with a fill; update it with setProgress. */
export function progressBar(testid, label = "Progress") {
  return el(
    "div",
    {
      class: "progress",
      role: "progressbar",
      "aria-label": label,
      "aria-valuemin": 0,
      "aria-valuemax": 100,
      "aria-valuenow": 0,
      testid,
    },
    el("div", { class: "progress-fill" }),
  );
}

/** Sets a progress bar to a fraction 0..1 (null: indeterminate). */
export function setProgress(bar, fraction) {
  const fill = bar.querySelector(".progress-fill");
  if (fraction === null || fraction === undefined || Number.isNaN(fraction)) {
    bar.classList.add("indeterminate");
    bar.removeAttribute("aria-valuenow");
    fill.style.width = "";
    return;
  }
  const percent = Math.round(Math.min(1, Math.max(0, fraction)) * 100);
  bar.classList.remove("indeterminate");
  bar.setAttribute("aria-valuenow", String(percent));
  fill.style.width = `${percent}%`;
}

/** A short-lived notice in the corner of the page. */
export function toast(message, kind = "info", ms = 4000) {
  const host = document.getElementById("toasts");
  if (!host) return;
  const node = el("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  host.append(node);
  setTimeout(() => node.classList.add("leaving"), ms);
  setTimeout(() => node.remove(), ms + 400);
}

export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value >= 100 || unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** Seconds as m:ss.s (or h:mm:ss for long videos). */
export function formatDuration(seconds, decimals = 1) {
  if (!Number.isFinite(seconds)) return "–";
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const secs = seconds % 60;
  const secText = secs.toFixed(hours ? 0 : decimals).padStart(hours ? 2 : decimals ? 3 + decimals : 2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${secText}` : `${minutes}:${secText}`;
}

export function formatNumber(value, digits = 2) {
  if (!Number.isFinite(value)) return "–";
  return Number(value.toFixed(digits)).toString();
}

export function formatDate(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** Calls fn at most once per `ms`, always running the last call (trailing edge). */
export function throttle(fn, ms) {
  let last = 0;
  let timer = null;
  return (...args) => {
    const wait = last + ms - Date.now();
    clearTimeout(timer);
    if (wait <= 0) {
      last = Date.now();
      fn(...args);
    } else {
      timer = setTimeout(() => {
        last = Date.now();
        fn(...args);
      }, wait);
    }
  };
}

/**
 * The submit of a dialog's form: read() gives [body, null] or [null, problem]; send(body) is the
 * request (its answer goes to done after the dialog closes). While it runs the submit button is
 * disabled (and says busyText, when given); a failure stays in the dialog's error box. Cancel
 * closes, and typing clears the error.
 */
export function dialogSubmit(dialog, { form, submit, cancel, errorBox, read, send, done, busyText }) {
  cancel.addEventListener("click", () => dialog.close());
  form.addEventListener("input", () => showMessage(errorBox, ""));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const [body, problem] = read();
    if (!body) {
      showMessage(errorBox, problem);
      return;
    }
    const label = submit.textContent;
    submit.disabled = true;
    if (busyText) submit.textContent = busyText;
    try {
      const answer = await send(body);
      dialog.close();
      done(answer);
    } catch (error) {
      showMessage(errorBox, error.message);
    } finally {
      submit.disabled = false;
      submit.textContent = label;
    }
  });
}
