"""`tend demo`: one demo couple however often it runs, and a history whose warnings follow
the story (the rough patch raises them, the steady months none)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from agreements import reading
from checkins import quiet_rules, rules, trends, warnings
from checkins import warning_inputs as warning_inputs_module
from checkins.models import (
    PENDING,
    SUBMITTED,
    Participation,
    Round,
    Topic,
    TopicEvent,
)
from checkins.warning_inputs import warning_inputs
from couples.accounts import user_by_email
from couples.models import Couple, User
from infra.db import transaction
from notifications.models import OutboxMessage
from onboarding import service as onboarding
from tend import demo


@pytest.fixture
def demo_built(tend_env, engine, now):  # type: ignore[no-untyped-def]
    for _ in range(2):
        lines = demo.create_demo(now=now)
    return lines


def _ids(s) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    alex = user_by_email(s, demo.DEMO_PARTNERS[0][0])
    sam = user_by_email(s, demo.DEMO_PARTNERS[1][0])
    assert alex and sam
    return alex.id, sam.id


def test_demo_twice_leaves_one_couple_with_its_history_and_sends_nothing(
    demo_built, engine, now
) -> None:
    assert "already exists" in demo_built[0]
    assert any(demo.DEMO_PASSWORD in line for line in demo_built)
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(User)) == 2
        assert s.scalar(select(func.count()).select_from(Couple)) == 1
        rounds = list(s.scalars(select(Round).order_by(Round.opened_at)))
        assert len(rounds) == demo.DEFAULT_MONTHS + 1
        assert [r.revealed_at is not None for r in rounds] == [True] * demo.DEFAULT_MONTHS + [False]
        open_round = rounds[-1]
        assert open_round.closed_at is None and open_round.due_at > now
        alex, sam = _ids(s)
        statuses = dict(
            s.execute(
                select(Participation.user_id, Participation.status).where(
                    Participation.round_id == open_round.id
                )
            ).all()
        )
        assert statuses == {alex: SUBMITTED, sam: PENDING}
        # The services planned mails while the clock walked; none of them may go out.
        planned = s.scalar(select(func.count()).select_from(OutboxMessage))
        assert planned > 0
        unsent = s.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status.in_(("pending", "failed-retrying", "sending")))
        )
        assert unsent == 0
        # Agreements with versions, the therapy agreement, cooldowns.
        views = {v.kind: v for v in reading.list_agreements(s, alex)}
        assert {"regular_checkin", "cooldown", "therapy"} <= set(views)
        assert views["cooldown"].in_force.number == 3  # 5 -> countered 10 -> 20 minutes
        assert views["cooldown"].in_force.params["minutes"] == 20
        assert trends.trends(s, alex, now=now).cooldowns
        # A couple years in is past the guided start: the dashboard does not point to it.
        assert not onboarding.state(s, alex, now=now).active
        assert not onboarding.state(s, sam, now=now).applies


def _warnings_after_each_round(s, alex: int, sam: int) -> list[set[str]]:  # type: ignore[no-untyped-def]
    """The warning codes as they stood right after each revealed round, from the real
    rules: facts of the rounds so far, and topics that kept coming back by then."""
    couple_id = s.scalar(select(Couple.id))
    names = {alex: "Alex", sam: "Sam"}
    facts = sorted(
        warnings.round_facts(s, couple_id), key=lambda f: f.opened_at
    )  # every round (the lookback is widened by the caller)
    revealed = [f for f in facts if f.revealed]
    events = list(
        s.execute(select(Topic, TopicEvent).join(TopicEvent).order_by(TopicEvent.at)).all()
    )
    reveal_at = dict(s.execute(select(Round.id, Round.revealed_at)).all())
    result = []
    for k, latest in enumerate(revealed):
        cutoff = reveal_at[latest.round_id] + dt.timedelta(days=2)  # after the review
        so_far = [f for f in facts if f.opened_at <= latest.opened_at]
        recent = [f.round_id for f in reversed(revealed[: k + 1])]
        recurring = []
        for topic in {t for t, _ in events}:
            mine = [e for t, e in events if t.id == topic.id and e.at <= cutoff]
            raised = [e for e in mine if e.event == "raised"]
            statuses = [e.status for e in mine if e.event in ("created", "status")]
            if not raised or (statuses and statuses[-1] == "resolved"):
                continue
            resolved = [e.at for e in mine if e.event == "status" and e.status == "resolved"]
            if rules.keeps_coming_back(
                {e.round_id for e in raised}, recent, [e.at for e in raised], resolved
            ):
                recurring.append((topic.id, topic.title))
        found = rules.early_warnings(so_far, names, recurring, quiet=False)
        result.append({w.code for w in found})
    return result


LOUD = {
    "score_drop",
    "distressed",
    "diverging",
    "certainty_falling",
    "agreement_poor",
    "missed_rounds",
    "topic_recurring",
}


def test_the_quiet_relapse_is_caught_by_the_quiet_warnings_and_nothing_before_it(
    demo_built, engine, now
) -> None:
    """Round by round through the last rounds read: nothing quiet in the steady months
    after the rough patch; in the relapse, Sam's slow slide and Sam stepping back."""
    with transaction(engine) as s:
        alex, sam = _ids(s)
        couple_id = s.scalar(select(Couple.id))
        found = quiet_rules.timeline(warning_inputs(s, couple_id, {alex: "Alex", sam: "Sam"}, now))
        relapse_from = demo.DEFAULT_MONTHS - demo.RELAPSE_ROUNDS
        # The rounds read are the latest ones, today's open round among them.
        first = demo.DEFAULT_MONTHS - (warning_inputs_module.INPUT_ROUNDS - 1)
        per_round = [{(w.code, w.user_id) for w in then} for _at, then in found[:-1]]
        for i, codes in enumerate(per_round):
            if max(demo.ROUGH_PATCH) + 2 < first + i < relapse_from:
                assert codes == set(), (first + i, codes)
        # Both are caught at the last round the two answered: the slide has gone four
        # points below where it began, and it is the third round without a word from Sam.
        assert {("slow_decline", sam), ("drifting_away", sam)} <= per_round[-1]
        assert ("slow_decline", sam) not in per_round[-2]
        last = {(w.code, w.user_id) for w in found[-1][1]}
        assert last == {("slow_decline", sam), ("drifting_away", sam)}
        slide = next(w for w in found[-1][1] if w.code == "slow_decline")
        assert "Sam" in slide.title and any("10" in line for line in slide.evidence)
        drift = next(w for w in found[-1][1] if w.code == "drifting_away")
        assert any("What went well" in line for line in drift.evidence)


def test_the_rough_patch_raises_warnings_and_the_steady_months_none(
    demo_built, engine, monkeypatch, now
) -> None:
    monkeypatch.setattr(warnings, "WARNING_LOOKBACK", 1000)
    with transaction(engine) as s:
        alex, sam = _ids(s)
        per_round = _warnings_after_each_round(s, alex, sam)
        recent_topic_rounds = range(demo.DEFAULT_MONTHS - 1, demo.DEFAULT_MONTHS)
        for k, codes in enumerate(per_round):
            if k in demo.ROUGH_PATCH:
                continue
            if k in recent_topic_rounds:
                assert codes == {"topic_recurring"}, (k, codes)
            else:
                assert codes == set(), (k, codes)
        # The heart of the rough patch: Sam's score drops into the low range, the scores
        # drift apart, certainty falls, the cooldown is not kept, Jordan keeps coming back.
        rough = set().union(*(per_round[k] for k in demo.ROUGH_PATCH))
        assert {
            "score_drop",
            "distressed",
            "diverging",
            "certainty_falling",
            "agreement_poor",
            "topic_recurring",
        } <= rough
        assert all(per_round[k] for k in range(7, 10))
        # Today, through the service the pages use: of the loud ones only the new, milder
        # topic; the quiet relapse is caught by the quiet warnings (below).
        monkeypatch.setattr(warnings, "WARNING_LOOKBACK", 8)
        today = warnings.early_warnings(s, alex, now=now)
        assert [(w.code, w.title) for w in today if w.code in LOUD] == [
            ("topic_recurring", f"“{demo.RECENT_TOPIC}” keeps coming back")
        ]
        assert {(w.code, w.user_id) for w in today if w.code not in LOUD} == {
            ("slow_decline", sam),
            ("drifting_away", sam),
        }
        jordan = s.scalar(select(Topic).where(Topic.title == demo.RECURRING_TOPIC))
        assert jordan is not None and jordan.status == "resolved"


def test_longer_history_with_years(tend_env, engine, now) -> None:
    lines = demo.create_demo(now=now, years=3)
    assert "36 months" in lines[0]
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(Round)) == 37
        alex, _ = _ids(s)
        today = warnings.early_warnings(s, alex, now=now)
        assert [w.code for w in today if w.code in LOUD] == ["topic_recurring"]
        assert {w.code for w in today if w.code not in LOUD} == {"slow_decline", "drifting_away"}


def test_readme_documents_every_setting() -> None:
    from pathlib import Path

    from infra.settings import Settings

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    missing = [
        f"TEND_{name.upper()}"
        for name in Settings.model_fields
        if f"`TEND_{name.upper()}`" not in readme
    ]
    assert missing == []


def test_the_demo_couple_has_a_charter_and_the_rough_patch_brings_it_back(
    demo_built, engine
) -> None:
    from charter import consent, reflections
    from charter import warnings as charter_warnings

    with transaction(engine) as s:
        alex, sam = _ids(s)
        couple_id = s.scalar(select(Couple.id))
        view = consent.charter_view(s, alex)
        assert view.in_force is not None and view.in_force.number == 4 and view.pending is None
        causes = consent.root_causes(s, couple_id)
        assert [c.title for c in causes] == [
            "We stopped talking about what mattered",
            demo.RECURRING_TOPIC,
        ]
        assert all(len(c.commitments) == 2 for c in causes)
        assert reflections.partner_reflection(s, sam) is not None
        rounds = s.scalars(
            select(Round.id).where(Round.revealed_at.is_not(None)).order_by(Round.opened_at)
        ).all()
        back = [k for k, r in enumerate(rounds) if charter_warnings.came_back(s, couple_id, r)]
        assert back and set(back) <= set(demo.ROUGH_PATCH)
