"""class edits: a version of each project's class list and the remaps that changed class ids

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-02 01:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("classes_version", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("class_ids_version", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("class_remaps", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("class_remaps")
        batch_op.drop_column("class_ids_version")
        batch_op.drop_column("classes_version")
