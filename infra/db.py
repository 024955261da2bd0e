"""Engine, sessions and the declarative base shared by every domain package."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored as UTC and always read back timezone-aware.

    SQLite has no time zone type; without this, values would come back naive there and
    aware on PostgreSQL, and comparisons would differ between the two.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_engine(url: str, **kwargs: Any) -> Engine:
    # Bound values are what people wrote (answers, notes): never in a log line or an
    # error message, even when an operator turns SQL logging on to debug.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take over transaction control from pysqlite so BEGIN is emitted when SQLAlchemy
    # begins, not lazily before the first write (which breaks read-then-write atomicity).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_on_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front. A deferred transaction that reads, then
    # writes after another process committed, fails at once with "database is locked"
    # (its WAL snapshot is stale, so waiting cannot help); one that starts IMMEDIATE
    # waits its turn (busy_timeout) instead. Nearly every unit of work in Tend reads
    # then writes (a page touching its session, a sign-in recording a failure) while
    # the scheduler process writes too, so IMMEDIATE is the default; readers in other
    # connections are not blocked by it under WAL.
    if connection.get_execution_options().get("tend_immediate"):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    return make_engine(url)


def get_engine() -> Engine:
    from infra.settings import get_settings

    return engine_for(get_settings().database_url)


@lru_cache(maxsize=8)
def _sessionmaker_for(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine | None = None, *, immediate: bool = True) -> Iterator[Session]:
    """One unit of work: commits on success, rolls back on any error.

    ``immediate``: on SQLite, take the write lock when the transaction begins, so a
    read-then-write cannot fail on a snapshot another process made stale; pass False
    for pure reads that must not wait for writers. No effect on PostgreSQL.
    """
    factory = _sessionmaker_for(engine or get_engine())
    with factory() as session, session.begin():
        if immediate:
            session.connection(execution_options={"tend_immediate": True})
        yield session
