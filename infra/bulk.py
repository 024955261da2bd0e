"""Many rows in one statement per table, and id lists as one parameter.

The planning sweep writes a batch's rows to several tables and reads a batch's facts by
id. Row by row (executemany, even pipelined) PostgreSQL parses, plans and runs one
INSERT per row, and psycopg converts every row's parameters; an ``IN`` list of 200 ids
is a new 200-parameter statement for the driver to parse. On PostgreSQL these helpers
send one statement with one array per column instead:

- :func:`insert_rows`: ``INSERT INTO t (cols) SELECT ... FROM unnest(:col1, :col2, ...)``
- :func:`update_rows`: ``UPDATE t SET ... FROM (SELECT ... FROM unnest(...)) WHERE t.key = v.key``
- :func:`among`: ``column = ANY(:array)`` instead of ``column IN (:1, ..., :n)``

The arrays go in psycopg's binary format (its text format escapes every element, ten
times slower for JSON), and a column with one value for every row goes as one
parameter, not an array.

Elsewhere (SQLite) they take the portable path: Core statements with a list of rows
(SQLAlchemy's multi-row "insertmanyvalues"), and ``IN``. Both paths apply each column's
type to its values (``UTCDateTime`` refuses naive moments on both) and its Python-side
default when a row leaves it out, as a Core insert does.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, ColumnElement, Row, Table, any_, bindparam, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnClause


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def among(
    session: Session, column: ColumnClause[Any], values: Collection[Any]
) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL ``column = ANY(:values)``: one array parameter,
    so the statement is the same text whatever the number of values."""
    if _is_postgresql(session):
        return column == any_(
            bindparam(None, list(values), type_=postgresql.ARRAY(column.type, dimensions=1))
        )
    return column.in_(list(values))


def _array_type(column: ColumnClause[Any], dialect: Dialect) -> str:
    return f"{column.type.compile(dialect=dialect)}[]"


def _values(column: ColumnClause[Any], dialect: Dialect, values: list[Any]) -> list[Any]:
    """The column's type applied to each value, as a Core statement would bind it; JSON
    as its text (cast by the statement), which psycopg sends far faster than its
    ``Json`` wrappers."""
    if isinstance(column.type, JSON):
        serialize = getattr(dialect, "_json_serializer", None) or json.dumps
        return [None if v is None and column.type.none_as_null else serialize(v) for v in values]
    process = column.type._cached_bind_processor(dialect)
    return [process(v) for v in values] if process is not None else values


def _defaults(table: Table, given: Sequence[str]) -> dict[str, Any]:
    """Python-side defaults of the columns the rows leave out (evaluated once for all)."""
    out = {}
    for column in table.columns:
        default = column.default
        if column.name in given or default is None:
            continue
        if default.is_scalar:
            out[column.name] = default.arg
        elif default.is_callable:
            out[column.name] = default.arg(None)
        else:  # a SQL expression or a sequence: not needed here yet
            raise NotImplementedError(f"default of {table.name}.{column.name}")
    return out


def _split(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> tuple[list[str], list[str]]:
    """(columns whose values differ between rows, columns with one value for all): the
    first go as arrays, the others as one parameter each (less to send and convert).
    At least one column goes as an array: its length is the number of rows."""
    first = rows[0]
    varying = [c for c in columns if any(row[c] != first[c] for row in rows)]
    same = [c for c in columns if c not in varying]
    if not varying:
        varying.append(same.pop(0))
    return varying, same


def _unnest(table: Table, dialect: Dialect, varying: Sequence[str], same: Sequence[str]) -> str:
    """``SELECT <varying columns, then the same ones> FROM unnest(<arrays>) AS u``: an
    array ``%(a<i>)b`` per varying column, a parameter ``%(s<i>)b`` per other one."""
    arrays = ", ".join(
        f"CAST(%(a{i})b AS {_array_type(table.c[name], dialect)})" for i, name in enumerate(varying)
    )
    aliases = ", ".join(f"c{i}" for i in range(len(varying)))
    selected = [f"u.c{i}" for i in range(len(varying))] + [
        f"CAST(%(s{i})b AS {table.c[name].type.compile(dialect=dialect)})"
        for i, name in enumerate(same)
    ]
    return f"SELECT {', '.join(selected)} FROM unnest({arrays}) AS u({aliases})"


def _params(
    table: Table,
    dialect: Dialect,
    rows: Sequence[dict[str, Any]],
    varying: Sequence[str],
    same: dict[str, Any],
) -> dict[str, Any]:
    params = {
        f"a{i}": _values(table.c[name], dialect, [row[name] for row in rows])
        for i, name in enumerate(varying)
    }
    for i, (name, value) in enumerate(same.items()):
        params[f"s{i}"] = _values(table.c[name], dialect, [value])[0]
    return params


@lru_cache(maxsize=64)
def _insert_sql(
    table: Table,
    varying: tuple[str, ...],
    same: tuple[str, ...],
    dialect: Dialect,
    skip_conflicts: bool,
    returning: tuple[str, ...],
) -> str:
    quote = dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in varying + same)}) "
        + _unnest(table, dialect, varying, same)
    )
    if skip_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += f" RETURNING {', '.join(quote(c) for c in returning)}"
    return sql


def insert_rows(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    skip_conflicts: bool = False,
    returning: Sequence[str] = (),
) -> tuple[int, list[Row[Any]]]:
    """Insert ``rows`` (dicts with the same keys) into ``table``: on PostgreSQL one
    ``INSERT ... SELECT FROM unnest(arrays)``, elsewhere a Core insert with the list.

    ``skip_conflicts``: a row that would break a unique key is left out (``ON CONFLICT
    DO NOTHING``), the others go in. Returns (rows written, the ``returning`` columns of
    the rows written). The caller flushes the session first if it holds pending objects
    these rows depend on (a query does)."""
    if not rows:
        return 0, []
    columns = tuple(rows[0])
    if not _is_postgresql(session):
        insert_ = sqlite.insert if skip_conflicts else insert
        statement = insert_(table)
        if skip_conflicts:
            statement = statement.on_conflict_do_nothing()  # type: ignore[attr-defined]
        if returning:
            statement = statement.returning(*(table.c[c] for c in returning))
            got = session.execute(statement, list(rows)).all()
            return len(got), list(got)
        result = session.execute(statement, list(rows))
        return result.rowcount, []  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect
    varying, same = _split(rows, columns)
    constants = {name: rows[0][name] for name in same} | _defaults(table, columns)
    sql = _insert_sql(
        table, tuple(varying), tuple(constants), dialect, skip_conflicts, tuple(returning)
    )
    params = _params(table, dialect, rows, varying, constants)
    result = session.connection().exec_driver_sql(sql, params)
    if returning:
        got = result.all()
        return len(got), list(got)
    return result.rowcount, []  # type: ignore[attr-defined]


@lru_cache(maxsize=16)
def _update_sql(
    table: Table, key: str, varying: tuple[str, ...], same: tuple[str, ...], dialect: Dialect
) -> str:
    quote = dialect.identifier_preparer.quote
    names = varying + same
    sets = ", ".join(f"{quote(name)} = v.{quote(name)}" for name in names if name != key)
    t = quote(table.name)
    return (
        f"UPDATE {t} SET {sets} FROM ({_unnest(table, dialect, varying, same)}) "
        f"AS v({', '.join(quote(n) for n in names)}) WHERE {t}.{quote(key)} = v.{quote(key)}"
    )


def update_rows(session: Session, table: Table, key: str, rows: Sequence[dict[str, Any]]) -> None:
    """Set the other columns of each row where ``table.key`` equals the row's ``key``
    (each key once): on PostgreSQL one ``UPDATE ... FROM unnest(arrays)``, elsewhere a
    Core ``UPDATE`` with the list."""
    if not rows:
        return
    columns = tuple(c for c in rows[0] if c != key)
    if not _is_postgresql(session):
        session.execute(
            update(table)
            .where(table.c[key] == bindparam("_key"))
            .values({c: bindparam(f"_v_{c}") for c in columns}),
            [{"_key": row[key], **{f"_v_{c}": row[c] for c in columns}} for row in rows],
        )
        return
    dialect = session.get_bind().dialect
    varying, same = _split(rows, (key, *columns))
    if key not in varying:  # a single row: the key goes as the array
        varying, same = [key, *varying], [c for c in same if c != key]
    constants = {name: rows[0][name] for name in same}
    sql = _update_sql(table, key, tuple(varying), tuple(constants), dialect)
    session.connection().exec_driver_sql(sql, _params(table, dialect, rows, varying, constants))
