// The Models page's dialog for a failed registration: check the same file again with other
// options (the classes start at Detect, so the head size picks the preset that fits).
import { postJSON } from "./api.js";
import { byTestId, showMessage, toast } from "./dom.js";

/** Wires the dialog once; returns open(model). onDone runs after a retry was queued. */
export function retryDialog(onDone) {
  const dialog = byTestId("retry-dialog");
  const form = byTestId("retry-form");
  const error = byTestId("retry-error");
  let model = null;

  async function act(send) {
    const buttons = dialog.querySelectorAll("button");
    buttons.forEach((b) => (b.disabled = true));
    try {
      await send();
      dialog.close();
      await onDone();
    } catch (failure) {
      showMessage(error, failure.message);
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  }

  byTestId("retry-submit").addEventListener("click", () =>
    act(async () => {
      const fields = form.elements;
      const body = {
        preset: fields.preset.value || null,
        architecture: fields.architecture.value || null,
        output_stride: fields.output_stride.value ? Number(fields.output_stride.value) : null,
      };
      await postJSON(`/api/models/${model.id}/retry`, body);
      toast(`Checking “${model.name}” again…`);
    }),
  );

  return function open(failed) {
    model = failed;
    byTestId("retry-title").textContent = `Retry “${failed.name}”`;
    byTestId("retry-reason").textContent = failed.error || "";
    form.elements.preset.value = "";
    form.elements.architecture.value = failed.architecture || "";
    form.elements.output_stride.value = failed.output_stride ? String(failed.output_stride) : "";
    showMessage(error, "");
    dialog.showModal();
  };
}
