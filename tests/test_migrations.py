"""The Alembic migrations build exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from backend.db import make_engine
from backend.models import Base


def test_migrated_schema_matches_the_models(settings):
    engine = make_engine(settings.effective_database_url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    engine.dispose()
