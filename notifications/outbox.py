"""Writing to the outbox. Rows are added inside the caller's transaction, so a state
change and the mails it causes are committed together or not at all."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from infra.db import utcnow
from notifications.models import OutboxMessage


def enqueue(
    session: Session,
    *,
    kind: str,
    to_address: str,
    dedupe_key: str,
    recipient_user_id: int | None = None,
    context: dict[str, Any] | None = None,
    secret: str | None = None,
    send_after: dt.datetime | None = None,
) -> OutboxMessage | None:
    """Add a message unless one with the same dedupe key exists; returns None if it did."""
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)):
        return None
    message = OutboxMessage(
        kind=kind,
        to_address=to_address,
        dedupe_key=dedupe_key,
        recipient_user_id=recipient_user_id,
        context=context or {},
        secret=secret,
        send_after=send_after or utcnow(),
    )
    try:
        # A savepoint, so losing a race to another writer of the same key
        # leaves the caller's transaction usable.
        with session.begin_nested():
            session.add(message)
    except IntegrityError:
        return None
    return message
