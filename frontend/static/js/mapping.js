// Class mappings: how a model's classes are read as the project's. The report's card showing
// what each side was scored with, and the class map editor of the compare page.
import { el } from "./dom.js";

const SOURCES = {
  direct: () => "its classes are the project's",
  given: () => "your class map",
  lineage: (m) => `the class map model #${m.via ?? m.via_model_id} was trained with`,
  name: () => "matched by class name",
  training: () => "the class map this fine-tune was trained with",
};

/** Where a mapping came from, in words (a report side or an /evaluate/check answer). */
export function describeMapping(mapping) {
  if (mapping.description) return mapping.description;
  return (SOURCES[mapping.source] || (() => "not recorded"))(mapping);
}

const th = (text, scope = "col") => el("th", { scope }, text);

/** The report's "Class mappings" card, or null for reports made before mappings were kept. */
export function mappingCard(report, { compare = false, labels = null } = {}) {
  const found = report.mappings;
  if (!found) return null;
  const marks = compare ? ["A", "B"] : ["Before", "After"];
  const sides = ["before", "after"]
    .map((key, k) => ({ key, title: compare ? `${marks[k]}: ${labels?.[key] ?? ""}` : marks[k], mapping: found[key] }))
    .filter((side) => side.mapping);
  const cell = (mapping, name) => (mapping.groups ? (mapping.groups[name] || []).join(", ") || "none" : name);
  const rows = [
    el(
      "tr",
      {},
      th("Scored with", "row"),
      ...sides.map(({ key, mapping }) =>
        el("td", { testid: `mapping-source-${key}`, dataset: { source: mapping.source ?? "" } }, describeMapping(mapping)),
      ),
    ),
    ...Object.keys(report.after.class_iou).map((name) =>
      el(
        "tr",
        { testid: "mapping-row", dataset: { class: name } },
        th(name, "row"),
        ...sides.map(({ key, mapping }) => el("td", { testid: `mapping-${key}` }, cell(mapping, name))),
      ),
    ),
  ];
  const differs = found.differs || [];
  const warning = differs.length
    ? el(
        "p",
        { class: "problem warning", testid: "mapping-differs" },
        `The two models map classes differently (compared as confirmed): ${differs.map((d) => d.text).join("; ")}.`,
      )
    : null;
  const grid = el(
    "table",
    { class: "table", testid: "mapping-table" },
    el("thead", {}, el("tr", {}, th("Project class"), ...sides.map((side) => th(side.title)))),
    el("tbody", {}, ...rows),
  );
  return el(
    "section",
    { class: "card", testid: "report-mappings" },
    el("h2", { class: "card-title" }, "Class mappings"),
    warning,
    el("div", { class: "table-wrap" }, grid),
    el("p", { class: "hint" }, "Each cell: the model's classes read as that project class."),
  );
}

/** One select per model class (the project's classes to choose from); onChange(i, target). */
export function classMapEditor(model, projectClasses, table, onChange) {
  const rows = (model.classes || []).map((c, i) => {
    const select = el(
      "select",
      { testid: "classmap-select", "aria-label": `Project class for ${c.name}`, dataset: { index: i } },
      ...projectClasses.map((p) => el("option", { value: p.index }, p.name)),
    );
    select.value = String(table[i]);
    select.addEventListener("change", () => onChange(i, Number(select.value)));
    return el(
      "tr",
      { testid: "classmap-row", dataset: { baseClass: c.name } },
      el("td", {}, c.name),
      el("td", { class: "muted", "aria-hidden": "true" }, "→"),
      el("td", { class: "map-target" }, select),
    );
  });
  const head = el("thead", {}, el("tr", {}, th("Model class"), th(""), th("Project class")));
  return el("div", { class: "table-wrap" }, el("table", { class: "table classmap" }, head, el("tbody", {}, ...rows)));
}
