"""Revision 0007 gives fine-tunes made before it the class map their job was trained with."""

from alembic import command
from sqlalchemy import select

from backend.db import alembic_config, make_engine, upgrade_database
from backend.models import Job, Project, SegModel
from backend.models.base import utcnow
from worker.ml.presets import PRESETS

CITY = PRESETS["cityscapes19"]


def test_fine_tunes_get_their_jobs_class_map(settings):
    url = settings.effective_database_url
    command.downgrade(alembic_config(url), "0006")
    engine = make_engine(url)
    projects, jobs, models = Project.__table__, Job.__table__, SegModel.__table__
    table = [t % 3 for t in range(len(CITY))]
    row = {"kind": "base", "status": "ready", "storage_key": "k", "filename": "f", "size_bytes": 1}
    try:
        with engine.begin() as conn:

            def insert(table_, **values) -> int:
                query = table_.insert().values(created_at=utcnow(), **values)
                return conn.execute(query).inserted_primary_key[0]

            pid = insert(projects, name="p", initial_mask="unlabeled")
            job = insert(jobs, kind="train", params={"class_map": table})
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
