"""The migrations are the only way the schema is made; they must match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from tend.schema import metadata


def test_migrated_schema_matches_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata())
    assert differences == []


def test_every_table_has_a_named_primary_key(engine: Engine) -> None:
    for table in metadata().sorted_tables:
        assert table.primary_key.name == f"pk_{table.name}"
