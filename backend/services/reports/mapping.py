"""The class mapping each side of a report was scored with, and whether the two differ."""

from typing import Any

from backend.services.reports.source import ReportSource

SOURCES = {
    "direct": "its classes are the project's",
    "given": "the class map given with the request",
    "lineage": "the class map model {via} was trained with",
    "name": "matched to the project's classes by name",
    "training": "the class map this fine-tune was trained with",
}
CHOSEN = {"given": "chosen at launch", "name": "matched by name at launch"}


def describe(mapping: dict[str, Any]) -> str:
    """A person's words for where a mapping came from."""
    source = mapping.get("source")
    if source not in SOURCES:
        return "not recorded (the job is older than recorded mappings)"
    text = SOURCES[source].format(via=mapping.get("via"))
    if source == "training" and mapping.get("chosen") in CHOSEN:
        text += f" ({CHOSEN[mapping['chosen']]})"
    if source == "direct" and mapping.get("groups"):
        text += ", trained from the classes listed"
    return text


def side(scored: dict[str, Any] | None) -> dict[str, Any] | None:
    """The mapping one scored model was read through."""
    if scored is None:
        return None
    mapping = scored.get("mapping") or {}
    return {
        "model_id": scored.get("model_id"),
        "source": mapping.get("source"),
        "via_model_id": mapping.get("via"),
        "description": describe(mapping),
        "class_map": mapping.get("table", scored.get("class_map")),
        "groups": mapping.get("groups"),
    }


def report_mappings(source: ReportSource) -> dict[str, Any]:
    """Both sides' mappings, and the classes they read differently (confirmed when requested)."""
    return {
        "before": side(source.before),
        "after": side(source.after),
        "differs": list(source.params.get("mapping_differs") or []),
    }


def html_context(source: ReportSource, report: dict[str, Any]) -> dict[str, Any] | None:
    """What the downloadable page shows of the mappings (None for reports made before them)."""
    found = report.get("mappings")
    if not found:
        return None
    marks = ("A", "B") if source.is_comparison else ("Before", "After")
    sides = [
        {"title": f"{mark}: {source.labels[key]}", **found[key]}
        for mark, key in zip(marks, ("before", "after"), strict=True)
        if found.get(key)
    ]
    return {"sides": sides, "differs": found["differs"], "classes": source.class_names}
