"""Sending what the outbox holds: claim, render, send, record. Safe to run in any
number of processes at once: a row is sent by whoever holds its claim.

The guarantee and its one window: a row is marked sent in the transaction after the
SMTP server's 250 reply. A process that dies between that reply and the commit leaves
the row claimed; when the lease runs out another pass sends it again, with the same
Message-ID (derived from the row), so the duplicate is recognisable. Nothing else can
send a row twice: a pass re-checks that it still holds the claim before each message.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from dataclasses import dataclass, field

from sqlalchemy import Engine, or_, select, update

from couples import accounts
from couples.db import get_engine, transaction, utcnow
from couples.settings import Settings, get_settings
from notifications.models import (
    DEAD,
    PENDING,
    RETRYING,
    SENDING,
    SENT,
    SKIPPED,
    OutboxMessage,
)
from notifications.preferences import held_back_reason
from notifications.rendering import render
from notifications.transports import (
    Transport,
    TransportError,
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

# Set by the scheduler's SIGTERM handler: the pass finishes the message in flight,
# hands its other claims back and returns.
STOP = threading.Event()

LOST = "lost-claim"  # another pass holds the row now; this one leaves it alone


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


def claim_batch(
    engine: Engine,
    *,
    now: dt.datetime,
    limit: int = 50,
    owner: str,
    settings: Settings | None = None,
) -> list[int]:
    """Claim up to ``limit`` due rows for ``owner`` and return their ids.

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
        if engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        candidates = session.execute(query).all()
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


def release(engine: Engine, ids: list[int], owner: str, *, error: str | None = None) -> None:
    """Hand back claims this pass did not use, without counting an attempt."""
    if not ids:
        return
    with transaction(engine, immediate=True) as session:
        rows = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.id.in_(ids),
                OutboxMessage.status == SENDING,
                OutboxMessage.claimed_by == owner,
            )
        ).all()
        for row in rows:
            row.attempts = max(row.attempts - 1, 0)
            row.status = RETRYING if row.attempts else PENDING
            row.claimed_until = None
            row.claimed_by = None
            if error is not None:
                row.last_error = error


def send_one(
    engine: Engine,
    row_id: int,
    transport: Transport,
    settings: Settings,
    *,
    owner: str,
    now: dt.datetime | None = None,
) -> str:
    """Send one row this pass has claimed and record the outcome; returns the new
    status (or LOST). Raises TransportUnavailable, leaving the claim for release()."""
    at = now or utcnow()
    secret: str | None = None
    with transaction(engine, immediate=True) as session:
        message = session.get(OutboxMessage, row_id)
        if message is None or message.status != SENDING or message.claimed_by != owner:
            return LOST
        # Renew the lease for this message: the claim may have been taken a while ago.
        message.claimed_until = at + lease(settings)
        reason = held_back_reason(session, message, at)
        if reason is not None:
            message.status = SKIPPED
            message.last_error = reason
            message.claimed_until = None
            message.claimed_by = None
            message.secret = None
            return SKIPPED
        attempts = message.attempts
        error: TransportError | None = None
        email = None
        try:
            target = message.context.get("sign_in_target")
            if target and message.recipient_user_id is not None:
                # Issued now, so its short lifetime starts when the mail leaves.
                secret = accounts.issue_sign_in_link(
                    session, message.recipient_user_id, str(target), now=at
                )
            email = render(message, settings, secret=secret)
        except Exception as exc:  # a template bug: retrying would fail the same way
            error = TransportError(f"render failed: {exc!r}", permanent=True)
    if email is not None:
        try:
            transport.send(email)
        except TransportUnavailable:
            raise
        except TransportError as exc:
            error = exc
    with transaction(engine, immediate=True) as session:
        message = session.get(OutboxMessage, row_id)
        assert message is not None
        if message.status != SENDING or message.claimed_by != owner:
            # An operator requeued it, or our lease ran out and another pass took it.
            log.warning("outbox %s: claim lost while sending (status %s)", row_id, message.status)
            return LOST
        if error is None:
            message.status = SENT
            message.sent_at = utcnow()
            message.message_id = str(email["Message-ID"]) if email else ""
            message.secret = None
            message.last_error = None
        elif error.permanent or attempts >= MAX_ATTEMPTS:
            # The secret stays so that `tend outbox retry` can still send a working link.
            message.status = DEAD
            message.last_error = str(error)
            log.warning("outbox %s dead after %s attempts: %s", row_id, attempts, error)
        else:
            message.status = RETRYING
            message.send_after = at + BACKOFF[attempts - 1]
            message.last_error = str(error)
            log.info("outbox %s: attempt %s failed, retrying: %s", row_id, attempts, error)
        message.claimed_until = None
        message.claimed_by = None
        return message.status


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
    pass shares one transport, so SMTP uses one connection (and one login) for all."""
    engine = engine or get_engine()
    settings = settings or get_settings()
    stop = stop or STOP
    owner = uuid.uuid4().hex
    report = DispatchReport()
    own_transport = transport is None
    transport = transport or transport_for(settings)
    try:
        while not report.unreachable and not report.stopped:
            current = now or utcnow()
            ids = claim_batch(engine, now=current, limit=batch_size, owner=owner, settings=settings)
            if not ids:
                break
            for index, row_id in enumerate(ids):
                if stop.is_set():
                    report.stopped = True
                    release(engine, ids[index:], owner)
                    break
                try:
                    status = send_one(engine, row_id, transport, settings, owner=owner, now=now)
                except TransportUnavailable as exc:
                    # The server is down or not answering: no message was handed over,
                    # so the rows wait (still pending) for the next pass.
                    report.unreachable = str(exc)
                    release(engine, ids[index:], owner, error=str(exc))
                    log.warning("SMTP server unreachable, will try again: %s", exc)
                    break
                bucket = {
                    SENT: report.sent,
                    RETRYING: report.retrying,
                    DEAD: report.dead,
                    SKIPPED: report.skipped,
                }.get(status)
                if bucket is not None:
                    bucket.append(row_id)
    finally:
        if own_transport:
            transport.close()
    return report


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
    try:
        send_one(engine, row_id, transport, settings, owner=owner, now=now)
    except TransportUnavailable as exc:
        release(engine, [row_id], owner, error=str(exc))
    finally:
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
