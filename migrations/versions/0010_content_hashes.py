"""content hashes of uploaded videos and images, to report duplicates

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-02 01:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLES = ("videos", "frames")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("content_sha256", sa.String(length=64), nullable=True))
            batch_op.create_index(
                f"ix_{table}_project_id_content_sha256", ["project_id", "content_sha256"]
            )


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_project_id_content_sha256")
            batch_op.drop_column("content_sha256")
