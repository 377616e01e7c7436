"""mask versions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 01:25:31.489896
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "masks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("frame_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(length=255), nullable=False),
        sa.Column("class_pixel_counts", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["frame_id"], ["frames.id"], name=op.f("fk_masks_frame_id_frames"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_masks")),
        sa.UniqueConstraint("frame_id", "version", name="uq_masks_frame_version"),
    )
    with op.batch_alter_table("masks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_masks_frame_id"), ["frame_id"], unique=False)

    with op.batch_alter_table("frames", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("mask_version", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("frames", schema=None) as batch_op:
        batch_op.drop_column("mask_version")

    with op.batch_alter_table("masks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_masks_frame_id"))

    op.drop_table("masks")
