// Report rendering (fine-tune before/after, or a side-by-side of two models), the downloads,
// the ONNX export control, and the report page itself.
import { getJSON, postJSON } from "./api.js";
import { timelinePlayer } from "./curves.js";
import { byTestId, el, progressBar, setProgress, showMessage } from "./dom.js";
import { ACTIVE, errorSummary, jobCard, watchJob } from "./jobs-common.js";
import { mappingCard } from "./mapping.js";
import { renderWatchControl } from "./report-video.js";
import { suggestPanel } from "./suggest.js";

/**
 * Three decimals with a true minus sign ("n/a" for null), as in the downloadable report; a value
 * too small for three decimals is "<0.001" with its sign, never a signed zero like "−0.000".
 */
export function fmt(value, signed = false) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "n/a";
  if (value === 0) return "0.000";
  let magnitude = Math.abs(value).toFixed(3);
  if (magnitude === "0.000") magnitude = "<0.001";
  return (value < 0 ? "\u2212" : signed ? "+" : "") + magnitude;
}

/** A change's verdict: clear when its 95% interval excludes zero and rests on enough blocks. */
export function verdict(change, ci, compare, enoughBlocks) {
  if (change === null || change === undefined) return ["n/a", "na"];
  if (!enoughBlocks) return ["too few blocks", "few"];
  if (!ci) return ["n/a", "na"];
  if (ci[0] > 0) return [compare ? "B clearly better" : "clear improvement", "up"];
  if (ci[1] < 0) return [compare ? "B clearly worse" : "clear decline", "down"];
  return ["not distinguishable", "same"];
}

const capital = (text) => `${text.slice(0, 1).toUpperCase()}${text.slice(1)}`;
const pick = (table, metric, name) => (table ? (name === undefined ? table[metric] : table[metric][name]) : null);

function cell(value, ci, side, signed = false) {
  return el(
    "td",
    { class: "num metric", testid: `cell-${side}`, dataset: { value: value ?? "" } },
    el("span", { class: "metric-value" }, fmt(value, signed)),
    ci ? el("span", { class: "ci" }, `${fmt(ci[0], signed)} to ${fmt(ci[1], signed)}`) : null,
  );
}

function valueCells(report, metric, name, compare) {
  const ci = report.ci;
  const enough = report.n_blocks >= report.min_blocks;
  const [word, tone] = verdict(pick(report.change, metric, name), pick(ci.change, metric, name), compare, enough);
  return [
    cell(pick(report.before, metric, name), pick(ci.before, metric, name), "before"),
    cell(pick(report.after, metric, name), pick(ci.after, metric, name), "after"),
    cell(pick(report.change, metric, name), pick(ci.change, metric, name), "change", true),
    el("td", {}, el("span", { class: `verdict verdict-${tone}`, testid: "cell-verdict" }, word)),
  ];
}

function head(columns, sides) {
  const th = (text, cls) => el("th", { scope: "col", class: cls }, text);
  return el("thead", {}, el("tr", {}, ...columns.map((c) => th(c)), ...sides.map((c) => th(c, "num")), th("Verdict")));
}

function card(title, props, ...children) {
  return el("section", { class: "card", ...props }, el("h2", { class: "card-title" }, title), ...children);
}

function table(testid, caption, thead, rows) {
  const grid = el("table", { class: "table report-table", testid }, thead, el("tbody", {}, ...rows));
  return card(caption, {}, el("div", { class: "table-wrap" }, grid));
}

function figure(src, caption, { testid = "report-figure", lazy = false, name } = {}) {
  const img = el("img", { src, alt: caption, loading: lazy && "lazy", testid: `${testid}-img` });
  img.addEventListener("error", () => img.closest("figure")?.classList.add("broken"));
  const link = el("a", { href: src, target: "_blank", rel: "noopener", title: "Open full size" }, img);
  return el("figure", { class: "report-figure", testid, dataset: { name } }, link, el("figcaption", {}, caption));
}

function facts(report, compare) {
  const last = report.history?.[report.history.length - 1];
  const items = [
    [report.n_test_frames, "test frames"],
    [report.n_blocks, `independent block${report.n_blocks === 1 ? "" : "s"} ${report.block_seconds > 0 ? `of ${report.block_seconds} s` : "(single frames)"}`],
    [!compare && last?.iteration, "iterations"],
    [!compare && report.best_iteration, "kept iteration (best val mean IoU)"],
    [!compare && report.model_id && `#${report.model_id}`, "fine-tuned model"],
  ].filter(([value]) => value !== null && value !== undefined && value !== false);
  const item = ([value, label]) => el("span", {}, el("strong", {}, String(value)), ` ${label}`);
  return el("p", { class: "report-facts", testid: "report-facts" }, ...items.map(item));
}

/** What the fine-tune started from; flagged when it is not the project's base model. */
function startNote(report) {
  if (!report.start) return null;
  const look = report.start.differs ? "problem warning report-start" : "report-start";
  const dataset = { differs: String(report.start.differs) };
  return el("p", { class: look, testid: "report-start", dataset }, report.start.sentence);
}

/** A held-out or reference set: its heading, its sentences and one table of every figure. */
function setCard(set) {
  const row = (metric, label, name) =>
    el(
      "tr",
      { testid: "set-row", dataset: { metric, class: name ?? "" } },
      el("th", { scope: "row" }, label),
      el("td", { class: "num", testid: "cell-frames" }, name === undefined ? "" : String(set.class_frames?.[name] ?? "")),
      ...valueCells(set, metric, name, false),
    );
  const rows = [
    row("pixel_accuracy", "Pixel accuracy"),
    row("mean_iou", "Mean IoU"),
    ...Object.keys(set.after.class_iou).map((name) => row("class_iou", `${capital(name)} IoU`, name)),
  ];
  const grid = el(
    "table",
    { class: "table report-table", testid: "set-table" },
    head(["Figure", "Frames"], ["Before", "After", "Change"]),
    el("tbody", {}, ...rows),
  );
  const lines = set.sentences.map((line) => el("li", { testid: "set-sentence" }, line));
  return card(
    set.title,
    { testid: "report-set", dataset: { role: set.role } },
    el("ul", { class: "sentences" }, ...lines),
    el("div", { class: "table-wrap" }, grid),
  );
}

const SUMMARY_FIGURES = [
  ["confusion", "Confusion matrices before and after (rows = ground truth, row-normalised)"],
  ["loss", "Train and validation loss"],
  ["miou", "Validation mean IoU (the kept iteration is starred)"],
];

/**
 * Renders a report JSON into `host`: sentences, Table 1, Table 2, figures, timeline, test frames.
 * A comparison (report.labels, or options.compare) names its sides A and B.
 */
export function renderReport(host, report, { jobId, compare = Boolean(report.labels), labels = report.labels } = {}) {
  const sides = compare
    ? [`A: ${labels?.before ?? "model A"}`, `B: ${labels?.after ?? "model B"}`, "Change (B \u2212 A)"]
    : ["Before", "After", "Change"];
  const n = report.n_test_frames;
  const base = `/api/jobs/${jobId}/report/figures`;
  const metricRow = (metric, label) =>
    el(
      "tr",
      { testid: "table1-row", dataset: { metric } },
      el("th", { scope: "row" }, label),
      ...valueCells(report, metric, undefined, compare),
    );
  const classRow = (name) =>
    el(
      "tr",
      { testid: "table2-row", dataset: { class: name } },
      el("th", { scope: "row" }, capital(name)),
      el("td", { class: "num", testid: "cell-frames" }, String(report.class_frames?.[name] ?? "")),
      el("td", { class: "num", testid: "cell-pixels" }, (report.class_pixels?.[name] ?? 0).toLocaleString("en-US")),
      ...valueCells(report, "class_iou", name, compare),
    );
  const blocks = report.n_blocks;
  const explain = `95% confidence intervals from bootstrap resamples of ${blocks} independent block${blocks === 1 ? "" : "s"} of the ${n} test frame${n === 1 ? "" : "s"} (${report.block_rule}); both sides are resampled together (paired). A change is called clear when its interval excludes zero and it rests on at least ${report.min_blocks} blocks. n/a: the class is neither labeled nor predicted.`;
  const sentences = report.sentences.map((line) => el("li", { testid: "report-sentence" }, line));
  const sections = [
    card(
      compare ? "How the two models differ" : "What changed",
      { testid: "report-sentences" },
      facts(report, compare),
      startNote(report),
      el("ul", { class: "sentences" }, ...sentences),
      el("p", { class: "hint" }, explain),
    ),
    table(
      "report-table1",
      "Table 1. Pixel accuracy and mean IoU on the test frames (95% CI below each value)",
      head(["Metric"], sides),
      [metricRow("pixel_accuracy", "Pixel accuracy"), metricRow("mean_iou", "Mean IoU")],
    ),
    table(
      "report-table2",
      "Table 2. IoU per class on the test frames (95% CI below each value)",
      head(["Class", "Test frames", "Labeled pixels"], sides),
      Object.keys(report.after.class_iou).map(classRow),
    ),
  ];
  for (const set of Object.values(report.sets || {})) sections.push(setCard(set));
  const mapped = mappingCard(report, { compare, labels });
  if (mapped) sections.push(mapped);
  const summary = compare
    ? [["confusion", "Confusion matrices of A and B (rows = ground truth, row-normalised)"]]
    : SUMMARY_FIGURES;
  const pictures = summary.map(([name, caption]) => figure(`${base}/${name}.png`, caption, { name }));
  sections.push(card("Figures", {}, el("div", { class: "figure-grid", testid: "report-figures" }, ...pictures)));
  if (!compare && report.timeline?.length) {
    const total = report.history?.length ? report.history[report.history.length - 1].total : null;
    const player = timelinePlayer(report.timeline, { total });
    const hint = el("p", { class: "hint timeline-hint" }, "Validation overlays after each iteration: play, or drag.");
    sections.push(card("Training timeline", { testid: "report-timeline" }, hint, player.node));
  }
  const [then, now] = compare ? ["A", "B"] : ["before", "after"];
  const legend = report.before
    ? `Each figure: image, ground truth, ${then}, ${now} and an error map (green: right with ${now}, wrong with ${then}; red: the reverse; brown: wrong with both; black: right with both; grey: unlabeled).`
    : "Each figure: image, ground truth, prediction and an error map (red: wrong; black: right; grey: unlabeled).";
  const frames = Array.from({ length: n }, (_, k) =>
    figure(`${base}/frame_${k}.png`, `Test frame ${k + 1} of ${n}`, {
      testid: "frame-figure",
      lazy: true,
      name: `frame_${k}`,
    }),
  );
  sections.push(
    card(
      `Test frames (${n})`,
      {},
      el("p", { class: "hint" }, legend),
      el("div", { class: "frame-figures", testid: "report-frames" }, ...frames),
    ),
  );
  host.replaceChildren(...sections);
  host.dataset.ready = "true";
}

/** Model ids that have an ONNX export (the model's own flag when the API gives one, else jobs). */
export async function onnxExports() {
  try {
    const jobs = await getJSON("/api/jobs");
    return new Set(
      jobs.filter((j) => j.kind === "export_onnx" && j.status === "succeeded").map((j) => j.params?.model_id),
    );
  } catch {
    return new Set();
  }
}

const hasOnnx = (model, exported) => Boolean(model.has_onnx ?? model.onnx_key ?? exported.has(model.id));

/** "ONNX" download link, or an "Export ONNX" button that queues the job and shows its progress. */
export function onnxControl(model, exported, { small = true } = {}) {
  const size = small ? " small" : "";
  const href = `/api/models/${model.id}/onnx`;
  const link = () => el("a", { class: `btn${size}`, href, download: "", testid: "onnx-download" }, "ONNX file");
  if (hasOnnx(model, exported)) return el("span", { class: "onnx-control" }, link());
  const disabled = model.status !== "ready";
  const button = el("button", { type: "button", class: `btn${size}`, testid: "onnx-export", disabled }, "Export ONNX");
  const bar = progressBar("onnx-progress", "ONNX export progress");
  bar.hidden = true;
  const error = el("span", { class: "form-error small", role: "alert", hidden: true, testid: "onnx-error" });
  const box = el("span", { class: "onnx-control" }, button, bar, error);
  button.addEventListener("click", async () => {
    button.disabled = true;
    showMessage(error, "");
    try {
      const job = await postJSON(`/api/models/${model.id}/onnx`);
      button.hidden = true;
      bar.hidden = false;
      watchJob(job.id, (next) => {
        setProgress(bar, ACTIVE.has(next.status) && !next.progress ? null : next.progress);
        if (next.status === "succeeded") box.replaceChildren(link());
        else if (!ACTIVE.has(next.status)) {
          bar.hidden = true;
          button.hidden = false;
          button.disabled = false;
          showMessage(error, `Export ${next.status}: ${errorSummary(next.error) || "no details"}`);
        }
      });
    } catch (failure) {
      button.disabled = false;
      showMessage(error, failure.message);
    }
  });
  return box;
}

/** The downloads of a report: HTML, JSON, CSV, timeline GIF, fine-tuned checkpoint, ONNX. */
export function downloadLinks(jobId, report, exported) {
  const a = (href, text, testid) => el("a", { class: "btn small", href, download: "", testid }, text);
  const base = `/api/jobs/${jobId}`;
  const items = [
    a(`${base}/report.html`, "HTML report", "download-html"),
    a(`${base}/report.json`, "JSON", "download-json"),
    a(`${base}/report.csv`, "CSV", "download-csv"),
  ];
  if (report.timeline?.length && !report.labels) {
    items.push(a(`${base}/report/timeline.gif`, "Timeline GIF", "download-gif"));
  }
  if (report.model_id) {
    items.push(a(`/api/models/${report.model_id}/download`, "Fine-tuned checkpoint", "download-checkpoint"));
    items.push(onnxControl({ id: report.model_id, status: "ready" }, exported));
  }
  return el("div", { class: "download-row", testid: "report-downloads" }, ...items);
}

async function initPage(jobId) {
  const host = byTestId("report-body");
  const status = byTestId("report-status");
  const error = byTestId("report-error");
  const downloads = byTestId("report-downloads-box");
  let job = await getJSON(`/api/jobs/${jobId}`).catch(() => null);
  const load = async () => {
    try {
      const [report, exported] = await Promise.all([getJSON(`/api/jobs/${jobId}/report`), onnxExports()]);
      const compare = job?.kind === "evaluate" || Boolean(report.labels);
      const [a, b] = job?.params?.model_ids || [];
      const labels = report.labels || { before: `model ${a}`, after: `model ${b}` };
      status.hidden = true;
      downloads.replaceChildren(downloadLinks(jobId, report, exported));
      if (!compare && report.model_id && job?.project_id) {
        byTestId("suggest-box").replaceChildren(suggestPanel(job.project_id, { modelId: report.model_id }));
        byTestId("suggest-card").hidden = false;
      }
      renderReport(host, report, { jobId, compare, labels });
      const watch = byTestId("watch-box");
      if (watch && !compare) renderWatchControl(watch, { projectId: Number(main.dataset.projectId), report, job });
    } catch (failure) {
      status.hidden = true;
      downloads.replaceChildren(el("p", { class: "muted small" }, "Nothing to download yet."));
      showMessage(error, failure.message);
    }
  };
  if (!job || !ACTIVE.has(job.status)) return load();
  // Still running: follow it here and show the report the moment it is ready.
  const live = jobCard(job, { title: `Job #${jobId}: the report appears here when it finishes` });
  status.replaceChildren(el("ul", { class: "job-list" }, live.node));
  const follow = (next) => {
    job = next;
    live.update(next);
    if (!ACTIVE.has(next.status)) load();
  };
  watchJob(jobId, follow, { interval: 1000 });
}

const main = document.getElementById("main");
if (main?.dataset.reportJobId) initPage(Number(main.dataset.reportJobId));
