"""Sending what the outbox holds: claim, render, send, record. Safe to run in any
number of processes at once: a row is sent by whoever claims it first."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine, or_, select, update

from couples.db import get_engine, transaction, utcnow
from couples.settings import Settings, get_settings
from notifications.models import DEAD, PENDING, RETRYING, SENDING, SENT, OutboxMessage
from notifications.rendering import render
from notifications.transports import Transport, TransportError, transport_for

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=5)
# Delay before attempt n+1 after n failed attempts; after the last, the row is dead.
BACKOFF = (
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=6),
    dt.timedelta(hours=12),
)
MAX_ATTEMPTS = len(BACKOFF) + 1


@dataclass
class DispatchReport:
    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    dead: list[int] = field(default_factory=list)

    @property
    def found_work(self) -> bool:
        return bool(self.sent or self.retrying or self.dead)


def _due(now: dt.datetime):  # type: ignore[no-untyped-def]
    return or_(
        (OutboxMessage.status.in_((PENDING, RETRYING))) & (OutboxMessage.send_after <= now),
        # A claim whose process died: its lease ran out, so it is anyone's again.
        (OutboxMessage.status == SENDING) & (OutboxMessage.claimed_until <= now),
    )


def claim_batch(engine: Engine, *, now: dt.datetime, limit: int = 50) -> list[int]:
    """Claim up to ``limit`` due rows for this process and return their ids."""
    with transaction(engine) as session:
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
            # Compare-and-set: zero rows updated means another process got there first.
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
                    claimed_until=now + LEASE,
                    attempts=OutboxMessage.attempts + 1,
                )
            )
            if result.rowcount == 1:
                claimed.append(row_id)
    return claimed


def send_one(
    engine: Engine, row_id: int, transport: Transport, settings: Settings, *, now: dt.datetime
) -> str:
    """Send one claimed row and record the outcome; returns the new status."""
    with transaction(engine) as session:
        message = session.get(OutboxMessage, row_id)
        assert message is not None
        attempts = message.attempts
        try:
            email = render(message, settings)
        except Exception as exc:  # a template bug: retrying would fail the same way
            email = None
            error: TransportError | None = TransportError(f"render failed: {exc!r}", permanent=True)
        else:
            error = None
    if email is not None:
        try:
            transport.send(email)
        except TransportError as exc:
            error = exc
    with transaction(engine) as session:
        message = session.get(OutboxMessage, row_id)
        assert message is not None
        if message.status != SENDING:  # an operator requeued or cancelled it meanwhile
            return message.status
        if error is None:
            message.status = SENT
            message.sent_at = utcnow()
            message.message_id = email["Message-ID"] if email else ""
            message.secret = None
            message.last_error = None
        elif error.permanent or attempts >= MAX_ATTEMPTS:
            message.status = DEAD
            message.secret = None
            message.last_error = str(error)
            log.warning("outbox %s dead after %s attempts: %s", row_id, attempts, error)
        else:
            message.status = RETRYING
            message.send_after = now + BACKOFF[attempts - 1]
            message.last_error = str(error)
        message.claimed_until = None
        return message.status


def dispatch_pending(
    engine: Engine | None = None,
    *,
    transport: Transport | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
    batch_size: int = 50,
) -> DispatchReport:
    """One dispatch pass: claim and send batches until nothing due is left."""
    engine = engine or get_engine()
    settings = settings or get_settings()
    report = DispatchReport()
    own_transport = transport is None
    transport = transport or transport_for(settings)
    try:
        while True:
            current = now or utcnow()
            ids = claim_batch(engine, now=current, limit=batch_size)
            if not ids:
                break
            for row_id in ids:
                status = send_one(engine, row_id, transport, settings, now=current)
                {SENT: report.sent, RETRYING: report.retrying, DEAD: report.dead}.get(
                    status, []
                ).append(row_id)
    finally:
        if own_transport:
            transport.close()
    return report


def send_now(
    engine: Engine, row_id: int, *, settings: Settings, now: dt.datetime | None = None
) -> OutboxMessage:
    """Claim one row and send it at once (the operator's test mail). Returns the row."""
    now = now or utcnow()
    with transaction(engine) as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id, OutboxMessage.status.in_((PENDING, RETRYING)))
            .values(status=SENDING, claimed_until=now + LEASE, attempts=OutboxMessage.attempts + 1)
        )
    transport = transport_for(settings)
    try:
        send_one(engine, row_id, transport, settings, now=now)
    finally:
        transport.close()
    with transaction(engine) as session:
        row = session.get(OutboxMessage, row_id)
        assert row is not None
        return row
