"""A fast generator of many couples for the planning benchmarks.

Every couple: two users, two memberships, one regular check-in agreement in force (one
version), and its ``checkin_plans`` row. Couples 1..``due`` have a weekly schedule whose
latest start was an hour before ``now`` and no round yet: they are due. The others
agreed an hour ago on a weekly schedule whose first start is a day after ``now``: not
due; every tenth of them is answering slowly: a round started by hand three days ago,
due in two, neither partner has answered and both were nudged (their reminder notes
wait for the warning before closing, tomorrow). The rows are written by the database
itself (INSERT ... SELECT over a number series), not row by row from Python: a million
couples take a few minutes on PostgreSQL.

A populated database is reused when its row counts say it holds exactly this
population (same couples, same due couples at the same ``now``, nothing planned yet);
see :func:`ensure`.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from types import SimpleNamespace

from sqlalchemy import JSON, Engine, TextClause, bindparam, create_engine, text
from sqlalchemy.engine import make_url

from checkins import recurrence
from infra.db import UTCDateTime, make_engine
from tend.migrate import alembic_config, upgrade

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
# The fixed clock of the cached planning databases (a Monday noon, UTC).
BENCH_NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)
PASSWORD_HASH = "bench:not-a-real-hash"  # nobody signs in as these users


@dataclass(frozen=True)
class Population:
    couples: int
    due: int
    now: dt.datetime
    # Every n-th couple that is not due has a round open (answering slowly).
    open_round_every: int = 10

    @property
    def open_rounds(self) -> int:
        n = self.open_round_every
        return self.couples // n - self.due // n

    def schedules(self) -> tuple[dict, dt.datetime, dt.datetime, dict, dt.datetime, dt.datetime]:
        """(params, in force since, plan note) for the due couples, then the others."""
        due_start = (self.now - dt.timedelta(hours=1)).replace(second=0, microsecond=0)
        due_params = _weekly(due_start)
        due_since = self.now - dt.timedelta(days=30)
        later = (self.now + dt.timedelta(days=1)).replace(second=0, microsecond=0)
        other_params = _weekly(later)
        other_since = self.now - dt.timedelta(hours=1)
        other_next = recurrence.next_start(_schedule(other_params, other_since), self.now)
        due_latest = recurrence.latest_start(_schedule(due_params, due_since), self.now)
        assert due_latest is not None and due_latest <= self.now < other_next
        return due_params, due_since, due_latest, other_params, other_since, other_next

    def due_schedule(self) -> SimpleNamespace:
        """The check-in schedule every due couple has (as the planner reads it)."""
        due_params, due_since, *_others = self.schedules()
        return _schedule(due_params, due_since)


def _weekly(at: dt.datetime) -> dict:
    return {
        "cadence": "weekly",
        "weekday": at.weekday(),
        "day_of_month": 1,
        "local_time": f"{at:%H:%M}",
        "timezone": "UTC",
    }


def _schedule(params: dict, since: dt.datetime) -> SimpleNamespace:
    hours, minutes = (int(x) for x in params["local_time"].split(":"))
    return SimpleNamespace(
        cadence=params["cadence"],
        weekday=params["weekday"],
        day_of_month=params["day_of_month"],
        local_time=dt.time(hours, minutes),
        timezone=params["timezone"],
        active_since=since,
    )


def _series(dialect: str) -> tuple[str, str]:
    """(prefix, FROM clause) giving rows i = :lo .. :hi."""
    if dialect == "postgresql":
        return "", "generate_series(CAST(:lo AS integer), CAST(:hi AS integer)) AS g(i)"
    return "WITH RECURSIVE g(i) AS (SELECT :lo UNION ALL SELECT i + 1 FROM g WHERE i < :hi) ", "g"


_TABLES = {
    "users": (
        "id, email, display_name, password_hash, timezone, created_at, password_changed_at",
        "2 * i - {s}, 'u' || (2 * i - {s}) || '@bench.example', 'Partner ' || (2 * i - {s}), "
        ":pw, 'UTC', :created, :created",
    ),
    "couples": ("id, name, created_at", "i, 'Couple ' || i, :created"),
    "memberships": (
        "id, couple_id, user_id, seat, joined_at",
        "2 * i - {s}, i, 2 * i - {s}, 2 - {s}, :created",
    ),
    "agreements": (
        "id, couple_id, kind, status, created_by_id, created_at, flagged_for_review",
        "i, i, 'regular_checkin', 'active', 2 * i - 1, :since, false",
    ),
    "agreement_versions": (
        "id, agreement_id, number, title, body, params, state, proposed_by_id, proposed_at, "
        "accepted_by_id, in_force_from, answered_by_id, answered_at",
        "i, i, 1, 'Regular check-in', 'We check in every week.', :params, 'in_force', "
        "2 * i - 1, :since, 2 * i, :since, 2 * i, :since",
    ),
    "checkin_plans": ("couple_id, next_check_at", "i, :next"),
    # The open rounds of the couples answering slowly (filtered to every n-th below).
    "checkin_rounds": (
        "id, couple_id, scheduled_for, origin, opened_by_id, opened_at, due_at",
        "i, i, :opened, 'manual', 2 * i - 1, :opened, :due_at",
    ),
    "checkin_participations": (
        "id, round_id, user_id, status, remind_at",
        "2 * i - {s}, i, 2 * i - {s}, 'pending', :remind_at",
    ),
    "notification_preferences": (
        "user_id, disabled_kinds, updated_at",
        "2 * i - {s}, :empty, :created",
    ),
}


_TYPES = {
    "created": UTCDateTime(),
    "since": UTCDateTime(),
    "next": UTCDateTime(),
    "now": UTCDateTime(),
    "other": UTCDateTime(),
    "opened": UTCDateTime(),
    "due_at": UTCDateTime(),
    "remind_at": UTCDateTime(),
    "params": JSON(),
    "empty": JSON(),
}


def _text(sql: str) -> TextClause:
    """SQL text whose timestamp and JSON parameters are written as the models write them
    (UTC, in each database's own format)."""
    statement = text(sql)
    typed = [bindparam(k, type_=t) for k, t in _TYPES.items() if k in statement._bindparams]
    return statement.bindparams(*typed) if typed else statement


def _present(statement: TextClause, values: dict) -> dict:
    return {k: v for k, v in values.items() if k in statement._bindparams}


def populate(engine: Engine, population: Population, *, mail_any_time: bool = False) -> None:
    """Write the population into an empty, migrated database."""
    dialect = engine.dialect.name
    prefix, source = _series(dialect)
    due_params, due_since, due_next, other_params, other_since, other_next = population.schedules()
    created = population.now - dt.timedelta(days=60)
    ranges = [
        (1, population.due, due_params, due_since, due_next),
        (population.due + 1, population.couples, other_params, other_since, other_next),
    ]
    tables = list(_TABLES)
    if not mail_any_time:
        tables.remove("notification_preferences")
    with engine.begin() as connection:
        if dialect == "postgresql":
            # The rows are consistent by construction: skip the foreign-key triggers.
            connection.exec_driver_sql("SET session_replication_role = replica")
            connection.exec_driver_sql("SET synchronous_commit = off")
        for table in tables:
            columns, values = _TABLES[table]
            # Two users and memberships per couple: seat 1 (s = 1) and seat 2 (s = 0).
            for s in (1, 0) if "{s}" in values else (None,):
                for lo, hi, params, since, next_at in ranges:
                    if lo > hi:
                        continue
                    only_slow = table in ("checkin_rounds", "checkin_participations")
                    if only_slow and lo <= population.due:
                        continue
                    where = f" WHERE i % {population.open_round_every} = 0" if only_slow else ""
                    sql = _text(
                        f"{prefix}INSERT INTO {table} ({columns}) "
                        f"SELECT {values.format(s=s)} FROM {source}{where}"
                    )
                    wanted = {
                        "lo": lo,
                        "hi": hi,
                        "pw": PASSWORD_HASH,
                        "created": created,
                        "since": since,
                        "next": next_at,
                        "params": params,
                        "empty": [],
                        "opened": population.now - dt.timedelta(days=3),
                        "due_at": population.now + dt.timedelta(days=2),
                        "remind_at": population.now + dt.timedelta(days=1),
                    }
                    connection.execute(sql, _present(sql, wanted))
        if dialect == "postgresql":
            connection.exec_driver_sql("SET session_replication_role = DEFAULT")
            for table, column in (
                ("users", "id"),
                ("couples", "id"),
                ("memberships", "id"),
                ("agreements", "id"),
                ("agreement_versions", "id"),
                ("checkin_rounds", "id"),
                ("checkin_participations", "id"),
            ):
                connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                    f"(SELECT coalesce(max({column}), 1) FROM {table}))"
                )
    if dialect == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")


def _at_head(engine: Engine) -> bool:
    """True when the database's schema is the newest migration's. An older one is built
    again rather than upgraded: an upgrade's backfills (perf_0003 makes every open
    round's reminder note due at once, say) would make it a different population."""
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    url = engine.url.render_as_string(hide_password=False)
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() == head


def _matches(engine: Engine, population: Population) -> bool:
    """True when the database holds exactly this population, untouched by a planner, in
    the newest schema."""
    _dp, _ds, _dn, _op, _os, other_next = population.schedules()
    checks = {
        "SELECT count(*) FROM couples": population.couples,
        "SELECT count(*) FROM users": 2 * population.couples,
        "SELECT count(*) FROM memberships": 2 * population.couples,
        "SELECT count(*) FROM agreement_versions": population.couples,
        "SELECT count(*) FROM checkin_plans WHERE next_check_at <= :now": population.due,
        "SELECT count(*) FROM checkin_plans WHERE next_check_at = :other": (
            population.couples - population.due
        ),
        "SELECT count(*) FROM checkin_rounds WHERE origin = 'manual'": population.open_rounds,
        "SELECT count(*) FROM checkin_rounds WHERE origin = 'schedule'": 0,
        "SELECT count(*) FROM checkin_participations WHERE remind_at > :now": (
            2 * population.open_rounds
        ),
        "SELECT count(*) FROM outbox": 0,
    }
    try:
        if not _at_head(engine):
            return False
        with engine.connect() as connection:
            for sql, expected in checks.items():
                statement = _text(sql)
                params = {"now": population.now, "other": other_next}
                got = connection.execute(statement, _present(statement, params)).scalar()
                if got != expected:
                    return False
    except Exception:
        return False
    return True


def postgres_url(name: str) -> str:
    return str(make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False))


def ensure(
    name: str,
    population: Population,
    *,
    dialect: str = "postgresql",
    sqlite_dir: str = "/tmp",
    reuse: bool = True,
    mail_any_time: bool = False,
    log=print,  # type: ignore[no-untyped-def]
) -> str:
    """The URL of a database holding ``population``; built unless a matching one exists.

    PostgreSQL: database ``name`` on the local server; SQLite: ``<sqlite_dir>/<name>.db``.
    """
    url = postgres_url(name) if dialect == "postgresql" else f"sqlite:///{sqlite_dir}/{name}.db"
    if reuse:
        engine = make_engine(url)
        try:
            if _matches(engine, population):
                log(f"  reusing {name} ({population.couples:,} couples)")
                return url
        finally:
            engine.dispose()
    started = time.perf_counter()
    log(f"  building {name}: {population.couples:,} couples, {population.due:,} due ...")
    if dialect == "postgresql":
        admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
    else:
        from pathlib import Path

        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite_dir}/{name}.db{suffix}").unlink(missing_ok=True)
    upgrade(url)
    engine = make_engine(url)
    try:
        populate(engine, population, mail_any_time=mail_any_time)
        assert _matches(engine, population), "the generated population does not check out"
    finally:
        engine.dispose()
    log(f"  built {name} in {time.perf_counter() - started:.1f} s")
    return url


def drop(name: str) -> None:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def reset(url: str, population: Population) -> None:
    """Undo a real planning and dispatch pass (the rounds it opened, mail, sign-in links,
    plan notes), so the next run finds the same couples due."""
    _dp, _ds, due_next, _op, _os, other_next = population.schedules()
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("DELETE FROM checkin_rounds WHERE origin = 'schedule'")
            for table in ("outbox", "one_time_tokens", "scheduler_passes"):
                connection.exec_driver_sql(f"DELETE FROM {table}")
            statement = _text(
                "UPDATE checkin_plans SET next_check_at = "
                "CASE WHEN couple_id <= :due THEN :since ELSE :next END"
            )
            connection.execute(
                statement, {"due": population.due, "since": due_next, "next": other_next}
            )
        assert _matches(engine, population), "reset did not restore the population"
    finally:
        engine.dispose()
