"""mask authors: who saved each mask version

Revision ID: 0012
Revises: 0007
Create Date: 2026-12-02 01:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Versions saved before this revision have no known author (NULL), as do model drafts.
    with op.batch_alter_table("masks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("author_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_masks_author_id_users"),
            "users",
            ["author_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("masks", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_masks_author_id_users"), type_="foreignkey")
        batch_op.drop_column("author_id")
