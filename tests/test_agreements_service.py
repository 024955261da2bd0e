"""Agreement lifecycle: every transition, the refused ones, history, versions in force."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from agreements import in_force as agreement_in_force
from agreements import proposals, reading
from agreements.templates import TEMPLATES
from infra.errors import InvalidInput, NotAllowed, NotFound
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
        agreement_id = proposals.propose_agreement(s, a, now=now, **_checkin()).id
    with tx() as s:
        assert agreement_in_force.agreements_in_force(s, couple_id, now + H) == []
        view = reading.get_agreement(s, b, agreement_id)
        assert view.status == "proposed" and view.awaiting_me and not view.awaiting_partner
        assert reading.awaiting_my_answer_count(s, b) == 1
        assert reading.awaiting_my_answer_count(s, a) == 0
        mails = s.scalars(select(OutboxMessage)).all()
        assert [(m.kind, m.to_address) for m in mails if m.kind.startswith("agreement")] == [
            ("agreement_proposed", "b@example.org")
        ]
    with tx() as s:
        proposals.accept(s, b, agreement_id, now=now + H)
    with tx() as s:
        in_force = agreement_in_force.agreements_in_force(s, couple_id, now + 2 * H)
        assert [x.agreement_id for x in in_force] == [agreement_id]
        assert in_force[0].kind == "regular_checkin"
        assert agreement_in_force.agreements_in_force(s, couple_id, now + H / 2) == []
        assert reading.get_agreement(s, a, agreement_id).status == "active"
        assert reading.awaiting_my_answer_count(s, b) == 0


def test_accepting_your_own_proposal_is_refused(tx, now, couple) -> None:
    _, a, _ = couple
    with tx() as s:
        agreement_id = proposals.propose_agreement(s, a, now=now, **_checkin()).id
    with tx() as s, pytest.raises(NotAllowed, match="needs your partner's answer"):
        proposals.accept(s, a, agreement_id, now=now)


def test_another_couples_agreement_is_not_found(tx, now, couple) -> None:
    _, a, _ = couple
    with tx() as s:
        _, c, _ = make_couple(s, "c@example.org", "d@example.org", name="C & D", now=now)
        other_id = c.id
        agreement_id = proposals.propose_agreement(s, a, now=now, **_checkin()).id
    for action in (
        lambda s: proposals.accept(s, other_id, agreement_id, now=now),
        lambda s: proposals.decline(s, other_id, agreement_id, now=now),
        lambda s: reading.get_agreement(s, other_id, agreement_id),
        lambda s: reading.history(s, other_id, agreement_id),
        lambda s: proposals.propose_change(
            s, other_id, agreement_id, title="x", body="y", params={}, now=now
        ),
        lambda s: proposals.request_retirement(s, other_id, agreement_id, now=now),
        lambda s: proposals.flag_for_review(s, other_id, agreement_id, now=now),
    ):
        with tx() as s, pytest.raises(NotFound):
            action(s)


def test_checkin_schedule_follows_the_version_in_force(tx, now, couple) -> None:
    couple_id, a, b = couple
    with tx() as s:
        agreement_id = proposals.propose_agreement(
            s, a, now=now, **_checkin(cadence="monthly", day_of_month=3, timezone="Europe/Berlin")
        ).id
        assert agreement_in_force.checkin_schedule(s, couple_id, now) is None
    with tx() as s:
        proposals.accept(s, b, agreement_id, now=now + H)
    with tx() as s:
        v2 = proposals.propose_change(
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
        first = agreement_in_force.checkin_schedule(s, couple_id, now + 3 * H)
        assert first is not None and first.cadence == "monthly" and first.day_of_month == 3
        proposals.accept(s, a, agreement_id, now=now + 4 * H)
    with tx() as s:
        second = agreement_in_force.checkin_schedule(s, couple_id, now + 5 * H)
        assert second is not None
        assert (second.version_id, second.cadence, second.weekday) == (v2, "biweekly", 2)
        assert second.local_time == dt.time(20, 15) and second.timezone == "Europe/Berlin"
        assert second.active_since == now + 4 * H
        # The old version is still what was in force back then, and still addressable.
        again = agreement_in_force.checkin_schedule(s, couple_id, now + 3 * H)
        assert again is not None and again.version_id == first.version_id
        old = agreement_in_force.agreement_version(s, couple_id, first.version_id)
        assert old.params["cadence"] == "monthly"


def _propose(tx, user, now, kind="cooldown", **overrides):  # type: ignore[no-untyped-def]
    t = TEMPLATES[kind]
    words = {"title": t.title, "body": t.body, "params": dict(t.params), **overrides}
    with tx() as s:
        return proposals.propose_agreement(s, user, kind=kind, now=now, **words).id


def test_decline_with_reason_closes_a_first_proposal(tx, now, couple) -> None:
    _, a, b = couple
    agreement_id = _propose(tx, a, now)
    with tx() as s:
        proposals.decline(s, b, agreement_id, reason="Five minutes is too short for me", now=now)
    with tx() as s:
        view = reading.get_agreement(s, a, agreement_id)
        assert view.status == "declined" and not view.awaiting_me and not view.awaiting_partner
        assert view.latest.decline_reason == "Five minutes is too short for me"
        with pytest.raises(NotAllowed, match="closed"):
            proposals.accept(s, b, agreement_id, now=now)
    with tx() as s, pytest.raises(NotAllowed, match="closed"):
        proposals.propose_change(s, a, agreement_id, title="x", body="y", params={}, now=now)


def test_counter_proposal_then_first_partner_accepts(tx, now, couple) -> None:
    couple_id, a, b = couple
    agreement_id = _propose(tx, a, now)
    with tx() as s:
        counter = proposals.counter_propose(
            s,
            b,
            agreement_id,
            title="Cooldown",
            body="We pause and come back.",
            params={"minutes": 20, "during": "Walk"},
            now=now + H,
        )
        counter_id = counter.id
    with tx() as s:
        # B cannot accept their own counter; A now has the answer to give.
        with pytest.raises(NotAllowed):
            proposals.accept(s, b, agreement_id, now=now + H)
        assert reading.get_agreement(s, a, agreement_id).awaiting_me
        assert not reading.get_agreement(s, b, agreement_id).awaiting_me
    with tx() as s:
        proposals.accept(s, a, agreement_id, now=now + 2 * H)
    with tx() as s:
        [in_force] = agreement_in_force.agreements_in_force(s, couple_id, now + 3 * H)
        assert in_force.version_id == counter_id and in_force.params["minutes"] == 20
        states = [v.state for v in reading.versions(s, a, agreement_id)]
        assert states == ["countered", "in_force"]
        actions = [
            (e.action, e.actor, e.version_number) for e in reading.history(s, a, agreement_id)
        ]
        assert actions == [
            ("proposed", "A", 1),
            ("countered", "B", 2),
            ("accepted", "A", 2),
        ]
        kinds = [
            (m.kind, m.to_address, m.context.get("what"))
            for m in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
            if m.kind == "agreement_proposed"
        ]
        assert kinds == [
            ("agreement_proposed", "b@example.org", "new"),
            ("agreement_proposed", "a@example.org", "counter"),
        ]


def test_change_keeps_current_version_until_accepted_and_diff_shows_it(tx, now, couple) -> None:
    couple_id, a, b = couple
    agreement_id = _propose(tx, a, now)
    with tx() as s:
        proposals.accept(s, b, agreement_id, now=now)
    with tx() as s:
        proposals.propose_change(
            s,
            b,
            agreement_id,
            title="Cooldown",
            body="We pause for longer.",
            params={"minutes": 20, "during": ""},
            now=now + H,
        )
    with tx() as s:
        [current] = agreement_in_force.agreements_in_force(s, couple_id, now + 2 * H)
        assert current.params["minutes"] == 5
        # A declines the change: the old words simply stay.
        proposals.decline(s, a, agreement_id, reason=None, now=now + 2 * H)
    with tx() as s:
        view = reading.get_agreement(s, a, agreement_id)
        assert view.status == "active" and view.pending is None
        assert view.in_force is not None and view.in_force.number == 1
        diff = reading.diff_versions(s, a, agreement_id, 1, 2)
        assert "+Cooldown length: 20 minutes" in diff
        assert "-Cooldown length: 5 minutes" in diff
        assert "+We pause for longer." in diff
        with pytest.raises(NotFound):
            reading.diff_versions(s, a, agreement_id, 1, 9)


def test_same_words_are_not_a_change_and_bad_input_is_explained(tx, now, couple) -> None:
    _, a, b = couple
    agreement_id = _propose(tx, a, now)
    with tx() as s:
        proposals.accept(s, b, agreement_id, now=now)
    t = TEMPLATES["cooldown"]
    with tx() as s, pytest.raises(InvalidInput, match="same words"):
        proposals.propose_change(
            s, a, agreement_id, title=t.title, body=t.body, params=t.params, now=now
        )
    with tx() as s, pytest.raises(InvalidInput) as problem:
        proposals.propose_agreement(
            s, a, kind="cooldown", title=" ", body="", params={"minutes": 500}, now=now
        )
    assert set(problem.value.fields) == {"title", "body", "minutes"}
    with tx() as s, pytest.raises(InvalidInput) as problem:
        proposals.propose_agreement(
            s, a, **_checkin(cadence="daily", local_time="25:00", timezone="Mars/Base"), now=now
        )
    assert set(problem.value.fields) == {"cadence", "local_time", "timezone"}


def test_revising_and_withdrawing_my_own_proposal(tx, now, couple) -> None:
    _, a, b = couple
    agreement_id = _propose(tx, a, now)
    with tx() as s:
        proposals.propose_change(
            s,
            a,
            agreement_id,
            title="Cooldown",
            body="Revised.",
            params={"minutes": 10},
            now=now + H,
        )
    with tx() as s:
        view = reading.get_agreement(s, b, agreement_id)
        assert view.pending is not None and view.pending.number == 2 and view.awaiting_me
        with pytest.raises(NotAllowed):
            proposals.withdraw(s, b, agreement_id, now=now)
    with tx() as s:
        proposals.withdraw(s, a, agreement_id, now=now + 2 * H)
    with tx() as s:
        assert reading.get_agreement(s, b, agreement_id).status == "withdrawn"
        assert reading.awaiting_my_answer_count(s, b) == 0


def test_retiring_needs_both_and_a_retired_agreement_cannot_change(tx, now, couple) -> None:
    couple_id, a, b = couple
    agreement_id = _propose(tx, a, now)
    with tx() as s:
        proposals.accept(s, b, agreement_id, now=now)
    with tx() as s:
        proposals.request_retirement(s, a, agreement_id, reason="It has become habit", now=now + H)
    with tx() as s:
        with pytest.raises(NotAllowed, match="your partner's answer"):
            proposals.answer_retirement(s, a, agreement_id, agree=True, now=now + H)
        assert len(agreement_in_force.agreements_in_force(s, couple_id, now + 2 * H)) == 1
        assert reading.get_agreement(s, b, agreement_id).awaiting_me
    with tx() as s:
        proposals.answer_retirement(s, b, agreement_id, agree=False, now=now + 2 * H)
    with tx() as s:
        proposals.request_retirement(s, b, agreement_id, now=now + 3 * H)
    with tx() as s:
        proposals.answer_retirement(s, a, agreement_id, agree=True, now=now + 4 * H)
    with tx() as s:
        assert agreement_in_force.agreements_in_force(s, couple_id, now + 5 * H) == []
        assert len(agreement_in_force.agreements_in_force(s, couple_id, now + 3 * H)) == 1
        assert reading.get_agreement(s, a, agreement_id).status == "retired"
    for action in (
        lambda s: proposals.propose_change(
            s, a, agreement_id, title="Back", body="Again", params={"minutes": 5}, now=now
        ),
        lambda s: proposals.flag_for_review(s, a, agreement_id, now=now),
        lambda s: proposals.request_retirement(s, a, agreement_id, now=now),
    ):
        with tx() as s, pytest.raises(NotAllowed, match="retired"):
            action(s)
    with tx() as s:
        actions = [e.action for e in reading.history(s, b, agreement_id)]
        assert actions == [
            "proposed",
            "accepted",
            "retire_requested",
            "retire_declined",
            "retire_requested",
            "retired",
        ]


def test_flag_for_review_shows_in_force_and_mails_partner(tx, now, couple) -> None:
    couple_id, a, b = couple
    agreement_id = _propose(tx, a, now)
    with tx() as s, pytest.raises(NotAllowed):
        proposals.flag_for_review(s, a, agreement_id, now=now)  # not active yet
    with tx() as s:
        proposals.accept(s, b, agreement_id, now=now)
    with tx() as s:
        proposals.flag_for_review(s, b, agreement_id, note="Let's talk about it", now=now + H)
    with tx() as s:
        [in_force] = agreement_in_force.agreements_in_force(s, couple_id, now + H)
        assert in_force.flagged_for_review
        with pytest.raises(NotAllowed, match="already flagged"):
            proposals.flag_for_review(s, a, agreement_id, now=now + H)
        mail = s.scalar(select(OutboxMessage).where(OutboxMessage.kind == "agreement_flagged"))
        assert mail is not None and mail.to_address == "a@example.org"
        assert "talk about it" not in str(mail.context)
    with tx() as s:
        proposals.clear_review_flag(s, a, agreement_id, now=now + 2 * H)
    with tx() as s:
        assert not agreement_in_force.agreements_in_force(s, couple_id, now + 2 * H)[
            0
        ].flagged_for_review


def test_a_lone_partner_or_a_left_couple_cannot_propose(tx, now) -> None:
    from couples import service as couples
    from tests.factories import make_user

    with tx() as s:
        solo = make_user(s, "solo@example.org", now=now)
        couples.create_couple(s, solo.id, name="Solo", reunited_on=None, now=now)
        solo_id = solo.id
    with tx() as s, pytest.raises(NotAllowed, match="Invite your partner"):
        proposals.propose_agreement(s, solo_id, now=now, **_checkin())
    with tx() as s:
        _, a, b = make_couple(s, "x@example.org", "y@example.org", now=now)
        a_id, b_id = a.id, b.id
    agreement_id = _propose(tx, a_id, now)
    with tx() as s:
        couples.leave_couple(s, a_id, now=now)
    with tx() as s, pytest.raises(NotAllowed, match="read-only"):
        proposals.accept(s, b_id, agreement_id, now=now)


def test_the_waiting_count_agrees_with_each_agreements_view(tx, now, couple) -> None:
    """The home page's count (one SQL statement) says what the agreement views say, in
    every state: proposed by either, a change proposed, a retirement asked by either,
    declined, in force with nothing asked."""
    _, a, b = couple

    def propose(by: int, at: dt.datetime) -> int:
        with tx() as s:
            return proposals.propose_agreement(s, by, now=at, **_checkin()).id

    proposed_by_a = propose(a, now)
    proposed_by_b = propose(b, now + H)
    declined = propose(a, now + 2 * H)
    changed = propose(a, now + 3 * H)
    retire_a = propose(b, now + 4 * H)
    retire_b = propose(a, now + 5 * H)
    quiet = propose(a, now + 6 * H)
    with tx() as s:
        proposals.decline(s, b, declined, now=now + 7 * H)
        for agreement_id in (changed, retire_a, retire_b, quiet):
            proposals.accept(s, a if agreement_id == retire_a else b, agreement_id, now=now + 7 * H)
        proposals.propose_change(
            s, b, changed, title="Every other Sunday", body="Still talking.", now=now + 8 * H
        )
        proposals.request_retirement(s, a, retire_a, now=now + 8 * H)
        proposals.request_retirement(s, b, retire_b, now=now + 8 * H)
    with tx() as s:
        for me in (a, b):
            waiting = {v.agreement_id for v in reading.list_agreements(s, me) if v.awaiting_me}
            assert reading.awaiting_my_answer_count(s, me) == len(waiting)
        assert {v.agreement_id for v in reading.list_agreements(s, a) if v.awaiting_me} == {
            proposed_by_b,
            changed,
            retire_b,
        }
        assert {v.agreement_id for v in reading.list_agreements(s, b) if v.awaiting_me} == {
            proposed_by_a,
            retire_a,
        }
