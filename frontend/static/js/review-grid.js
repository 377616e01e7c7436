// Review in the frame grid: marks on each card (model draft, assignee, a tick box for owners)
// and the owners' bar that assigns the ticked frames to a member who labels.
import { getJSON, postJSON } from "./api.js";
import { byTestId, el, showMessage, toast } from "./dom.js";

/**
 * createAssignments(root, projectId, {onAssigned})
 * root: the frames section. onAssigned() runs after frames were (un)assigned.
 */
export function createAssignments(root, projectId, { onAssigned = () => {} } = {}) {
  const bar = byTestId("assign-bar", root);
  const count = byTestId("assign-count", root);
  const member = byTestId("assign-member", root);
  const filter = byTestId("filter-assignee", root);
  const errorBox = byTestId("assign-error", root);
  const picked = new Set();
  const names = new Map();
  const boxes = new Map();

  function showPicked() {
    bar.hidden = picked.size === 0;
    count.textContent = `${picked.size} frame${picked.size === 1 ? "" : "s"} selected`;
  }

  async function loadMembers() {
    const members = await getJSON(`/api/projects/${projectId}/members`);
    names.clear();
    for (const m of members) names.set(m.user_id, m.email);
    const labelers = members.filter((m) => m.role !== "viewer");
    member.replaceChildren(
      ...labelers.map((m) => el("option", { value: String(m.user_id) }, `${m.email} (${m.role})`)),
      el("option", { value: "" }, "nobody (unassign)"),
    );
    const kept = filter.value;
    filter.querySelectorAll("option[data-member]").forEach((option) => option.remove());
    filter.append(
      ...labelers.map((m) => el("option", { value: String(m.user_id), dataset: { member: "1" } }, m.email)),
    );
    filter.value = kept;
  }

  byTestId("assign-submit", root).addEventListener("click", async () => {
    showMessage(errorBox, "");
    const assignee = member.value ? Number(member.value) : null;
    try {
      const result = await postJSON(`/api/projects/${projectId}/assignments`, {
        frame_ids: [...picked],
        assignee_id: assignee,
      });
      const who = assignee === null ? "nobody" : names.get(assignee);
      toast(`${result.assigned} frame${result.assigned === 1 ? "" : "s"} assigned to ${who}.`, "success");
      clear();
      onAssigned();
    } catch (error) {
      showMessage(errorBox, error.message);
    }
  });
  byTestId("assign-clear", root).addEventListener("click", () => clear());

  function clear() {
    picked.clear();
    for (const box of boxes.values()) box.checked = false;
    showPicked();
  }

  /** The review marks of one card: {pick, draft, assignee, update(frame), drop()}. */
  function marks(frame) {
    const pick = el("input", {
      type: "checkbox",
      class: "frame-pick owner-only",
      testid: "frame-pick",
      "aria-label": `Select frame ${frame.id} to assign it`,
    });
    pick.addEventListener("change", () => {
      if (pick.checked) picked.add(frame.id);
      else picked.delete(frame.id);
      showPicked();
    });
    boxes.set(frame.id, pick);
    const draft = el(
      "span",
      { class: "badge draft", testid: "frame-draft", title: "A model's pre-label: nobody has edited or accepted it yet" },
      "model draft",
    );
    const assignee = el("span", { class: "frame-assignee", testid: "frame-assignee" });
    return {
      pick,
      draft,
      assignee,
      update(next) {
        draft.hidden = !next.draft;
        const propagated = next.mask_source === "propagation";
        draft.textContent = propagated ? "propagated draft" : "model draft";
        draft.title = propagated
          ? "Carried over from a neighbouring frame: nobody has edited or accepted it yet"
          : "A model's pre-label: nobody has edited or accepted it yet";
        const name = next.assignee_id === null ? "" : names.get(next.assignee_id) || `user ${next.assignee_id}`;
        assignee.hidden = !name;
        assignee.textContent = name ? `→ ${name.split("@")[0]}` : "";
        assignee.title = name ? `Assigned to ${name}` : "";
        pick.checked = picked.has(next.id);
      },
      drop() {
        boxes.delete(frame.id);
        picked.delete(frame.id);
        showPicked();
      },
    };
  }

  showPicked();
  const ready = loadMembers().catch((error) => showMessage(errorBox, `Could not load members: ${error.message}`));
  return { ready, marks };
}
