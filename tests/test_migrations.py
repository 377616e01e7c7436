"""The Alembic migrations build exactly the schema the models describe."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from backend.db import alembic_config, make_engine, upgrade_database
from backend.models import Base


def test_migrated_schema_matches_the_models(settings):
    engine = make_engine(settings.effective_database_url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    engine.dispose()


LEGACY_CRASH = (
    "KeyError: 'model_state'\n\nTraceback (most recent call last):\n"
    '  File "worker/runner.py", line 93, in run_job\n'
    "KeyError: 'model_state'\n"
)


def test_0006_splits_stored_tracebacks_from_the_error(settings):
    url = settings.effective_database_url
    command.downgrade(alembic_config(url), "0005")
    engine = make_engine(url)
    insert = text(
        "INSERT INTO jobs (id, kind, queue, status, progress, message, error, params,"
        " cancel_requested, attempts, created_at) VALUES (:id, 'train', 'gpu', 'failed', 0,"
        " 'failed', :error, '{}', false, 1, CURRENT_TIMESTAMP)"
    )
    with engine.begin() as conn:
        conn.execute(insert, [{"id": 1, "error": LEGACY_CRASH}, {"id": 2, "error": "No frames."}])
    upgrade_database(settings)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, error, error_detail FROM jobs ORDER BY id")).all()
    engine.dispose()
    assert rows[0].error == (
        "The worker hit an unexpected error (KeyError) and stopped the job; "
        "retry it, or ask an administrator, who can see the details."
    )
    assert rows[0].error_detail == LEGACY_CRASH
    assert (rows[1].error, rows[1].error_detail) == ("No frames.", None)
