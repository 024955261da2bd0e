"""Deleting an account: the person's personal data and answers go; the partner keeps
the shared history, with the deleted person shown as "Former partner".

Each domain package registers an *eraser* ``fn(session, user_id, now) -> None`` that
removes (or anonymises) what that person wrote in its tables. Erasers run in the order
they were registered, inside the caller's transaction, before the foundation's own
erasure (which may delete the users row itself, so erasers must not rely on cascades
to run first). They must be idempotent. docs/privacy.md lists exactly what goes.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from couples import data_version, passwords
from couples import service as couples
from couples.accounts import get_user
from couples.models import (
    AuthSession,
    Couple,
    FailedSignIn,
    Invitation,
    KnownDevice,
    Membership,
    OneTimeToken,
    PendingRegistration,
    User,
)
from infra.db import utcnow
from infra.errors import InvalidInput
from notifications.models import NotificationPreference, OutboxMessage
from privacy.export import load_providers

log = logging.getLogger(__name__)

Eraser = Callable[[Session, int, dt.datetime], None]
_ERASERS: dict[str, Eraser] = {}

# Tombstone addresses use the reserved .invalid top-level domain: they can never
# receive mail, never collide with a real address, and cannot be signed in with.
TOMBSTONE_DOMAIN = "former-partner.invalid"


def register_eraser(name: str, fn: Eraser) -> None:
    """Add (or replace, for reloads) the eraser ``name``."""
    _ERASERS[name] = fn


def erasers() -> dict[str, Eraser]:
    load_providers()
    return dict(_ERASERS)


def is_tombstone(user: User) -> bool:
    return user.email.endswith("@" + TOMBSTONE_DOMAIN)


def delete_account(
    session: Session, user_id: int, password: str, *, now: dt.datetime | None = None
) -> None:
    """Delete the account of ``user_id`` after checking their password.

    Everything happens in the caller's transaction: if any eraser fails, nothing is
    deleted. Nothing is mailed to anyone (an inbox may be watched) and the partner is
    told only what leaving tells them: "your partner left".
    """
    now = now or utcnow()
    user = get_user(session, user_id)
    if is_tombstone(user) or not passwords.verify_password(user.password_hash, password):
        raise InvalidInput({"password": "That is not your current password."})
    erase_account(session, user_id, now=now)


def erase_account(session: Session, user_id: int, *, now: dt.datetime | None = None) -> None:
    """The erasure itself, without the password check (for operators and tests)."""
    now = now or utcnow()
    user = get_user(session, user_id)
    email = user.email
    if couples.membership_of(session, user_id) is not None:
        couples.leave_couple(session, user_id, now=now)
    for name, fn in erasers().items():
        fn(session, user_id, now)
        log.info("eraser %s done for account %s", name, user_id)

    # Sign-in state, links and traces that name the address.
    session.execute(delete(AuthSession).where(AuthSession.user_id == user_id))
    session.execute(delete(OneTimeToken).where(OneTimeToken.user_id == user_id))
    session.execute(delete(PendingRegistration).where(PendingRegistration.email == email))
    session.execute(delete(FailedSignIn).where(FailedSignIn.email == email))
    session.execute(delete(KnownDevice).where(KnownDevice.user_id == user_id))
    session.execute(
        delete(OutboxMessage).where(
            or_(OutboxMessage.recipient_user_id == user_id, OutboxMessage.to_address == email)
        )
    )
    session.execute(delete(NotificationPreference).where(NotificationPreference.user_id == user_id))
    # Invitations addressed to this person (in any couple) lose the address; an open
    # one is withdrawn, so its link stops working.
    session.execute(
        update(Invitation)
        .where(Invitation.email == email, Invitation.revoked_at.is_(None))
        .where(Invitation.accepted_at.is_(None))
        .values(revoked_at=now)
    )
    session.execute(update(Invitation).where(Invitation.email == email).values(email=""))

    # Couple spaces no one else ever joined are this person's alone: they go entirely.
    shared = False
    for membership in list(
        session.scalars(select(Membership).where(Membership.user_id == user_id))
    ):
        # What the partner's pages show of the shared history changed (couples/data_version.py).
        data_version.changed(session, [membership.couple_id])
        others = session.scalar(
            select(Membership.id).where(
                Membership.couple_id == membership.couple_id, Membership.user_id != user_id
            )
        )
        if others is None:
            session.execute(delete(Couple).where(Couple.id == membership.couple_id))
        else:
            shared = True
    session.expire_all()

    if shared:
        # A partner keeps the shared history, which refers to this row: keep the row,
        # without anything that identifies the person or lets anyone sign in as them.
        user = get_user(session, user_id)
        user.email = f"deleted-{user_id}@{TOMBSTONE_DOMAIN}"
        user.display_name = couples.FORMER_PARTNER
        user.password_hash = passwords.hash_password(secrets.token_urlsafe(32))
        user.timezone = "UTC"
        user.created_at = now
        user.password_changed_at = now
    else:
        session.execute(delete(User).where(User.id == user_id))
    session.flush()
    log.info("account %s deleted (%s)", user_id, "tombstone kept" if shared else "row removed")
