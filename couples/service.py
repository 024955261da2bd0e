"""The couple space: creating it, inviting the partner, joining, leaving.

Every function that touches couple data takes the acting user's id and resolves the
couple from it, so no caller can reach another couple's records by passing an id.
"""

from __future__ import annotations

import datetime as dt
import functools
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import bindparam, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from couples import accounts
from couples.models import Couple, Invitation, Membership, User
from infra.db import utcnow
from infra.errors import InvalidInput, NotAllowed, NotFound
from infra.tokens import new_token, token_hash
from notifications.outbox import enqueue
from notifications.preferences import drop_pending_prompts
from notifications.timing import partner_held_note

INVITATION_LIFETIME = dt.timedelta(days=7)
# A mail planned more than this after the action that wrote it "waits" (quiet hours).
HELD_AFTER = dt.timedelta(minutes=1)
MAX_COUPLE_NAME = 100

# Called inside the joining transaction, after the partner took their seat:
# fn(session, couple, joined_user_id, now). Other packages register at import time
# (onboarding proposes the plan its planner made before the partner was there).
PartnerJoinedHook = Callable[[Session, Couple, int, dt.datetime], None]
_PARTNER_JOINED_HOOKS: dict[str, PartnerJoinedHook] = {}


def register_partner_joined_hook(name: str, fn: PartnerJoinedHook) -> None:
    """Add (or replace, for reloads) the hook ``name``."""
    _PARTNER_JOINED_HOOKS[name] = fn


@functools.cache
def _seat_query():  # type: ignore[no-untyped-def]
    """A user's current seat with its couple and both members, in one statement: nearly
    every page asks for them (built once: building costs about as much as running)."""
    return (
        select(Membership)
        .where(Membership.user_id == bindparam("user_id"), Membership.left_at.is_(None))
        .options(joinedload(Membership.couple).joinedload(Couple.members))
    )


_SEATS = "tend.seats"  # session.info: user id -> their membership, once looked up


def membership_of(session: Session, user_id: int) -> Membership | None:
    """The user's seat in the couple they have not left, if any.

    Looked up once per session: a page asks several services in one transaction, and
    each starts here. The remembered seat (held here, so the couple and members loaded
    with it stay in the identity map too) is checked again on the object itself, which
    shows any change made through this session: a seat left or deleted is looked up
    afresh."""
    seats: dict[int, Membership] = session.info.setdefault(_SEATS, {})
    known = seats.get(user_id)
    if (
        known is not None
        and inspect(known).persistent
        and known.user_id == user_id
        and known.left_at is None
    ):
        return known
    membership = session.scalars(_seat_query(), {"user_id": user_id}).unique().one_or_none()
    if membership is not None:
        seats[user_id] = membership
    return membership


def require_membership(session: Session, user_id: int) -> Membership:
    membership = membership_of(session, user_id)
    if membership is None:
        raise NotFound("You are not in a couple space yet.")
    return membership


def couple_of(session: Session, user_id: int) -> Couple | None:
    membership = membership_of(session, user_id)
    return membership.couple if membership else None


def require_active_couple(session: Session, user_id: int) -> Couple:
    """The user's couple, refusing changes once a partner has left (it is read-only then)."""
    couple = require_membership(session, user_id).couple
    if couple.ended_at is not None:
        raise NotAllowed("Your partner left this couple space; it is read-only now.")
    return couple


def partner_of(session: Session, user_id: int) -> User | None:
    couple = couple_of(session, user_id)
    if couple is None:
        return None
    for member in couple.members:
        if member.user_id != user_id:
            return member.user
    return None


# How a partner who left (or deleted their account) is named to the one who stays:
# nothing about them after leaving (a new name, a new couple, whether they deleted their
# account) may reach the one who stays, who is told only that their partner left.
FORMER_PARTNER = "Former partner"


def member_name(membership: Membership, viewer_id: int) -> str:
    """The name ``viewer_id`` sees for the person in ``membership``."""
    if membership.user_id != viewer_id and membership.left_at is not None:
        return FORMER_PARTNER
    return membership.user.display_name


def shown_names(couple: Couple, viewer_id: int) -> dict[int, str]:
    """user id -> the name ``viewer_id`` may see, for everyone in ``couple``."""
    return {m.user_id: member_name(m, viewer_id) for m in couple.members}


def shown_name(session: Session, viewer_id: int, user_id: int) -> str:
    """The name of a person as ``viewer_id`` may see it, for author/consent lines in
    shared history: the viewer's own name, the partner's current name while they are
    in the couple, else "Former partner". Never another couple's member's name."""
    if user_id == viewer_id:
        return accounts.get_user(session, viewer_id).display_name
    couple = require_membership(session, viewer_id).couple
    for member in couple.members:
        if member.user_id == user_id:
            return member_name(member, viewer_id)
    return FORMER_PARTNER


def partner_has_left(session: Session, user_id: int) -> bool:
    """True when the couple space is frozen because the partner left (or deleted their
    account: the two are indistinguishable to the one who stays, on purpose)."""
    couple = couple_of(session, user_id)
    return couple is not None and couple.ended_at is not None


def partners(session: Session, user_id: int) -> list[User]:
    couple = couple_of(session, user_id)
    return [m.user for m in couple.members] if couple else []


def create_couple(
    session: Session,
    user_id: int,
    *,
    name: str,
    reunited_on: dt.date | None,
    now: dt.datetime | None = None,
) -> Couple:
    now = now or utcnow()
    if membership_of(session, user_id) is not None:
        raise NotAllowed("You already have a couple space.")
    name = name.strip()
    problems: dict[str, str] = {}
    if not name:
        problems["name"] = "Give your couple space a name, e.g. 'Sam & Alex'."
    elif len(name) > MAX_COUPLE_NAME:
        problems["name"] = f"Keep the name to {MAX_COUPLE_NAME} characters."
    elif any(unicodedata.category(ch) == "Cc" for ch in name):
        problems["name"] = "Names cannot contain control characters."
    if reunited_on is not None and reunited_on > now.date() + dt.timedelta(days=1):
        problems["reunited_on"] = "That date is in the future."
    if problems:
        raise InvalidInput(problems)
    couple = Couple(name=name, reunited_on=reunited_on, created_at=now)
    session.add(couple)
    session.flush()
    session.add(Membership(couple_id=couple.id, user_id=user_id, seat=1, joined_at=now))
    session.flush()
    session.refresh(couple)
    return couple


@dataclass(frozen=True)
class InvitationSent:
    invitation: Invitation


def invite_partner(
    session: Session, user_id: int, email: str, *, now: dt.datetime | None = None
) -> Invitation:
    """Invite the partner; an earlier open invitation is revoked so only one link works."""
    now = now or utcnow()
    couple = require_active_couple(session, user_id)
    if len(couple.members) >= 2:
        raise NotAllowed("Your couple space already has two partners.")
    address = accounts.normalize_email(email)
    problem = accounts.email_problem(address)
    if problem:
        raise InvalidInput({"email": problem})
    inviter = accounts.get_user(session, user_id)
    if address == inviter.email:
        raise InvalidInput({"email": "That is your own address. Enter your partner's."})
    for open_invitation in _open_invitations(session, couple.id, now):
        open_invitation.revoked_at = now
    token = new_token()
    invitation = Invitation(
        couple_id=couple.id,
        invited_by_id=user_id,
        email=address,
        token_hash=token_hash(token),
        created_at=now,
        expires_at=now + INVITATION_LIFETIME,
    )
    session.add(invitation)
    session.flush()
    _enqueue_invitation_mail(session, invitation, inviter, couple, token, attempt=1)
    return invitation


def _enqueue_invitation_mail(
    session: Session,
    invitation: Invitation,
    inviter: User,
    couple: Couple,
    token: str,
    *,
    attempt: int,
) -> None:
    enqueue(
        session,
        kind="invitation",
        to_address=invitation.email,
        dedupe_key=f"invitation:{invitation.id}:{attempt}",
        context={"inviter": inviter.display_name, "couple": couple.name},
        secret=token,
    )


def _open_invitations(session: Session, couple_id: int, now: dt.datetime) -> list[Invitation]:
    return list(
        session.scalars(
            select(Invitation).where(
                Invitation.couple_id == couple_id,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at > now,
            )
        )
    )


def invitations(session: Session, user_id: int) -> list[Invitation]:
    couple = require_membership(session, user_id).couple
    return list(
        session.scalars(
            select(Invitation)
            .where(Invitation.couple_id == couple.id)
            .order_by(Invitation.created_at.desc(), Invitation.id.desc())
        )
    )


def _own_invitation(session: Session, user_id: int, invitation_id: int) -> Invitation:
    couple = require_active_couple(session, user_id)
    invitation = session.get(Invitation, invitation_id)
    if invitation is None or invitation.couple_id != couple.id:
        raise NotFound("No such invitation.")
    return invitation


def resend_invitation(
    session: Session, user_id: int, invitation_id: int, *, now: dt.datetime | None = None
) -> Invitation:
    """Send the invitation again with a fresh link and a fresh 7 days; the old link dies."""
    now = now or utcnow()
    invitation = _own_invitation(session, user_id, invitation_id)
    if invitation.accepted_at is not None:
        raise NotAllowed("This invitation was already accepted.")
    couple = require_active_couple(session, user_id)
    if len(couple.members) >= 2:
        raise NotAllowed("Your couple space already has two partners.")
    for other in _open_invitations(session, couple.id, now):
        if other.id != invitation.id:
            other.revoked_at = now
    token = new_token()
    invitation.token_hash = token_hash(token)
    invitation.expires_at = now + INVITATION_LIFETIME
    invitation.revoked_at = None
    attempt = int(now.timestamp())
    _enqueue_invitation_mail(
        session, invitation, accounts.get_user(session, user_id), couple, token, attempt=attempt
    )
    return invitation


def revoke_invitation(
    session: Session, user_id: int, invitation_id: int, *, now: dt.datetime | None = None
) -> Invitation:
    invitation = _own_invitation(session, user_id, invitation_id)
    if invitation.accepted_at is not None:
        raise NotAllowed("This invitation was already accepted.")
    invitation.revoked_at = invitation.revoked_at or now or utcnow()
    return invitation


@dataclass(frozen=True)
class InvitationView:
    """What the holder of an invitation link may see about it."""

    state: str  # valid | expired | used | revoked | full | unknown
    couple_name: str = ""
    inviter_name: str = ""
    email: str = ""

    @property
    def message(self) -> str:
        return {
            "valid": "",
            "expired": "This invitation has expired.",
            "used": "This invitation was already used.",
            "revoked": "This invitation was withdrawn.",
            "full": "This couple space already has two partners.",
            "unknown": "This invitation link is not valid. Check that you copied all of it.",
        }[self.state]


def _invitation_for_token(session: Session, token: str) -> Invitation | None:
    return session.scalar(select(Invitation).where(Invitation.token_hash == token_hash(token)))


def inspect_invitation(
    session: Session, token: str, *, now: dt.datetime | None = None
) -> InvitationView:
    now = now or utcnow()
    invitation = _invitation_for_token(session, token)
    if invitation is None:
        return InvitationView("unknown")
    couple = session.get(Couple, invitation.couple_id)
    inviter = session.get(User, invitation.invited_by_id)
    assert couple is not None
    details = {
        "couple_name": couple.name,
        "inviter_name": inviter.display_name if inviter else "",
        "email": invitation.email,
    }
    if invitation.accepted_at is not None:
        state = "used"
    elif invitation.revoked_at is not None:
        state = "revoked"
    elif invitation.expires_at <= now:
        state = "expired"
    elif len(couple.members) >= 2 or couple.ended_at is not None:
        state = "full"
    else:
        state = "valid"
    return InvitationView(state, **details)


# Said to a signed-in person whose address is not the invited one. It never names the
# invited address: whoever holds the link learns nothing about the partner from it.
WRONG_ACCOUNT = (
    "This invitation was sent to a different email address than the one you are signed "
    "in with, so it cannot join this account. Sign out and open the link again to join "
    "with the invited address, or ask your partner to invite the address of this account."
)


def invited_address_matches(session: Session, token: str, user_id: int) -> bool:
    """Whether ``user_id`` is the person the invitation was sent to: the link proves
    only that someone could read that inbox, so it joins only the account with that
    address."""
    invitation = _invitation_for_token(session, token)
    if invitation is None:
        return False
    return accounts.get_user(session, user_id).email == invitation.email


def accept_invitation(
    session: Session, token: str, user_id: int, *, now: dt.datetime | None = None
) -> Couple:
    now = now or utcnow()
    view = inspect_invitation(session, token, now=now)
    if view.state != "valid":
        raise NotAllowed(view.message)
    invitation = _invitation_for_token(session, token)
    assert invitation is not None
    if not invited_address_matches(session, token, user_id):
        raise NotAllowed(WRONG_ACCOUNT)
    if membership_of(session, user_id) is not None:
        raise NotAllowed("You are already in a couple space. Leave it first to join another.")
    try:
        # The unique (couple, seat) key is what makes a third partner impossible,
        # even when two people follow links at the same moment.
        with session.begin_nested():
            session.add(
                Membership(couple_id=invitation.couple_id, user_id=user_id, seat=2, joined_at=now)
            )
    except IntegrityError:
        raise NotAllowed("This couple space already has two partners.") from None
    invitation.accepted_at = now
    couple = session.get(Couple, invitation.couple_id)
    assert couple is not None
    session.refresh(couple)
    for hook in _PARTNER_JOINED_HOOKS.values():
        hook(session, couple, user_id, now)
    return couple


def register_with_invitation(
    session: Session,
    token: str,
    reg: accounts.Registration,
    *,
    now: dt.datetime | None = None,
) -> User:
    """Create the partner's account and seat them; the link proves the invited address."""
    now = now or utcnow()
    view = inspect_invitation(session, token, now=now)
    if view.state != "valid":
        raise NotAllowed(view.message)
    if accounts.normalize_email(reg.email) != view.email:
        raise InvalidInput(
            {
                "email": f"This invitation is for {view.email}. Use that address, or register "
                "separately and then open the link while signed in."
            }
        )
    user = accounts.create_confirmed_user(session, reg, now=now)
    accept_invitation(session, token, user.id, now=now)
    return user


def ask_for_new_invitation(session: Session, token: str, *, now: dt.datetime | None = None) -> None:
    """From an expired or withdrawn link: tell the inviter their partner wants a new one."""
    now = now or utcnow()
    invitation = _invitation_for_token(session, token)
    if invitation is None or invitation.accepted_at is not None:
        raise NotAllowed("This link cannot be renewed.")
    inviter = session.get(User, invitation.invited_by_id)
    couple = session.get(Couple, invitation.couple_id)
    if inviter is None or couple is None or couple.ended_at is not None:
        raise NotAllowed("This link cannot be renewed.")
    enqueue(
        session,
        kind="invitation_renewal_requested",
        to_address=inviter.email,
        recipient_user_id=inviter.id,
        dedupe_key=f"invitation-renewal:{invitation.id}:{now:%Y%m%d}",
        context={"name": inviter.display_name, "couple": couple.name},
    )


def leave_couple(session: Session, user_id: int, *, now: dt.datetime | None = None) -> None:
    """Leave: the one who leaves loses access; the space stays, read-only, for the other."""
    now = now or utcnow()
    membership = require_membership(session, user_id)
    membership.left_at = now
    couple = membership.couple
    couple.ended_at = couple.ended_at or now
    for invitation in _open_invitations(session, couple.id, now):
        invitation.revoked_at = now
    # Nothing already planned about this space reaches either of them (docs/privacy.md).
    drop_pending_prompts(session, [m.user_id for m in couple.members])


def held_mail_notes(
    session: Session,
    user_id: int,
    messages: Sequence[HeldMail],
    *,
    now: dt.datetime,
    viewer_tz: str | None = None,
) -> list[str]:
    """For mails an action of ``user_id`` meant for someone else that wait (their quiet
    hours, their preferred hour), what to tell the one who acted: "Mail to Kestrel waits
    until 07:00 tomorrow, their morning." One line per person, at the first held mail's
    moment. Mails that go at once say nothing. ``messages`` are the outbox rows written
    and the reminders not written because the recipient paused them or switched them
    off (``notifications.preferences.unwritten_mail``): both are said alike, so a quiet
    pause is never given away."""
    first: dict[int, dt.datetime] = {}
    for message in messages:
        recipient = message.recipient_user_id
        if recipient is None or recipient == user_id:
            continue
        if message.send_after <= now + HELD_AFTER:
            continue
        first[recipient] = min(first.get(recipient, message.send_after), message.send_after)
    notes = []
    for recipient, moment in first.items():
        person = session.get(User, recipient)
        if person is None:
            continue
        notes.append(
            partner_held_note(
                shown_name(session, user_id, recipient),
                moment,
                person.timezone or "UTC",
                now=now,
                viewer_tz=viewer_tz,
            )
        )
    return notes


class HeldMail(Protocol):
    """An outbox row, or a reminder not written (its two fields of the same names)."""

    @property
    def recipient_user_id(self) -> int | None: ...
    @property
    def send_after(self) -> dt.datetime: ...
