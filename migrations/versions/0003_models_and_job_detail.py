"""models and job detail

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 01:27:58.745526
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seg_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("architecture", sa.String(length=60), nullable=True),
        sa.Column("output_stride", sa.Integer(), nullable=True),
        sa.Column("classes", sa.JSON(), nullable=True),
        sa.Column("preset", sa.String(length=40), nullable=True),
        sa.Column("storage_key", sa.String(length=255), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column("train_job_id", sa.Integer(), nullable=True),
        sa.Column("base_model_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["base_model_id"],
            ["seg_models.id"],
            name=op.f("fk_seg_models_base_model_id_seg_models"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_seg_models_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["train_job_id"],
            ["jobs.id"],
            name=op.f("fk_seg_models_train_job_id_jobs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seg_models")),
    )
    with op.batch_alter_table("seg_models", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_seg_models_project_id"), ["project_id"], unique=False)

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("detail", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("detail")

    with op.batch_alter_table("seg_models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_seg_models_project_id"))

    op.drop_table("seg_models")
