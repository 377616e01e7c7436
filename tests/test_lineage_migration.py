"""Revision 0007 gives fine-tunes made before it the class map their job was trained with."""

from alembic import command
from sqlalchemy import JSON, column, select
from sqlalchemy import table as sql_table

from backend.db import alembic_config, make_engine, upgrade_database
from backend.models.base import utcnow
from worker.ml.presets import PRESETS

CITY = PRESETS["cityscapes19"]


def test_fine_tunes_get_their_jobs_class_map(settings):
    url = settings.effective_database_url
    command.downgrade(alembic_config(url), "0006")
    engine = make_engine(url)
    # The tables as revision 0006 has them: the models' tables carry columns added later.
    projects = sql_table("projects", column("id"), column("name"), column("initial_mask"),
                     column("created_at"))  # fmt: skip
    jobs = sql_table("jobs", *(column(n) for n in ("id", "kind", "queue", "status", "progress",
                     "message", "cancel_requested", "attempts", "created_at")),
                     column("params", JSON))  # fmt: skip
    models = sql_table("seg_models", *(column(n) for n in (
        "id", "kind", "status", "storage_key", "filename", "size_bytes", "name", "project_id",
        "train_job_id", "base_model_id", "created_at")), column("classes", JSON),
        column("class_map", JSON), column("base_class_names", JSON))  # fmt: skip
    table = [t % 3 for t in range(len(CITY))]
    row = {"kind": "base", "status": "ready", "storage_key": "k", "filename": "f", "size_bytes": 1}
    try:
        with engine.begin() as conn:

            def insert(table_, **values) -> int:
                query = table_.insert().values(created_at=utcnow(), **values)
                return conn.execute(query.returning(table_.c.id)).scalar_one()

            pid = insert(projects, name="p", initial_mask="unlabeled")
            job = insert(jobs, kind="train", params={"class_map": table}, queue="gpu",
                         status="succeeded", progress=1.0, message="", cancel_requested=False,
                         attempts=1)  # fmt: skip
            base = insert(models, name="base", classes=CITY, **row)
            tuned = insert(models, **{**row, "kind": "finetuned"}, name="tuned", project_id=pid,
                           train_job_id=job, base_model_id=base)  # fmt: skip
        upgrade_database(settings)
        with engine.connect() as conn:
            found = conn.execute(
                select(models.c.id, models.c.class_map, models.c.base_class_names)
            ).all()
    finally:
        engine.dispose()
    by_id = {r.id: r for r in found}
    assert by_id[tuned].class_map == table
    assert by_id[tuned].base_class_names == [c["name"] for c in CITY]
    assert by_id[base].class_map is None and by_id[base].base_class_names is None
