"""What a fine-tune started from, said plainly when it is not the project's base model."""

from typing import Any

from backend.services.reports.source import ReportSource


def start_note(source: ReportSource) -> dict[str, Any] | None:
    """The start of a fine-tune job: model, the project's base, whether they differ, a sentence.

    None for comparisons and for jobs launched before the start was recorded.
    """
    start = source.params.get("start")
    if source.is_comparison or not start:
        return None
    name = f"“{start['name']}”" if start.get("model_id") else "random initialisation"
    usual = start.get("project_base_id")
    differs = usual is not None and usual != start.get("model_id")
    if differs:
        sentence = (
            f"Started from {name} (not the project's base, “{start['project_base_name']}”): "
            "a start chosen on purpose, so the “before” column is that model."
        )
    elif usual is not None:
        sentence = f"Started from {name}, the project's base model."
    else:
        sentence = f"Started from {name}."
    return {**start, "differs": differs, "sentence": sentence}
