"""model lineage: the class map a fine-tune was trained with

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 09:00:00
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def _backfill() -> None:
    """Fine-tunes made before this revision: their job's class map and their base's names."""
    conn = op.get_bind()
    models = sa.table(
        "seg_models",
        sa.column("id", sa.Integer),
        sa.column("classes", sa.JSON),
        sa.column("train_job_id", sa.Integer),
        sa.column("base_model_id", sa.Integer),
        sa.column("class_map", sa.JSON),
        sa.column("base_class_names", sa.JSON),
    )
    jobs = sa.table("jobs", sa.column("id", sa.Integer), sa.column("params", sa.JSON))
    base = models.alias("base")
    rows = conn.execute(
        sa.select(models.c.id, jobs.c.params, base.c.classes)
        .join(jobs, jobs.c.id == models.c.train_job_id)
        .join(base, base.c.id == models.c.base_model_id)
    ).all()
    for model_id, params, classes in rows:
        table, classes = (_json(params) or {}).get("class_map"), _json(classes) or []
        if not table or len(table) != len(classes):
            continue
        conn.execute(
            models.update()
            .where(models.c.id == model_id)
            .values(class_map=table, base_class_names=[c["name"] for c in classes])
        )


def upgrade() -> None:
    with op.batch_alter_table("seg_models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("class_map", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("base_class_names", sa.JSON(), nullable=True))
    _backfill()


def downgrade() -> None:
    with op.batch_alter_table("seg_models", schema=None) as batch_op:
        batch_op.drop_column("base_class_names")
        batch_op.drop_column("class_map")
