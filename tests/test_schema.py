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


def test_a_downgrade_on_sqlite_keeps_the_rows_of_the_tables_it_rebuilds(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """SQLite alters a table by copying it and dropping the old one; with foreign keys
    on, the drop would cascade to every row that refers to it (all the answers, when
    checkin_participations is rebuilt). Down past the columns added to it and back up:
    nothing lost."""
    import datetime as dt

    from alembic import command
    from sqlalchemy import text

    from infra import db as tend_db
    from tend.migrate import alembic_config, upgrade
    from tests.factories import make_couple
    from tests.test_checkins_service import full_round

    url = f"sqlite:///{tmp_path}/tend.sqlite3"
    upgrade(url)
    engine = tend_db.make_engine(url)
    now = dt.datetime(2026, 3, 14, 9, 30, tzinfo=dt.UTC)
    with tend_db.transaction(engine) as s:
        _c, a, b = make_couple(s, now=now)
    full_round(lambda: tend_db.transaction(engine), a, b, now)
    tables = ("checkin_participations", "checkin_answers", "checkin_round_agreements")

    def counts() -> dict[str, int]:
        with engine.connect() as connection:
            return {
                t: connection.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in tables
            }

    before = counts()
    assert before["checkin_answers"] > 0
    engine.dispose()
    command.downgrade(alembic_config(url), "perf_0002")
    assert counts() == before
    engine.dispose()
    upgrade(url)
    assert counts() == before
    engine.dispose()
