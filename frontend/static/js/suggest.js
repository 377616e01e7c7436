// "Suggest frames to label next": starts a suggestion job, follows it in a job card, then links
// to the frame grid sorted by the new ranking. Used by the launch and fine-tune report pages.
import { postJSON } from "./api.js";
import { el, showMessage } from "./dom.js";
import { jobCard, watchJob } from "./jobs-common.js";

/** The panel's content; modelId null = the project's newest fine-tune (the server's default). */
export function suggestPanel(projectId, { modelId = null } = {}) {
  const button = el("button", { type: "button", class: "btn", testid: "suggest-start" }, "Suggest frames to label next");
  const count = el("input", {
    type: "number", min: 1, max: 200, value: 8, testid: "suggest-count", id: `suggest-count-${projectId}`,
    class: "suggest-count",
  });
  const error = el("p", { class: "form-error small", testid: "suggest-error", role: "alert", hidden: true });
  const jobs = el("ul", { class: "job-list", testid: "suggest-job" });
  const link = el("a", { class: "btn small primary", testid: "suggest-link", href: `/projects/${projectId}?sort=suggested`, hidden: true });
  let watcher = null;
  button.addEventListener("click", async () => {
    button.disabled = true;
    showMessage(error, "");
    link.hidden = true;
    try {
      const body = { count: Number(count.value) };
      if (modelId !== null) body.model_id = modelId;
      const job = await postJSON(`/api/projects/${projectId}/suggestions`, body);
      const card = jobCard(job, { title: `Suggestions #${job.id}` });
      jobs.replaceChildren(card.node);
      watcher?.stop();
      watcher = watchJob(job.id, (next) => {
        card.update(next);
        if (next.status === "succeeded") {
          const n = next.result?.frames?.length ?? 0;
          link.textContent = `Open the grid sorted by suggested (${n} frame${n === 1 ? "" : "s"})`;
          link.hidden = false;
        }
        if (!["queued", "running"].includes(next.status)) button.disabled = false;
      }, { interval: 800 });
    } catch (failure) {
      showMessage(error, failure.message);
      button.disabled = false;
    }
  });
  return el(
    "div",
    { class: "suggest-panel", testid: "suggest-panel" },
    el("p", { class: "muted small" },
      "Scores the unlabeled frames with the fine-tuned model (uncertain pixels, rare classes count more) and ranks the ones worth labeling next, spread out in time."),
    // The label is small text; the field beside it keeps every page's one field size.
    el("div", { class: "suggest-row" }, el("label", { class: "small", for: count.id }, "How many frames"), count, button),
    error,
    jobs,
    link,
  );
}
