// JSON API client: every failure becomes an ApiError whose message is the server's `detail`.

export class ApiError extends Error {
  /** `data`: the whole JSON answer, for errors that carry more than `detail` (e.g. duplicates). */
  constructor(status, message, data = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.data = data;
  }
}

const STATUS_TEXT = {
  400: "The request was not accepted",
  404: "Not found",
  409: "Conflict with the current state",
  413: "The upload is too large",
  422: "The input was not accepted",
  500: "The server hit an internal error",
  502: "The server is unreachable",
  503: "A service the server needs is unavailable",
};

/** Turns FastAPI's `detail` (a string, or a list of validation errors) into one readable line. */
export function describeDetail(detail, status) {
  if (typeof detail === "string" && detail.trim()) return detail;
  if (Array.isArray(detail) && detail.length) {
    return detail
      .map((item) => {
        const where = (item.loc || []).filter((part) => part !== "body").join(".");
        const msg = String(item.msg || "invalid value").replace(/^Value error, /, "");
        return where ? `${where}: ${msg}` : msg;
      })
      .join("; ");
  }
  const text = STATUS_TEXT[status] || "The request failed";
  return `${text} (HTTP ${status}).`;
}

/** Parses a response body as JSON when possible (null otherwise). */
export function parseJSON(text) {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

let signingOut = false;

/** Signing out: the 401s of requests still in flight must not send the user to sign in again. */
export function markSigningOut() {
  signingOut = true;
}

/** The page's CSRF token, sent as X-CSRF-Token with every request that changes data. */
export function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content || "";
}

/** Headers that let a signed-in browser change data (merged into `headers`). */
export function csrfHeaders(headers = {}) {
  return { ...headers, "X-CSRF-Token": csrfToken() };
}

/** Sends a request; resolves to the parsed JSON body (null for 204), rejects with ApiError. */
export async function api(path, { method = "GET", body, signal } = {}) {
  const init = { method, headers: csrfHeaders({ Accept: "application/json" }), signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "Cannot reach the SegTune server. Is it still running?");
  }
  if (response.status === 401 && path !== "/api/auth/login" && !signingOut) {
    // The session expired or was ended elsewhere: sign in again and come back here.
    window.location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
  }
  const data = parseJSON(await response.text());
  if (!response.ok) throw new ApiError(response.status, describeDetail(data?.detail, response.status), data);
  return data;
}

export const getJSON = (path, options) => api(path, options);
export const postJSON = (path, body = {}) => api(path, { method: "POST", body });
export const patchJSON = (path, body) => api(path, { method: "PATCH", body });

/** A path with query parameters, leaving out empty ones. */
export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(key, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}
