"""onnx exports

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 01:32:05.492883
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("seg_models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("onnx_key", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("seg_models", schema=None) as batch_op:
        batch_op.drop_column("onnx_key")
