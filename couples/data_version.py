"""A couple's data version: a number on the couple's row that moves on in the same
transaction as anything written about the couple, so what a page computed from the
couple's data can be kept (:class:`Kept`: the trends page, what of the charter came back in
a round) and reused for as long as the number has not moved, in every process at once.

Nothing has to remember to move it:

- every row the ORM flushes is traced to its couple: its own ``couple_id``, or the parent
  a package names with :func:`belongs_to` (an answer to its sheet, a sheet to its round);
  classes that are not about a couple's shared life are left out with :func:`not_couple_data`;
  ``tests/test_data_version.py`` holds that every table hanging off a couple is one or the
  other;
- a statement written without the ORM (the planner's bulk inserts, erasure) names its
  couples with :func:`changed`.

The number moves when the transaction commits, as its last statement, so that the couple's
row is locked only for that moment and always after every other row (no lock cycles with
the round locks taken before).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar

from sqlalchemy import event, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from couples.models import Couple
from infra.settings import get_settings

CHANGED = "tend_couples_changed"  # session.info key: couple ids written in this transaction

_PARENTS: dict[type, tuple[InstrumentedAttribute[Any], type]] = {}
_NOT_COUPLE_DATA: set[type] = set()

VersionKey = tuple[int, dt.datetime, int]
T = TypeVar("T")


def belongs_to(reference: InstrumentedAttribute[Any], parent: type) -> None:
    """Rows of ``reference``'s class belong to the couple of the ``parent`` row it names
    (``belongs_to(Participation.round_id, Round)``)."""
    _PARENTS[reference.class_] = (reference, parent)


def not_couple_data(*classes: type) -> None:
    """Rows of these classes never change what a couple's pages show (a planner's note,
    a draft in progress)."""
    _NOT_COUPLE_DATA.update(classes)


def changed(session: Session, couple_ids: Iterable[int]) -> None:
    """A statement outside the ORM wrote these couples' data in this transaction."""
    session.info.setdefault(CHANGED, set()).update(couple_ids)


def version_key(couple: Couple) -> VersionKey:
    """What a cache of the couple's pages is keyed on. ``created_at`` tells a new couple
    from a deleted one whose id SQLite gave out again."""
    return (couple.id, couple.created_at, couple.data_version)


def is_tracked(cls: type) -> bool:
    """Whether a flushed row of ``cls`` moves its couple's version."""
    if cls in _NOT_COUPLE_DATA:
        return False
    return cls is Couple or cls in _PARENTS or "couple_id" in _columns(cls)


def _columns(cls: type) -> Any:
    return cls.__table__.c  # type: ignore[attr-defined]


def _couples_of(session: Session, cls: type, ids: set[Any]) -> set[int]:
    """The couples of the ``cls`` rows with these ids, up the :func:`belongs_to` chain."""
    ids.discard(None)
    if not ids:
        return set()
    if "couple_id" in _columns(cls):
        query = select(cls.couple_id).where(cls.id.in_(ids))  # type: ignore[attr-defined]
        return set(session.connection().scalars(query))
    reference, parent = _PARENTS[cls]
    query = select(reference).where(cls.id.in_(ids))  # type: ignore[attr-defined]
    return _couples_of(session, parent, set(session.connection().scalars(query)))


@event.listens_for(Session, "after_flush")
def _note_flushed(session: Session, _flush_context: object) -> None:
    found: set[int] = set()
    parents: dict[type, set[Any]] = defaultdict(set)
    for obj in (*session.new, *session.dirty, *session.deleted):
        cls = type(obj)
        if not is_tracked(cls):
            continue
        if cls is Couple:
            found.add(obj.id)
        elif cls in _PARENTS:
            reference, parent = _PARENTS[cls]
            parents[parent].add(getattr(obj, reference.key))
        else:
            found.add(obj.couple_id)
    for parent, ids in parents.items():
        found |= _couples_of(session, parent, ids)
    found.discard(None)  # type: ignore[arg-type]
    if found:
        changed(session, found)


@event.listens_for(Session, "before_commit")
def _move_versions(session: Session) -> None:
    session.flush()  # the rows still pending are noted too (commit would flush them next)
    ids = session.info.pop(CHANGED, None)
    if ids:
        session.connection().execute(
            update(Couple.__table__)
            .where(Couple.__table__.c.id.in_(sorted(ids)))
            .values(data_version=Couple.__table__.c.data_version + 1)
        )


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(CHANGED, None)


class StaleKept(AssertionError):
    """A kept value differed from the one computed again (``TEND_VERIFY_KEPT``, on in the
    test suite): a write did not move the couple's data version."""


class Kept(Generic[T]):
    """Values computed from one couple's data, reused in this process while the couple's
    version stands still; the least recently used go first beyond ``size``. Keys name
    everything else the value depends on (the viewer, the minute). What is returned is
    shared: read it, never change it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: OrderedDict[tuple[VersionKey, Hashable], T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session: Session, couple: Couple, key: Hashable, compute: Callable[[], T]) -> T:
        # A transaction that wrote reads its own rows, which the version does not yet say.
        if session.info.get(CHANGED) or session.new or session.dirty or session.deleted:
            return compute()
        full_key = (version_key(couple), key)
        with self._lock:
            kept = self._values.get(full_key, _MISSING)
            if kept is not _MISSING:
                self._values.move_to_end(full_key)
        if kept is not _MISSING and not get_settings().verify_kept:
            return kept  # type: ignore[return-value]
        fresh = compute()
        if kept is not _MISSING and kept != fresh:
            raise StaleKept(f"the value kept for {full_key} differs from the data now")
        with self._lock:
            self._values[full_key] = fresh
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return fresh


_MISSING = object()
