"""The guided start: progress derived from what exists, the plan proposed when the partner
joins, skipping and resuming, what happens next."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from agreements import proposals, reading
from charter import reflections
from couples import service as couples
from infra.errors import InvalidInput, NotAllowed
from notifications.models import OutboxMessage
from onboarding import service as onboarding
from onboarding.service import PlanItem
from privacy import erase, export
from tests.factories import make_user


def _token(s, invitation_id: int) -> str:  # type: ignore[no-untyped-def]
    rows = s.scalars(
        select(OutboxMessage).where(OutboxMessage.dedupe_key.like(f"invitation:{invitation_id}:%"))
    ).all()
    return rows[-1].secret


def test_the_steps_follow_what_exists_and_the_plan_waits_for_the_partner(tx, now) -> None:
    with tx() as s:
        a = make_user(s, "a@example.org", "Ana", timezone="Europe/Berlin", now=now)
        b = make_user(s, "b@example.org", "Ben", now=now)
        state = onboarding.state(s, a.id, now=now)
        assert state.active and state.current == "space" and state.step_number == 1
    with tx() as s:
        couples.create_couple(s, a.id, name="Ana & Ben", reunited_on=dt.date(2026, 1, 5), now=now)
        assert onboarding.state(s, a.id, now=now).current == "agreements"
    # The words can be adjusted; bad parameters are named by agreement and field.
    chosen = [
        onboarding.template_item(kind, timezone="Europe/Berlin") for kind in onboarding.SUGGESTED
    ]
    cooldown = chosen[1]
    with tx() as s, pytest.raises(InvalidInput) as bad:
        onboarding.save_plan(
            s, a.id, [chosen[0], PlanItem("cooldown", "", cooldown.body, {"minutes": 500})]
        )
    assert set(bad.value.fields) == {"cooldown.title", "cooldown.minutes"}
    chosen[1] = PlanItem("cooldown", "Twenty minutes apart", cooldown.body, {"minutes": "20"})
    with tx() as s:
        state = onboarding.save_plan(s, a.id, chosen, now=now)
        assert state.current == "invite" and [i.kind for i in state.plan] == list(
            onboarding.SUGGESTED
        )
        # Nothing is proposed yet: an agreement needs the partner.
        assert reading.list_agreements(s, a.id) == []
        when, agreed = onboarding.first_checkin(s, a.id, now=now)
        assert not agreed and when > now
        # Monthly on day 1 at 19:00 Berlin time: the first is 1 April 2026, 17:00 UTC.
        assert when == dt.datetime(2026, 4, 1, 17, 0, tzinfo=dt.UTC)
    with tx() as s:
        invitation = couples.invite_partner(s, a.id, "b@example.org", now=now)
        assert onboarding.state(s, a.id, now=now).current == "charter"
        token = _token(s, invitation.id)
    # The charter step: "Later" moves on, and it can be taken up again; writing one's
    # reflection (before the partner is even there) completes it.
    with tx() as s:
        onboarding.skip_charter(s, a.id, now=now)
        state = onboarding.state(s, a.id, now=now)
        assert state.current == "next" and state.charter_skipped
    with tx() as s:
        onboarding.resume_charter(s, a.id)
        assert onboarding.state(s, a.id, now=now).current == "charter"
        reflections.write_reflection(s, a.id, ["trust"], "", now=now)
        state = onboarding.state(s, a.id, now=now)
        assert state.current == "next" and not state.charter_skipped
    later = now + dt.timedelta(hours=3)
    with tx() as s:
        couples.accept_invitation(s, token, b.id, now=later)
    with tx() as s:
        views = {v.kind: v for v in reading.list_agreements(s, b.id)}
        assert set(views) == set(onboarding.SUGGESTED)
        assert all(v.awaiting_me for v in views.values())
        assert views["cooldown"].latest.title == "Twenty minutes apart"
        assert views["cooldown"].latest.params["minutes"] == 20
        assert reading.awaiting_my_answer_count(s, b.id) == 3
        assert onboarding.state(s, a.id, now=later).plan_proposed
        # The partner who joined is not walked through a start that is already made:
        # their own start lists what is theirs (answers, their side of the charter).
        assert not onboarding.state(s, b.id, now=later).applies
        joined = onboarding.joined_start(s, b.id, now=later)
        assert joined is not None and joined.partner_name == "Ana"
        assert joined.awaiting_my_answer == 3 and not joined.wrote_reflection
        assert onboarding.joined_start(s, a.id, now=later) is None
        with pytest.raises(NotAllowed):
            onboarding.save_plan(s, a.id, [], now=later)
    with tx() as s:
        proposals.accept(s, b.id, views["regular_checkin"].agreement_id, now=later)
        when, agreed = onboarding.first_checkin(s, a.id, now=later)
        assert agreed and when == dt.datetime(2026, 4, 1, 17, 0, tzinfo=dt.UTC)
        reflections.write_reflection(s, b.id, ["trust"], "", now=later)
    with tx() as s:
        joined = onboarding.joined_start(s, b.id, now=later)
        assert joined is not None
        assert joined.awaiting_my_answer == 2 and joined.wrote_reflection
        assert joined.next_checkin == (dt.datetime(2026, 4, 1, 17, 0, tzinfo=dt.UTC), True)
    with tx() as s:
        onboarding.finish(s, a.id, now=later)
        state = onboarding.state(s, a.id, now=later)
        assert state.finished and not state.active and state.current is None


def test_a_plan_saved_after_the_partner_joined_is_proposed_at_once(tx, now) -> None:
    from tests.factories import make_couple

    with tx() as s:
        _, a, b = make_couple(s, now=now)
        onboarding.save_plan(s, a.id, [onboarding.template_item("speak_up")], now=now)
        assert reading.awaiting_my_answer_count(s, b.id) == 1
        # Choosing nothing is a choice too: the step is done.
    with tx() as s:
        c = make_user(s, "c@example.org", now=now)
        couples.create_couple(s, c.id, name="C", reunited_on=None, now=now)
        state = onboarding.save_plan(s, c.id, [], now=now)
        assert state.done["agreements"] and state.plan == []


def test_skip_and_resume(tx, now) -> None:
    with tx() as s:
        a = make_user(s, "a@example.org", now=now)
        onboarding.skip(s, a.id, now=now)
        state = onboarding.state(s, a.id)
        assert not state.active and state.resumable
    with tx() as s:
        onboarding.resume(s, a.id)
        assert onboarding.state(s, a.id).active


def test_the_plan_is_exported_and_erased(tx, now) -> None:
    with tx() as s:
        a = make_user(s, "a@example.org", now=now)
        couples.create_couple(s, a.id, name="A", reunited_on=None, now=now)
        item = onboarding.template_item("repair")
        onboarding.save_plan(s, a.id, [PlanItem("repair", "Our repair", item.body)], now=now)
        tables = export.collect(s, a.id)["onboarding"]
        assert tables["onboarding"][0]["plan"][0]["title"] == "Our repair"
        user_id = a.id
        erase.erase_account(s, user_id, now=now)
        assert s.get(onboarding.OnboardingProgress, user_id) is None
