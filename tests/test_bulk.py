"""infra.bulk: one statement per table (``unnest`` arrays on PostgreSQL) writes what a
Core insert or update with the same rows writes, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import StatementError

from infra import bulk
from notifications.models import OutboxMessage

OUTBOX = OutboxMessage.__table__
# Quotes, backslashes, braces, commas and non-ASCII: what an array literal must escape.
TRICKY = 'Zoë "Z" O\'Neil, {a\\b}'


def _rows(prefix: str, now: dt.datetime) -> list[dict]:
    return [
        {
            "kind": "round_opened",
            "dedupe_key": f"{prefix}:{i}",
            "recipient_user_id": None,
            "to_address": f"p{i}@example.org",
            "context": {"name": TRICKY, "round_id": i, "nested": [1, None, {"x": "y"}]},
            "secret": None if i % 2 else "s3cret",
            "send_after": now + dt.timedelta(minutes=i),
        }
        for i in range(3)
    ]


def _stored(s, keys: list[str]) -> list[tuple]:  # type: ignore[no-untyped-def]
    rows = s.execute(
        select(
            OutboxMessage.kind,
            OutboxMessage.recipient_user_id,
            OutboxMessage.to_address,
            OutboxMessage.context,
            OutboxMessage.secret,
            OutboxMessage.send_after,
            OutboxMessage.status,
            OutboxMessage.attempts,
            OutboxMessage.message_id,
            OutboxMessage.created_at.is_not(None),
        )
        .where(OutboxMessage.dedupe_key.in_(keys))
        .order_by(OutboxMessage.dedupe_key)
    )
    return [tuple(r) for r in rows]


def test_insert_rows_writes_what_a_core_insert_writes(tx, now) -> None:
    with tx() as s:
        written, returned = bulk.insert_rows(
            s, OUTBOX, _rows("bulk", now), returning=("id", "dedupe_key")
        )
        s.execute(insert(OUTBOX), _rows("core", now))
    assert written == 3 and sorted(key for _id, key in returned) == ["bulk:0", "bulk:1", "bulk:2"]
    with tx() as s:
        by_bulk = _stored(s, ["bulk:0", "bulk:1", "bulk:2"])
        by_core = _stored(s, ["core:0", "core:1", "core:2"])
        assert by_bulk == by_core and len(by_bulk) == 3
        # The column defaults a row leaves out apply (status, attempts, message id, created).
        assert by_bulk[0][6:] == ("pending", 0, "", True)
        assert by_bulk[0][3]["name"] == TRICKY and by_bulk[1][4] is None
        ids = dict(s.execute(select(OutboxMessage.dedupe_key, OutboxMessage.id)).all())
        assert {key: ids[key] for _id, key in returned} == {key: id_ for id_, key in returned}


def test_insert_rows_skips_conflicts_and_returns_only_the_rows_written(tx, now) -> None:
    with tx() as s:
        s.execute(insert(OUTBOX), [{**_rows("k", now)[1], "to_address": "first@example.org"}])
    with tx() as s:
        written, returned = bulk.insert_rows(
            s, OUTBOX, _rows("k", now), skip_conflicts=True, returning=("dedupe_key",)
        )
        assert written == 2 and sorted(key for (key,) in returned) == ["k:0", "k:2"]
    with tx() as s:
        addresses = dict(
            s.execute(select(OutboxMessage.dedupe_key, OutboxMessage.to_address)).all()
        )
        assert addresses == {
            "k:0": "p0@example.org",
            "k:1": "first@example.org",  # the row already there is untouched
            "k:2": "p2@example.org",
        }
    with pytest.raises(Exception), tx() as s:  # noqa: B017 (IntegrityError, either driver)
        bulk.insert_rows(s, OUTBOX, _rows("k", now))


def test_a_naive_moment_is_refused_on_both_paths(tx, now) -> None:
    rows = _rows("naive", now)
    rows[2]["send_after"] = now.replace(tzinfo=None)
    with pytest.raises((ValueError, StatementError)), tx() as s:
        bulk.insert_rows(s, OUTBOX, rows)


def test_update_rows_and_among(tx, now) -> None:
    with tx() as s:
        _n, returned = bulk.insert_rows(s, OUTBOX, _rows("u", now), returning=("id",))
        ids = sorted(id_ for (id_,) in returned)
    later = now + dt.timedelta(days=1)
    with tx() as s:
        bulk.update_rows(
            s,
            OUTBOX,
            "id",
            [
                {"id": ids[0], "status": "sent", "send_after": later},
                {"id": ids[2], "status": "dead", "send_after": later},
            ],
        )
        bulk.update_rows(s, OUTBOX, "id", [{"id": ids[1], "attempts": 2}])  # one row
        bulk.insert_rows(s, OUTBOX, _rows("one", now)[:1])
        s.execute(insert(OUTBOX), _rows("core", now)[:1])
    with tx() as s:
        got = dict(
            s.execute(
                select(OutboxMessage.id, OutboxMessage.status).where(
                    bulk.among(s, OutboxMessage.id, [ids[0], ids[2], 999_999])
                )
            ).all()
        )
        assert got == {ids[0]: "sent", ids[2]: "dead"}
        assert s.get(OutboxMessage, ids[1]).status == "pending"  # type: ignore[union-attr]
        assert s.get(OutboxMessage, ids[1]).attempts == 2  # type: ignore[union-attr]
        assert _stored(s, ["one:0"]) == _stored(s, ["core:0"]) != []
        assert s.get(OutboxMessage, ids[2]).send_after == later  # type: ignore[union-attr]
        assert (
            s.scalars(select(OutboxMessage.id).where(bulk.among(s, OutboxMessage.id, []))).all()
            == []
        )
