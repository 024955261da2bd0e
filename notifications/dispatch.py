"""Sending what the outbox holds: claim, render, send, record. Safe to run in any
number of processes at once.

How a row is sent once:

- A pass **claims** rows: it writes its own random owner token (``claimed_by``) and a
  lease end (``claimed_until``). On PostgreSQL the candidates are locked with
  ``FOR UPDATE SKIP LOCKED``; on SQLite a compare-and-set UPDATE takes each row.
- **Fenced**: before a message goes to the SMTP server, one UPDATE renews its lease
  ``WHERE id = :id AND status = 'sending' AND claimed_by = :owner`` and the pass sends
  only if that matched one row. The check and the renewal are one statement, so a pass
  whose lease ran out and whose row another pass has taken (even one that has not
  committed yet: PostgreSQL re-checks the WHERE after the lock wait) stops before any
  byte goes out. Every later write (sent, failed, released) is fenced the same way.
- **Kept alive**: while a pass holds claims, a :class:`LeaseKeeper` thread renews the
  lease of all of them every third of TEND_OUTBOX_LEASE_SECONDS, so a send that takes
  longer than the lease (a slow server, TEND_SMTP_TIMEOUT per SMTP operation) is not
  taken over. If the keeper finds the row in flight taken, or cannot renew (the database
  is unreachable) and the lease is about to run out, it breaks off the SMTP connection:
  a message whose final "." had not gone out is then never delivered.
- **Recorded at once**: the row is marked sent by one fenced UPDATE right after the
  server's 250 reply, on a connection taken from the pool before the send (on
  PostgreSQL in autocommit, so recording is one round trip; once the statement has
  reached the server it commits even if this process dies).

What can still send a row twice, both with the same Message-ID (derived from the row):
the process dies (SIGKILL, power cut) after the server has accepted a message and
before that UPDATE commits; or the database is unreachable for a whole lease while the
server is still answering the final "." of the message in flight. A send that times
out may or may not have been accepted; it is retried like any temporary failure.

A server that stops answering mid-session (STALL_AFTER timeouts in a row) ends the pass:
the timed-out rows and the rest of the batch go back to the queue with no attempt
charged, and the pass reports ``stalled``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import TypeVar

from sqlalchemy import Connection, Engine, Row, case, or_, select, update
from sqlalchemy.orm import Session

from infra.db import get_engine, transaction, utcnow
from infra.settings import Settings, get_settings
from notifications import accounts_port, grouping
from notifications.models import (
    DEAD,
    PENDING,
    RETRYING,
    SENDING,
    SENT,
    SKIPPED,
    OutboxMessage,
)
from notifications.preferences import held_back_reason, retry_time
from notifications.rendering import render
from notifications.transports import (
    Transport,
    TransportError,
    TransportTimeout,
    TransportUnavailable,
    transport_for,
)

log = logging.getLogger(__name__)

# Delay before attempt n+1 after n failed attempts; after the last, the row is dead.
# 1 min, 5 min, 30 min, 2 h, 6 h, 12 h: about 21 hours from first try to dead.
BACKOFF = (
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=6),
    dt.timedelta(hours=12),
)
MAX_ATTEMPTS = len(BACKOFF) + 1

# Consecutive send timeouts after which a pass concludes the server has stalled (it
# greets, then stops answering) and stops, charging no attempt. One or two timeouts
# followed by an answer are charged: they may be about those messages.
STALL_AFTER = 3

# Set by the scheduler's SIGTERM handler: the pass finishes the message in flight,
# hands its other claims back and returns.
STOP = threading.Event()

LOST = "lost-claim"  # another pass holds the row now; this one leaves it alone

T = TypeVar("T")


def lease(settings: Settings) -> dt.timedelta:
    return dt.timedelta(seconds=settings.outbox_lease_seconds)


@dataclass
class DispatchReport:
    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    dead: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    # Why the pass stopped early without using up attempts (SMTP server unreachable).
    unreachable: str | None = None
    # Why the pass stopped after STALL_AFTER timeouts in a row (no attempts used up).
    stalled: str | None = None
    stopped: bool = False

    @property
    def found_work(self) -> bool:
        return bool(self.sent or self.retrying or self.dead or self.skipped)


def _due(now: dt.datetime):  # type: ignore[no-untyped-def]
    return or_(
        (OutboxMessage.status.in_((PENDING, RETRYING))) & (OutboxMessage.send_after <= now),
        # A claim whose process died: its lease ran out, so it is anyone's again.
        (OutboxMessage.status == SENDING) & (OutboxMessage.claimed_until <= now),
    )


def _held(owner: str, *ids: int):  # type: ignore[no-untyped-def]
    """The fence: rows this pass still holds (one row, some rows, or all of them)."""
    condition = (OutboxMessage.status == SENDING) & (OutboxMessage.claimed_by == owner)
    if len(ids) == 1:
        return condition & (OutboxMessage.id == ids[0])
    if ids:
        return condition & OutboxMessage.id.in_(ids)
    return condition


def _fenced_update(session: Session, owner: str, ids: tuple[int, ...], **values: object) -> int:
    result = session.execute(
        update(OutboxMessage)
        .where(_held(owner, *ids))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


class LeaseKeeper(threading.Thread):
    """Renews the lease of every row a pass holds, every third of the lease, while the
    pass runs; breaks off the send in flight when its row is lost or the lease is about
    to run out unrenewed. The pass and the keeper take turns at the database (``db``),
    so their updates of the same rows never wait on each other."""

    def __init__(
        self,
        engine: Engine,
        owner: str,
        settings: Settings,
        transport: Transport,
        *,
        start: dt.datetime,
    ):
        super().__init__(name=f"outbox-lease-{owner[:8]}", daemon=True)
        self.engine = engine
        self.owner = owner
        self.transport = transport
        self.length = lease(settings)
        self.interval = self.length.total_seconds() / 3
        self.db = threading.Lock()
        self.in_flight: tuple[int, ...] | None = None  # the rows of the mail being sent
        self.aborted: str | None = None  # why the send in flight was broken off
        self._start_at = start
        self._start_clock = time.monotonic()
        # Monotonic time by which every held row's lease has been renewed at least.
        self._valid_until = self._start_clock + self.length.total_seconds()
        self._finished = threading.Event()

    def clock(self) -> dt.datetime:
        """The pass's time: its start (real or given) plus the time elapsed since."""
        return self._start_at + dt.timedelta(seconds=time.monotonic() - self._start_clock)

    def locked(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        with self.db:
            return fn(*args, **kwargs)

    def run(self) -> None:
        while not self._finished.wait(self.interval):
            self.renew()

    def renew(self) -> None:
        began = time.monotonic()
        in_flight = self.in_flight
        try:
            with self.db, transaction(self.engine, immediate=True) as session:
                until = self.clock() + self.length
                _fenced_update(session, self.owner, (), claimed_until=until)
                still_held = in_flight is None or len(
                    session.scalars(
                        select(OutboxMessage.id).where(_held(self.owner, *in_flight))
                    ).all()
                ) == len(in_flight)
        except Exception:
            log.exception("outbox: could not renew the lease of pass %s", self.owner[:8])
            # No renewal before the next try would leave too little of the lease.
            if self._valid_until - time.monotonic() < self.interval + 1:
                self._abort(in_flight, "the lease could not be renewed")
            return
        self._valid_until = began + self.length.total_seconds()
        if not still_held:
            self._abort(in_flight, "another pass holds the row now")

    def _abort(self, row_ids: tuple[int, ...] | None, why: str) -> None:
        if row_ids is not None and self.in_flight == row_ids:
            log.warning("outbox %s: breaking off the send: %s", list(row_ids), why)
            self.aborted = why
            self.transport.abort()

    def finish(self) -> None:
        self._finished.set()
        if self.is_alive():
            self.join()


@contextmanager
def _in_flight(keeper: LeaseKeeper | None, row_ids: tuple[int, ...]) -> Iterator[None]:
    if keeper is not None:
        keeper.in_flight = row_ids
        keeper.aborted = None
    try:
        yield
    finally:
        if keeper is not None:
            keeper.in_flight = None


def _locked(keeper: LeaseKeeper | None, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    return keeper.locked(fn, *args, **kwargs) if keeper is not None else fn(*args, **kwargs)


def claim_batch(
    engine: Engine,
    *,
    now: dt.datetime,
    limit: int = 50,
    owner: str,
    settings: Settings | None = None,
) -> list[int]:
    """Claim up to ``limit`` due rows for ``owner`` and return their ids, and with them
    the other due prompts of the people those rows are for (one person's mails go out
    as one, ``notifications.grouping``).

    PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED, so concurrent passes take disjoint
    rows without waiting. SQLite (one writer at a time): a compare-and-set UPDATE per row;
    zero rows updated means another process got there first.
    """
    settings = settings or get_settings()
    with transaction(engine, immediate=True) as session:
        query = (
            select(OutboxMessage.id, OutboxMessage.status, OutboxMessage.claimed_until)
            .where(_due(now))
            .order_by(OutboxMessage.send_after, OutboxMessage.id)
            .limit(limit)
        )
        postgres = engine.dialect.name == "postgresql"
        if postgres:
            query = query.with_for_update(skip_locked=True)
        claimed = _take(session, session.execute(query).all(), now, owner, settings)
        claimed += _take_companions(session, claimed, now, owner, settings, postgres=postgres)
    return claimed


def _take(
    session: Session,
    candidates: Sequence[Row[tuple[int, str, dt.datetime | None]]],
    now: dt.datetime,
    owner: str,
    settings: Settings,
) -> list[int]:
    """Claim each candidate (id, status, claimed_until) unless it changed meanwhile."""
    claimed: list[int] = []
    for row_id, status, claimed_until in candidates:
        result = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == row_id,
                OutboxMessage.status == status,
                (OutboxMessage.claimed_until == claimed_until)
                if claimed_until is not None
                else OutboxMessage.claimed_until.is_(None),
            )
            .values(
                status=SENDING,
                claimed_until=now + lease(settings),
                claimed_by=owner,
                attempts=OutboxMessage.attempts + 1,
            )
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(row_id)
    return claimed


def _take_companions(
    session: Session,
    claimed: list[int],
    now: dt.datetime,
    owner: str,
    settings: Settings,
    *,
    postgres: bool,
) -> list[int]:
    """The other due prompts of the people whose prompts were just claimed, claimed too
    (in the same transaction), so that what is due for one person goes out as one mail
    even when a batch's limit would have split it (``notifications.grouping``)."""
    kinds = grouping.groupable_kinds()
    if not claimed or not kinds:
        return []
    recipients = set(
        session.scalars(
            select(OutboxMessage.recipient_user_id).where(
                OutboxMessage.id.in_(claimed),
                OutboxMessage.kind.in_(kinds),
                OutboxMessage.recipient_user_id.is_not(None),
            )
        )
    )
    if not recipients:
        return []
    query = (
        select(OutboxMessage.id, OutboxMessage.status, OutboxMessage.claimed_until)
        .where(
            _due(now),
            OutboxMessage.kind.in_(kinds),
            OutboxMessage.recipient_user_id.in_(recipients),
            OutboxMessage.id.not_in(claimed),
        )
        .order_by(OutboxMessage.send_after, OutboxMessage.id)
    )
    if postgres:
        query = query.with_for_update(skip_locked=True)
    return _take(session, session.execute(query).all(), now, owner, settings)


def claim_groups(
    engine: Engine,
    *,
    now: dt.datetime,
    limit: int = 50,
    owner: str,
    settings: Settings | None = None,
) -> list[tuple[int, ...]]:
    """:func:`claim_batch`, the claimed rows then grouped: each tuple is one mail."""
    ids = claim_batch(engine, now=now, limit=limit, owner=owner, settings=settings)
    if not ids:
        return []
    with transaction(engine) as session:
        found = {
            row.id: grouping.Row(row.id, row.kind, row.recipient_user_id, row.to_address)
            for row in session.execute(
                select(
                    OutboxMessage.id,
                    OutboxMessage.kind,
                    OutboxMessage.recipient_user_id,
                    OutboxMessage.to_address,
                ).where(OutboxMessage.id.in_(ids))
            )
        }
    return grouping.groups(found[i] for i in ids if i in found)


def release(engine: Engine, ids: list[int], owner: str, *, error: str | None = None) -> None:
    """Hand back claims this pass did not use, without counting an attempt. Fenced:
    a row another pass has taken meanwhile is left alone."""
    if not ids:
        return
    values: dict[str, object] = {
        # Compared with the attempts before this claim counted one.
        "status": case((OutboxMessage.attempts > 1, RETRYING), else_=PENDING),
        "attempts": case((OutboxMessage.attempts > 0, OutboxMessage.attempts - 1), else_=0),
        "claimed_until": None,
        "claimed_by": None,
    }
    if error is not None:
        values["last_error"] = error
    with transaction(engine, immediate=True) as session:
        _fenced_update(session, owner, tuple(ids), **values)


def _record_failure(
    engine: Engine,
    row_id: int,
    owner: str,
    *,
    attempts: int,
    error: TransportError,
    at: dt.datetime,
) -> str:
    """A failed attempt, charged: retry after the backoff, or dead. Returns the status.

    A reminder's retry is pushed out of its recipient's quiet hours (``retry_time``:
    one query, in the transaction of the fenced UPDATE); other mails keep the backoff."""
    # The secret stays on a dead row so that `tend outbox retry` can still send a link.
    dead = error.permanent or attempts >= MAX_ATTEMPTS
    if dead:
        log.warning("outbox %s dead after %s attempts: %s", row_id, attempts, error)
    else:
        log.info("outbox %s: attempt %s failed, retrying: %s", row_id, attempts, error)
    with transaction(engine, immediate=True) as session:
        status = DEAD if dead else RETRYING
        values = (
            {} if dead else {"send_after": retry_time(session, row_id, at + BACKOFF[attempts - 1])}
        )
        matched = _fenced_update(
            session,
            owner,
            (row_id,),
            status=status,
            last_error=str(error),
            claimed_until=None,
            claimed_by=None,
            **values,
        )
    if not matched:
        log.warning("outbox %s: claim lost before the failure was recorded", row_id)
        return LOST
    return status


@dataclass
class _Prepared:
    email: EmailMessage | None  # None when rendering failed
    attempts: dict[int, int]  # the rows the email carries -> their attempts so far
    error: TransportError | None
    # Rows settled before sending: LOST (another pass holds them), SKIPPED (held back
    # now), or rows whose line in a grouped mail failed to render (-> error, charged).
    done: dict[int, str] = field(default_factory=dict)
    failed: dict[int, tuple[int, TransportError]] = field(default_factory=dict)


def _render_failure(exc: Exception) -> TransportError:
    # A template bug: retrying would fail the same way.
    return TransportError(f"render failed: {exc!r}", permanent=True)


def _prepare(
    engine: Engine,
    row_ids: tuple[int, ...],
    settings: Settings,
    *,
    owner: str,
    at: dt.datetime,
    lease_until: dt.datetime,
) -> _Prepared:
    """The fenced step before sending one mail (one row, or a group of one person's
    rows): renew the lease of the rows this pass still holds, settle those that must not
    go (lost to another pass, held back now), then render what is left."""
    done: dict[int, str] = {}
    with transaction(engine, immediate=True) as session:
        renewed = _fenced_update(session, owner, row_ids, claimed_until=lease_until)
        if not renewed:
            return _Prepared(None, {}, None, dict.fromkeys(row_ids, LOST))
        held = (
            set(row_ids)
            if renewed == len(row_ids)
            else set(session.scalars(select(OutboxMessage.id).where(_held(owner, *row_ids))))
        )
        messages = []
        for row_id in row_ids:
            if row_id not in held:
                done[row_id] = LOST
                continue
            message = session.get(OutboxMessage, row_id)
            assert message is not None
            reason = held_back_reason(session, message, at)
            if reason is not None:
                message.status = SKIPPED
                message.last_error = reason
                message.claimed_until = None
                message.claimed_by = None
                message.secret = None
                done[row_id] = SKIPPED
                continue
            messages.append(message)
        if not messages:
            return _Prepared(None, {}, None, done)
        attempts = {m.id: m.attempts for m in messages}
        try:
            secrets = _sign_in_secrets(session, messages, at)
            if len(messages) == 1:
                [message] = messages
                email = render(message, settings, secret=secrets.get(message.id))
                return _Prepared(email, attempts, None, done)
            grouped = grouping.render_group(messages, settings, secrets)
        except Exception as exc:
            return _Prepared(None, attempts, _render_failure(exc), done)
        failed = {
            row_id: (attempts.pop(row_id), _render_failure(exc))
            for row_id, exc in grouped.failed.items()
        }
        return _Prepared(grouped.email, attempts, None, done, failed)


def _sign_in_secrets(
    session: Session, messages: list[OutboxMessage], at: dt.datetime
) -> dict[int, str | None]:
    """A single-use sign-in link for each row planned with a sign-in target, issued now
    so its short lifetime starts when the mail leaves; one per page in a grouped mail."""
    issued: dict[tuple[int, str], str | None] = {}
    secrets: dict[int, str | None] = {}
    for message in messages:
        target = message.context.get("sign_in_target")
        if not target or message.recipient_user_id is None:
            continue
        key = (message.recipient_user_id, str(target))
        if key not in issued:
            issued[key] = accounts_port.issue_sign_in_link(
                session, message.recipient_user_id, str(target), now=at
            )
        secrets[message.id] = issued[key]
    return secrets


class SendTimedOut(Exception):
    """The server did not answer in time; the rows are still claimed by this pass, which
    decides whether the timeout is charged (see dispatch_pending)."""

    def __init__(self, attempts: dict[int, int], error: TransportTimeout, at: dt.datetime) -> None:
        super().__init__(str(error))
        self.attempts = attempts  # the mail's rows -> their attempts
        self.error = error
        self.at = at  # when the attempt began: the backoff counts from there

    @property
    def row_ids(self) -> list[int]:
        return list(self.attempts)


def send_one(
    engine: Engine,
    row_id: int,
    transport: Transport,
    settings: Settings,
    *,
    owner: str,
    now: dt.datetime | None = None,
    keeper: LeaseKeeper | None = None,
) -> str:
    """Send one row this pass has claimed and record the outcome; returns the new
    status (or LOST). Raises TransportUnavailable or SendTimedOut, leaving the claim to
    the caller."""
    return send_group(engine, (row_id,), transport, settings, owner=owner, now=now, keeper=keeper)[
        row_id
    ]


def send_group(
    engine: Engine,
    row_ids: tuple[int, ...],
    transport: Transport,
    settings: Settings,
    *,
    owner: str,
    now: dt.datetime | None = None,
    keeper: LeaseKeeper | None = None,
) -> dict[int, str]:
    """Send the rows this pass has claimed for one mail (one row, or one person's group,
    ``notifications.grouping``) and record the outcome of each; returns row -> status
    (or LOST). The group is sent once and its rows recorded sent in one fenced
    statement: all of them or, if the claim was lost meanwhile, none. Raises
    TransportUnavailable or SendTimedOut, leaving the claims to the caller."""
    at = now or utcnow()
    lease_until = (keeper.clock() if keeper else at) + lease(settings)
    prepared = _locked(
        keeper, _prepare, engine, row_ids, settings, owner=owner, at=at, lease_until=lease_until
    )
    statuses = dict(prepared.done)
    for row_id, (attempts, failure) in prepared.failed.items():
        statuses[row_id] = _locked(
            keeper,
            _record_failure,
            engine,
            row_id,
            owner,
            attempts=attempts,
            error=failure,
            at=at,
        )
    sending = tuple(prepared.attempts)
    if not sending:
        return statuses
    error = prepared.error
    email = prepared.email
    if email is not None:
        message_id = str(email["Message-ID"])
        with _recorder(engine) as recorder:
            try:
                with _in_flight(keeper, sending):
                    transport.send(email)
            except TransportUnavailable:
                raise
            except TransportTimeout as exc:
                raise SendTimedOut(prepared.attempts, exc, at) from exc
            except TransportError as exc:
                error = exc
            else:
                # The server has the message: record it at once, in one fenced statement
                # on a connection opened before the send, so that a crash can resend it
                # only in the moments between the 250 and this commit.
                recorded = _locked(keeper, _record_sent, recorder, sending, owner, message_id)
                return statuses | recorded
        if keeper is not None and keeper.aborted:
            error = TransportError(f"send broken off: {keeper.aborted}", permanent=False)
    assert error is not None
    for row_id, attempts in prepared.attempts.items():
        statuses[row_id] = _locked(
            keeper,
            _record_failure,
            engine,
            row_id,
            owner,
            attempts=attempts,
            error=error,
            at=at,
        )
    return statuses


@contextmanager
def _recorder(engine: Engine) -> Iterator[Connection]:
    """A connection taken from the pool (and pinged) before the send. On PostgreSQL it
    runs in autocommit: the fenced UPDATE is one statement, so it is its own transaction
    and recording a 250 is a single round trip."""
    options: dict[str, object] = (
        {"isolation_level": "AUTOCOMMIT"}
        if engine.dialect.name == "postgresql"
        else {"tend_immediate": True}
    )
    with engine.connect() as connection:
        connection.execution_options(**options)
        yield connection


def _record_sent(
    recorder: Connection, row_ids: tuple[int, ...], owner: str, message_id: str
) -> dict[int, str]:
    statement = (
        update(OutboxMessage)
        .where(_held(owner, *row_ids))
        .values(
            status=SENT,
            sent_at=utcnow(),
            message_id=message_id,
            secret=None,
            last_error=None,
            claimed_until=None,
            claimed_by=None,
        )
    )
    if recorder.dialect.name == "postgresql":
        matched = recorder.execute(statement).rowcount
    else:
        with recorder.begin():
            matched = recorder.execute(statement).rowcount
    if matched != len(row_ids):
        # Only when the lease lapsed during the send (the database was unreachable
        # for a whole lease): another pass may send these rows again.
        log.warning("outbox %s: sent, but the claim was lost meanwhile", list(row_ids))
        return dict.fromkeys(row_ids, LOST)
    return dict.fromkeys(row_ids, SENT)


def dispatch_pending(
    engine: Engine | None = None,
    *,
    transport: Transport | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
    batch_size: int = 50,
    stop: threading.Event | None = None,
) -> DispatchReport:
    """One dispatch pass: claim and send batches until nothing due is left. The whole
    pass shares one transport, so SMTP uses one connection (and one login) for all.
    What is due for one person at one moment goes out as one mail (``grouping``)."""
    engine = engine or get_engine()
    settings = settings or get_settings()
    stop = stop or STOP
    owner = uuid.uuid4().hex
    report = DispatchReport()
    own_transport = transport is None
    transport = transport or transport_for(settings)
    keeper = LeaseKeeper(engine, owner, settings, transport, start=now or utcnow())
    # Mails whose send timed out, still claimed: charged once the server answers again,
    # handed back uncharged if the pass ends because the server stalled or is down.
    timed_out: list[SendTimedOut] = []
    try:
        while not (report.unreachable or report.stalled or report.stopped):
            current = now or utcnow()
            groups = keeper.locked(
                claim_groups, engine, now=current, limit=batch_size, owner=owner, settings=settings
            )
            if not groups:
                break
            if keeper.ident is None:
                keeper.start()  # only passes that found work need one
            for index, group in enumerate(groups):
                if stop.is_set():
                    report.stopped = True
                    keeper.locked(release, engine, _flat(groups[index:]), owner)
                    break
                try:
                    statuses = send_group(
                        engine, group, transport, settings, owner=owner, now=now, keeper=keeper
                    )
                except TransportUnavailable as exc:
                    # The server is down or not answering: no message was handed over,
                    # so the rows wait (still pending) for the next pass.
                    report.unreachable = str(exc)
                    keeper.locked(release, engine, _flat(groups[index:]), owner, error=str(exc))
                    log.warning("SMTP server unreachable, will try again: %s", exc)
                    break
                except SendTimedOut as timeout:
                    timed_out.append(timeout)
                    if len(timed_out) >= STALL_AFTER:
                        report.stalled = (
                            f"{len(timed_out)} sends in a row timed out: {timeout.error}"
                        )
                        keeper.locked(release, engine, _flat(groups[index + 1 :]), owner)
                        log.warning(
                            "SMTP server stalled (%s sends in a row timed out); the pass "
                            "stops and the mails stay queued, no attempt charged: %s",
                            len(timed_out),
                            timeout.error,
                        )
                        break
                    continue
                # The server answered: the timeouts before were about those messages.
                _charge(engine, owner, timed_out, keeper, report)
                for row_id, status in statuses.items():
                    bucket = {
                        SENT: report.sent,
                        RETRYING: report.retrying,
                        DEAD: report.dead,
                        SKIPPED: report.skipped,
                    }.get(status)
                    if bucket is not None:
                        bucket.append(row_id)
    finally:
        if timed_out:
            if report.unreachable or report.stalled or report.stopped:
                keeper.locked(
                    release,
                    engine,
                    [row_id for t in timed_out for row_id in t.row_ids],
                    owner,
                    error=str(timed_out[-1].error),
                )
            else:
                _charge(engine, owner, timed_out, keeper, report)
        keeper.finish()
        if own_transport:
            transport.close()
    return report


def _flat(groups: list[tuple[int, ...]]) -> list[int]:
    return [row_id for group in groups for row_id in group]


def _charge(
    engine: Engine,
    owner: str,
    timed_out: list[SendTimedOut],
    keeper: LeaseKeeper,
    report: DispatchReport,
) -> None:
    for timeout in timed_out:
        for row_id, attempts in timeout.attempts.items():
            status = keeper.locked(
                _record_failure,
                engine,
                row_id,
                owner,
                attempts=attempts,
                error=timeout.error,
                at=timeout.at,
            )
            {RETRYING: report.retrying, DEAD: report.dead}.get(status, []).append(row_id)
    timed_out.clear()


def send_now(
    engine: Engine, row_id: int, *, settings: Settings, now: dt.datetime | None = None
) -> OutboxMessage:
    """Claim one row and send it at once (the operator's test mail). Returns the row."""
    now = now or utcnow()
    owner = uuid.uuid4().hex
    with transaction(engine, immediate=True) as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id, OutboxMessage.status.in_((PENDING, RETRYING)))
            .values(
                status=SENDING,
                claimed_until=now + lease(settings),
                claimed_by=owner,
                attempts=OutboxMessage.attempts + 1,
            )
        )
    transport = transport_for(settings)
    keeper = LeaseKeeper(engine, owner, settings, transport, start=now)
    keeper.start()
    try:
        send_one(engine, row_id, transport, settings, owner=owner, now=now, keeper=keeper)
    except TransportUnavailable as exc:
        keeper.locked(release, engine, [row_id], owner, error=str(exc))
    except SendTimedOut as timeout:
        keeper.locked(
            _record_failure,
            engine,
            row_id,
            owner,
            attempts=timeout.attempts[row_id],
            error=timeout.error,
            at=timeout.at,
        )
    finally:
        keeper.finish()
        transport.close()
    with transaction(engine, immediate=True) as session:
        row = session.get(OutboxMessage, row_id)
        assert row is not None
        return row


# --- the operator's view (`tend outbox`) ---------------------------------------------

NOT_DONE = (PENDING, SENDING, RETRYING, DEAD, SKIPPED)


def outbox_rows(
    engine: Engine | None = None, *, statuses: tuple[str, ...] = NOT_DONE, limit: int = 200
) -> list[OutboxMessage]:
    with transaction(engine) as session:
        return list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.status.in_(statuses))
                .order_by(OutboxMessage.id)
                .limit(limit)
            )
        )


class CannotRetry(Exception):
    pass


def retry(engine: Engine | None, row_id: int, *, now: dt.datetime | None = None) -> OutboxMessage:
    """Requeue one row to go out on the next dispatch pass, with a fresh set of attempts.
    The last error is kept until the next attempt replaces it."""
    now = now or utcnow()
    with transaction(engine, immediate=True) as session:
        row = session.get(OutboxMessage, row_id)
        if row is None:
            raise CannotRetry(f"There is no outbox row {row_id}.")
        if row.status == SENT:
            raise CannotRetry(f"Row {row_id} was already sent at {row.sent_at:%Y-%m-%d %H:%M} UTC.")
        if row.status == SENDING and row.claimed_until and row.claimed_until > now:
            raise CannotRetry(f"Row {row_id} is being sent right now; look again in a minute.")
        row.status = PENDING
        row.attempts = 0
        row.send_after = now
        row.claimed_until = None
        row.claimed_by = None
        return row
