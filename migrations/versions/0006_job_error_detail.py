"""job error detail: a readable error for users, the traceback apart for administrators

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JOBS = sa.table(
    "jobs",
    sa.column("id", sa.Integer),
    sa.column("error", sa.Text),
    sa.column("error_detail", sa.Text),
)
TRACEBACK = "\n\nTraceback (most recent call last):"
CRASHED = (
    "The worker hit an unexpected error ({name}) and stopped the job; "
    "retry it, or ask an administrator, who can see the details."
)


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("error_detail", sa.Text(), nullable=True))
    # Crashed jobs stored "Name: message" plus the traceback as their error: split them.
    conn = op.get_bind()
    crashed = conn.execute(
        sa.select(JOBS.c.id, JOBS.c.error).where(JOBS.c.error.contains(TRACEBACK))
    ).all()
    for job_id, error in crashed:
        name = error.split(":", 1)[0].strip()[:100] or "error"
        conn.execute(
            JOBS.update()
            .where(JOBS.c.id == job_id)
            .values(error=CRASHED.format(name=name), error_detail=error)
        )


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(
        JOBS.update()
        .where(JOBS.c.error_detail.is_not(None))
        .values(error=JOBS.c.error + "\n\n" + JOBS.c.error_detail)
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("error_detail")
