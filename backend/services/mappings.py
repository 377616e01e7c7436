"""Class maps: how a model's outputs are read as a project's classes, and where the map came from.

A record says how one model is scored in a project: `table` (model class i -> project class
table[i]; None when the model's classes are the project's), `source` (direct: its own classes;
given: sent with the request; lineage: the map the fine-tune `via` was trained with, down its
base_model_id chain; name: matched by class name; training: a fine-tune job's own map) and
`groups` (each project class -> the source class names read as it; for a direct fine-tune, the
names of its lineage's first base, as it was trained; None when nothing is known).
"""

from typing import Any

from sqlalchemy.orm import Session

from backend.errors import Invalid
from backend.models import SegModel
from worker.ml.presets import default_class_map

MAX_DEPTH = 64  # fine-tunes of fine-tunes: a bound, not a limit anyone reaches


def class_names(model: SegModel) -> list[str]:
    """The names of a model's output classes, in order."""
    return [c["name"] for c in model.classes or []]


def check_table(table: list[int], n_source: int, n_project: int, label: str) -> list[int]:
    """A class map of the right length whose targets are project class indices, or Invalid."""
    if len(table) != n_source:
        raise Invalid(
            f"{label} needs {n_source} entries, one per class of the model; it has {len(table)}."
        )
    bad = sorted({t for t in table if not 0 <= t < n_project})
    if bad:
        last = n_project - 1
        raise Invalid(f"{label} targets {bad}, which are not project class indices (0 to {last}).")
    return list(table)


def by_name(source: list[str], project: list[str]) -> list[int]:
    """Source class -> project class of equal name, everything else -> background (or 0)."""
    return default_class_map([{"name": n} for n in source], project)


def groups(table: list[int], source: list[str], project: list[str]) -> dict[str, list[str]]:
    """Each project class and the source class names a table reads as it."""
    return {p: [source[i] for i, t in enumerate(table) if t == k] for k, p in enumerate(project)}


def _fits(table: list[int] | None, width: int) -> bool:
    return bool(table) and all(0 <= t < width for t in table)


def ancestors(session: Session, model: SegModel):
    """(ancestor, table: its classes -> the model's classes) down the base_model_id chain."""
    node, table, seen = model, list(range(len(model.classes or []))), {model.id}
    for _ in range(MAX_DEPTH):
        if node.base_model_id is None or node.base_model_id in seen:
            return
        parent = session.get(SegModel, node.base_model_id)
        if parent is None or not _fits(node.class_map, len(table)):
            return
        if len(node.class_map) != len(parent.classes or []):
            return
        table = [table[t] for t in node.class_map]
        yield parent, table
        node = parent
        seen.add(node.id)


def trained_from(session: Session, model: SegModel) -> tuple[list[str], list[int]] | None:
    """The class names a model's lineage starts from and the map to its classes, or None."""
    found, node = None, model
    for parent, table in ancestors(session, model):
        found, node = (class_names(parent), table), parent
    # Where the chain stops (a deleted base, or a registered SegTune fine-tune) the model keeps
    # the names its own map reads.
    top = found[1] if found else list(range(len(model.classes or [])))
    own = node.base_class_names
    if own and _fits(node.class_map, len(top)) and len(own) == len(node.class_map):
        return list(own), [top[t] for t in node.class_map]
    return found


def _lineage(session: Session, model: SegModel, others: list[SegModel]):
    """The first direct fine-tune among the others whose lineage reaches the model, with its map."""
    for other in others:
        if other.id == model.id:
            continue
        for parent, table in ancestors(session, other):
            if parent.id == model.id:
                return other, table
    return None


def resolve(
    session: Session, project: list[str], models: list[SegModel], given: dict[int, list[int]]
) -> dict[int, dict[str, Any]]:
    """How each model is scored in a project with these class names (see the module docstring)."""
    direct = [m for m in models if class_names(m) == project]
    records: dict[int, dict[str, Any]] = {}
    for model in models:
        names = class_names(model)
        record: dict[str, Any] = {"source": "direct", "via": None, "table": None, "groups": None}
        if model.id in given:
            label = f"The class map of model {model.id}"
            table = check_table(given[model.id], len(names), len(project), label)
            record.update(source="given", table=table)
        elif model in direct:
            trained = trained_from(session, model)
            if trained:
                record["groups"] = groups(trained[1], trained[0], project)
        elif found := _lineage(session, model, direct):
            record.update(source="lineage", via=found[0].id, table=found[1])
        else:
            record.update(source="name", table=by_name(names, project))
        if record["table"] is not None:
            record["groups"] = groups(record["table"], names, project)
        records[model.id] = record
    return records


def _lowered(group: dict[str, list[str]]) -> dict[str, set[str]]:
    return {p: {n.strip().lower() for n in names} for p, names in group.items()}


def differences(records: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """Pairs of models that read a source class as different project classes, and which."""
    found = []
    known = [(i, _lowered(r["groups"])) for i, r in records.items() if r.get("groups")]
    for k, (a, ga) in enumerate(known):
        for b, gb in known[k + 1 :]:
            common = set().union(*ga.values()) & set().union(*gb.values())
            classes, parts = [], []
            for name in ga:
                only_a = sorted((ga[name] & common) - gb.get(name, set()))
                only_b = sorted((gb.get(name, set()) & common) - ga[name])
                if only_a or only_b:
                    classes.append(name)
                    sides = [(only_a, a), (only_b, b)]
                    said = "; ".join(f"{', '.join(n)} only with model {m}" for n, m in sides if n)
                    parts.append(f"{name} ({said})")
            if classes:
                found.append({"models": [a, b], "classes": classes, "text": ", ".join(parts)})
    return found


def describe_differences(found: list[dict[str, Any]]) -> str:
    """One sentence per pair of models that map classes differently."""
    return " ".join(
        f"Model {d['models'][0]} and model {d['models'][1]} map the project classes "
        f"differently: {d['text']}."
        for d in found
    )
