"""The couple space: creating, inviting, joining, leaving, and staying inside one's own."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from couples import service as couples
from couples.models import Invitation
from infra.errors import InvalidInput, NotAllowed, NotFound
from infra.tokens import new_token, token_hash
from notifications.models import OutboxMessage
from tests.factories import make_couple, make_user


def _mailed_token(s, invitation_id: int) -> str:  # type: ignore[no-untyped-def]
    rows = s.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.dedupe_key.like(f"invitation:{invitation_id}:%"))
        .order_by(OutboxMessage.id)
    ).all()
    return rows[-1].secret


def test_create_invite_and_join(tx, now) -> None:
    with tx() as s:
        a = make_user(s, "a@example.org", "Ari")
        couple = couples.create_couple(
            s, a.id, name="Ari & Bo", reunited_on=dt.date(2026, 1, 2), now=now
        )
        invitation = couples.invite_partner(s, a.id, " Bo@Example.org ", now=now)
        assert invitation.email == "bo@example.org"
        assert invitation.expires_at == now + dt.timedelta(days=7)
    with tx() as s:
        token = _mailed_token(s, invitation.id)
        mail = s.scalar(select(OutboxMessage).where(OutboxMessage.kind == "invitation"))
        assert mail.to_address == "bo@example.org"
        assert mail.context == {"inviter": "Ari", "couple": "Ari & Bo"}
        assert s.get(Invitation, invitation.id).token_hash == token_hash(token) != token
        view = couples.inspect_invitation(s, token, now=now)
        assert (view.state, view.couple_name, view.inviter_name) == ("valid", "Ari & Bo", "Ari")
    with tx() as s:
        b = make_user(s, "bo@example.org", "Bo")
        couples.accept_invitation(s, token, b.id, now=now)
    with tx() as s:
        assert [u.display_name for u in couples.partners(s, a.id)] == ["Ari", "Bo"]
        assert couples.partner_of(s, b.id).display_name == "Ari"
        assert couples.couple_of(s, b.id).id == couple.id
        assert couples.inspect_invitation(s, token, now=now).state == "used"


def test_partner_can_register_through_the_invitation(tx, now) -> None:
    from couples.accounts import Registration

    with tx() as s:
        a = make_user(s, "a@example.org")
        couples.create_couple(s, a.id, name="Us", reunited_on=None, now=now)
        invitation = couples.invite_partner(s, a.id, "b@example.org", now=now)
    with tx() as s:
        token = _mailed_token(s, invitation.id)
    other = Registration(
        email="c@example.org", display_name="C", password="long enough pw", timezone="UTC"
    )
    with tx() as s, pytest.raises(InvalidInput, match=r"This invitation is for b@example\.org"):
        couples.register_with_invitation(s, token, other, now=now)
    right = Registration(
        email="B@example.org", display_name="Bea", password="long enough pw", timezone="UTC"
    )
    with tx() as s:
        user = couples.register_with_invitation(s, token, right, now=now)
    with tx() as s:
        assert couples.partner_of(s, a.id).id == user.id


def test_a_signed_in_person_with_another_address_cannot_take_the_invitation(tx, now) -> None:
    with tx() as s:
        a = make_user(s, "a@example.org")
        couples.create_couple(s, a.id, name="Us", reunited_on=None, now=now)
        invitation = couples.invite_partner(s, a.id, "b@example.org", now=now)
        other = make_user(s, "someone.else@example.org")
        b = make_user(s, "B@example.org")
    with tx() as s:
        token = _mailed_token(s, invitation.id)
        assert not couples.invited_address_matches(s, token, other.id)
        assert couples.invited_address_matches(s, token, b.id)
    with tx() as s, pytest.raises(NotAllowed) as refused:
        couples.accept_invitation(s, token, other.id, now=now)
    # The message never names the invited address to the one holding the link.
    assert str(refused.value) == couples.WRONG_ACCOUNT and "b@example.org" not in str(refused.value)
    with tx() as s:
        assert couples.couple_of(s, other.id) is None
        assert couples.inspect_invitation(s, token, now=now).state == "valid"
        couples.accept_invitation(s, token, b.id, now=now)
    with tx() as s:
        assert couples.partner_of(s, a.id).id == b.id


def test_a_third_person_cannot_join(tx, now) -> None:
    with tx() as s:
        couple, a, _ = make_couple(s, now=now)
        c = make_user(s, "c@example.org")
    with tx() as s, pytest.raises(NotAllowed, match="already has two partners"):
        couples.invite_partner(s, a.id, "c@example.org", now=now)
    # Even an invitation created before the second partner joined cannot seat a third.
    with tx() as s:
        token = new_token()
        s.add(
            Invitation(
                couple_id=couple.id,
                invited_by_id=a.id,
                email="c@example.org",
                token_hash=token_hash(token),
                created_at=now,
                expires_at=now + dt.timedelta(days=1),
            )
        )
    with tx() as s, pytest.raises(NotAllowed, match="already has two partners"):
        couples.accept_invitation(s, token, c.id, now=now)


def test_expired_revoked_and_unknown_links_say_so(tx, now) -> None:
    with tx() as s:
        a = make_user(s, "a@example.org")
        couples.create_couple(s, a.id, name="Us", reunited_on=None, now=now)
        first = couples.invite_partner(s, a.id, "b@example.org", now=now)
    with tx() as s:
        first_token = _mailed_token(s, first.id)
        later = now + couples.INVITATION_LIFETIME
        assert couples.inspect_invitation(s, first_token, now=later).state == "expired"
        assert "expired" in couples.inspect_invitation(s, first_token, now=later).message
        assert couples.inspect_invitation(s, "garbage", now=now).state == "unknown"
    with tx() as s:
        # A new invitation withdraws the older one, so only one link works at a time.
        second = couples.invite_partner(s, a.id, "b@example.org", now=now)
    with tx() as s:
        assert couples.inspect_invitation(s, first_token, now=now).state == "revoked"
        b = make_user(s, "b@example.org")
    with tx() as s, pytest.raises(NotAllowed, match="withdrawn"):
        couples.accept_invitation(s, first_token, b.id, now=now)
    with tx() as s:
        couples.revoke_invitation(s, a.id, second.id, now=now)
        assert couples.inspect_invitation(s, _mailed_token(s, second.id), now=now).state == (
            "revoked"
        )


def test_resend_gives_a_fresh_link_and_kills_the_old_one(tx, now) -> None:
    with tx() as s:
        a = make_user(s, "a@example.org")
        couples.create_couple(s, a.id, name="Us", reunited_on=None, now=now)
        invitation = couples.invite_partner(s, a.id, "b@example.org", now=now)
    with tx() as s:
        old = _mailed_token(s, invitation.id)
    later = now + dt.timedelta(days=6)
    with tx() as s:
        couples.resend_invitation(s, a.id, invitation.id, now=later)
    with tx() as s:
        new = _mailed_token(s, invitation.id)
        assert new != old
        assert couples.inspect_invitation(s, old, now=later).state == "unknown"
        view = couples.inspect_invitation(s, new, now=later + dt.timedelta(days=6))
        assert view.state == "valid"


def test_asking_for_a_new_invitation_tells_the_inviter(tx, now) -> None:
    with tx() as s:
        a = make_user(s, "a@example.org", "Ari")
        couples.create_couple(s, a.id, name="Us", reunited_on=None, now=now)
        invitation = couples.invite_partner(s, a.id, "b@example.org", now=now)
    with tx() as s:
        token = _mailed_token(s, invitation.id)
    later = now + dt.timedelta(days=8)
    with tx() as s:
        couples.ask_for_new_invitation(s, token, now=later)
        couples.ask_for_new_invitation(s, token, now=later)  # twice in a day: one mail
    with tx() as s:
        mails = s.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "invitation_renewal_requested")
        ).all()
        assert [m.to_address for m in mails] == ["a@example.org"]


def test_create_couple_validates_and_allows_one_space(tx, now) -> None:
    with tx() as s:
        a = make_user(s, "a@example.org")
    with tx() as s, pytest.raises(InvalidInput) as excinfo:
        couples.create_couple(s, a.id, name="  ", reunited_on=dt.date(2030, 1, 1), now=now)
    assert set(excinfo.value.fields) == {"name", "reunited_on"}
    with tx() as s:
        couples.create_couple(s, a.id, name="Us", reunited_on=None, now=now)
    with tx() as s, pytest.raises(NotAllowed):
        couples.create_couple(s, a.id, name="Again", reunited_on=None, now=now)


def test_inviting_yourself_is_refused(tx, now) -> None:
    with tx() as s:
        a = make_user(s, "a@example.org")
        couples.create_couple(s, a.id, name="Us", reunited_on=None, now=now)
    with tx() as s, pytest.raises(InvalidInput, match="your own address"):
        couples.invite_partner(s, a.id, "A@example.org", now=now)


def test_leaving_freezes_the_space_for_the_one_who_stays(tx, now) -> None:
    with tx() as s:
        couple, a, b = make_couple(s, now=now)
    with tx() as s:
        couples.leave_couple(s, b.id, now=now)
    with tx() as s:
        assert couples.couple_of(s, b.id) is None
        assert couples.couple_of(s, a.id).id == couple.id
        with pytest.raises(NotAllowed, match="read-only"):
            couples.require_active_couple(s, a.id)
        with pytest.raises(NotAllowed):
            couples.invite_partner(s, a.id, "new@example.org", now=now)
    with tx() as s:
        # The one who left may start over elsewhere.
        couples.create_couple(s, b.id, name="Fresh start", reunited_on=None, now=now)


def test_another_couples_invitations_are_not_found(tx, now) -> None:
    """Every service that takes an invitation id refuses ids of another couple."""
    with tx() as s:
        _, a, _ = make_couple(s, "a@example.org", "b@example.org", now=now)
        x = make_user(s, "x@example.org")
        couples.create_couple(s, x.id, name="Others", reunited_on=None, now=now)
        foreign = couples.invite_partner(s, x.id, "y@example.org", now=now)
    for action in (couples.resend_invitation, couples.revoke_invitation):
        with tx() as s, pytest.raises(NotFound):
            action(s, a.id, foreign.id, now=now)
    with tx() as s:
        assert all(i.couple_id != foreign.couple_id for i in couples.invitations(s, a.id))
        assert s.get(Invitation, foreign.id).revoked_at is None


def test_people_without_a_couple_reach_nothing(tx, now) -> None:
    with tx() as s:
        loner = make_user(s, "l@example.org")
    with tx() as s:
        assert couples.couple_of(s, loner.id) is None
        assert couples.partner_of(s, loner.id) is None
        with pytest.raises(NotFound):
            couples.invitations(s, loner.id)
        with pytest.raises(NotFound):
            couples.invite_partner(s, loner.id, "z@example.org", now=now)


def test_a_seat_left_in_the_same_transaction_is_no_longer_found(tx, now) -> None:
    """membership_of remembers the seat per session; leaving through the session ends
    it at once, so nothing later in the same transaction still treats the user as a
    member (the partner's seat is unaffected)."""
    with tx() as s:
        _couple, a, b = make_couple(s, now=now)
        assert couples.membership_of(s, a.id) is not None  # remembered from here on
        couples.leave_couple(s, a.id, now=now)
        assert couples.membership_of(s, a.id) is None
        with pytest.raises(NotFound):
            couples.require_membership(s, a.id)
        assert couples.membership_of(s, b.id) is not None
