"""Agreement lifecycle: every transition, the refused ones, history, versions in force."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from agreements import service as agreements
from agreements.templates import TEMPLATES
from couples.errors import NotAllowed, NotFound
from notifications.models import OutboxMessage
from tests.factories import make_couple

H = dt.timedelta(hours=1)


def _checkin(**overrides):  # type: ignore[no-untyped-def]
    t = TEMPLATES["regular_checkin"]
    return {"kind": t.key, "title": t.title, "body": t.body, "params": {**t.params, **overrides}}


@pytest.fixture
def couple(tx, now):  # type: ignore[no-untyped-def]
    with tx() as s:
        c, a, b = make_couple(s, now=now)
        return c.id, a.id, b.id


def test_propose_then_partner_accepts_and_it_is_in_force(tx, now, couple) -> None:
    couple_id, a, b = couple
    with tx() as s:
        agreement_id = agreements.propose_agreement(s, a, now=now, **_checkin()).id
    with tx() as s:
        assert agreements.agreements_in_force(s, couple_id, now + H) == []
        view = agreements.get_agreement(s, b, agreement_id)
        assert view.status == "proposed" and view.awaiting_me and not view.awaiting_partner
        assert agreements.awaiting_my_answer_count(s, b) == 1
        assert agreements.awaiting_my_answer_count(s, a) == 0
        mails = s.scalars(select(OutboxMessage)).all()
        assert [(m.kind, m.to_address) for m in mails if m.kind.startswith("agreement")] == [
            ("agreement_proposed", "b@example.org")
        ]
    with tx() as s:
        agreements.accept(s, b, agreement_id, now=now + H)
    with tx() as s:
        in_force = agreements.agreements_in_force(s, couple_id, now + 2 * H)
        assert [x.agreement_id for x in in_force] == [agreement_id]
        assert in_force[0].kind == "regular_checkin"
        assert agreements.agreements_in_force(s, couple_id, now + H / 2) == []
        assert agreements.get_agreement(s, a, agreement_id).status == "active"
        assert agreements.awaiting_my_answer_count(s, b) == 0


def test_accepting_your_own_proposal_is_refused(tx, now, couple) -> None:
    _, a, _ = couple
    with tx() as s:
        agreement_id = agreements.propose_agreement(s, a, now=now, **_checkin()).id
    with tx() as s, pytest.raises(NotAllowed, match="needs your partner's answer"):
        agreements.accept(s, a, agreement_id, now=now)


def test_another_couples_agreement_is_not_found(tx, now, couple) -> None:
    _, a, _ = couple
    with tx() as s:
        _, c, _ = make_couple(s, "c@example.org", "d@example.org", name="C & D", now=now)
        other_id = c.id
        agreement_id = agreements.propose_agreement(s, a, now=now, **_checkin()).id
    for action in (
        lambda s: agreements.accept(s, other_id, agreement_id, now=now),
        lambda s: agreements.decline(s, other_id, agreement_id, now=now),
        lambda s: agreements.get_agreement(s, other_id, agreement_id),
        lambda s: agreements.history(s, other_id, agreement_id),
        lambda s: agreements.propose_change(
            s, other_id, agreement_id, title="x", body="y", params={}, now=now
        ),
        lambda s: agreements.request_retirement(s, other_id, agreement_id, now=now),
        lambda s: agreements.flag_for_review(s, other_id, agreement_id, now=now),
    ):
        with tx() as s, pytest.raises(NotFound):
            action(s)


def test_checkin_schedule_follows_the_version_in_force(tx, now, couple) -> None:
    couple_id, a, b = couple
    with tx() as s:
        agreement_id = agreements.propose_agreement(
            s, a, now=now, **_checkin(cadence="monthly", day_of_month=3, timezone="Europe/Berlin")
        ).id
        assert agreements.checkin_schedule(s, couple_id, now) is None
    with tx() as s:
        agreements.accept(s, b, agreement_id, now=now + H)
    with tx() as s:
        v2 = agreements.propose_change(
            s,
            b,
            agreement_id,
            title="Check-in every two weeks",
            body="Same, more often.",
            params={
                **TEMPLATES["regular_checkin"].params,
                "cadence": "biweekly",
                "weekday": 2,
                "local_time": "20:15",
                "timezone": "Europe/Berlin",
            },
            now=now + 2 * H,
        ).id
    with tx() as s:
        # Until A accepts, the monthly version still counts.
        first = agreements.checkin_schedule(s, couple_id, now + 3 * H)
        assert first is not None and first.cadence == "monthly" and first.day_of_month == 3
        agreements.accept(s, a, agreement_id, now=now + 4 * H)
    with tx() as s:
        second = agreements.checkin_schedule(s, couple_id, now + 5 * H)
        assert second is not None
        assert (second.version_id, second.cadence, second.weekday) == (v2, "biweekly", 2)
        assert second.local_time == dt.time(20, 15) and second.timezone == "Europe/Berlin"
        assert second.active_since == now + 4 * H
        # The old version is still what was in force back then, and still addressable.
        again = agreements.checkin_schedule(s, couple_id, now + 3 * H)
        assert again is not None and again.version_id == first.version_id
        old = agreements.agreement_version(s, couple_id, first.version_id)
        assert old.params["cadence"] == "monthly"
