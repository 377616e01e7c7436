// Protect classes: the "Paint over" choice limits brush, eraser, fill and polygon to unlabeled
// pixels, or to one class, so what is already right stays as it is.

import { byId } from "./panel.js";

/** Wires the "Paint over" select to the painter. */
export function bindPaintOver(painter) {
  const select = byId("paint-over");
  const apply = () => painter.setPaintOver(select.value === "any" ? -1 : Number(select.value));
  select.addEventListener("change", () => {
    apply();
    select.blur(); // the painter's keys work again right away
  });
  apply();
}
