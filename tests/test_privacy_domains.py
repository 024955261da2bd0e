"""Export and deletion for agreements, check-ins and notification settings, through the
real services on both databases (docs/privacy.md says exactly what goes where)."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from agreements import cooldowns, reading, therapy
from agreements.models import AgreementPreferences, CooldownNote, TherapyRating
from checkins import history as checkin_history
from checkins import review as checkin_review
from checkins import rounds, survey, trends
from checkins.models import Adherence, Answer, Concern, Draft, Participation
from couples import service as couples
from notifications.models import MailOptOut, NotificationPreference
from notifications.preferences import update_preferences
from privacy import erase, export
from tests import privacy_scenario as scenario
from tests.factories import PASSWORD


def tables(s, user_id: int) -> dict:  # type: ignore[no-untyped-def]
    return export.export_data(s, user_id)["tables"]


def test_my_export_holds_what_i_wrote_including_private_and_safety(tx) -> None:
    sc = scenario.build(tx)
    with tx() as s:
        cooldowns.set_cooldown_mail(s, sc.a_id, True)
        update_preferences(
            s, sc.a_id, paused=False, enabled={}, preferred_hour=8, quiet_start=None, quiet_end=None
        )
        s.add(MailOptOut(address="A@example.org", kind="invitation"))
    with tx() as s:
        mine = tables(s, sc.a_id)
    text = json.dumps(mine)
    for secret in scenario.NEVER_FOR_B:
        assert secret in text, secret  # all mine
    assert scenario.B_OWN_NOTE not in text
    answers = mine["checkins"]["my_answers"]
    safety = {(r["round_id"], r["item"]): r for r in answers if r["visibility"] == survey.SAFETY}
    assert safety[(sc.revealed_round, "safety")]["value_label"] == "No"
    assert safety[(sc.revealed_round, "safety_note")]["text"] == scenario.SECRET_SAFETY
    assert safety[(sc.open_round, "safety_happened")]["value"] == 2
    assert [(d["round_id"], d["step"]) for d in mine["checkins"]["my_drafts"]] == [
        (sc.open_round, "Just for you")
    ]
    private = [r for r in answers if r["visibility"] == "private"]
    assert [(r["question"], r["text"]) for r in private] == [
        ("Just for me", scenario.SECRET_PRIVATE)
    ]
    assert [n["note"] for n in mine["agreements"]["my_cooldown_notes"]] == [
        scenario.SECRET_COOLDOWN
    ]
    assert [r["rating"] for r in mine["agreements"]["my_therapy_ratings"]] == [4]
    assert mine["agreements"]["settings"] == [{"cooldown_mail": True}]
    assert mine["notifications"]["preferences"][0]["preferred_hour"] == 8
    assert [o["kind"] for o in mine["notifications"]["mail_opt_outs"]] == ["invitation"]
    # The partner's revealed answers, and only of the revealed round.
    theirs = mine["checkins"]["partner_answers"]
    assert {r["round_id"] for r in theirs} == {sc.revealed_round}
    assert {r["visibility"] for r in theirs} == {"revealed"}
    assert {r["partner"] for r in theirs} == {"B"}
    versions = mine["agreements"]["agreement_versions"]
    assert {v["title"] for v in versions} >= {"Phones away at dinner"}


def test_the_partners_export_never_holds_my_private_safety_or_unrevealed_answers(tx) -> None:
    sc = scenario.build(tx)
    with tx() as s:
        theirs = tables(s, sc.b_id)
    text = json.dumps(theirs)
    for secret in scenario.NEVER_FOR_B:
        assert secret not in text, secret
    # What B may see is there, so the search is not blind.
    assert scenario.A_REVEALED in text and scenario.A_DECLINE_REASON in text
    assert scenario.B_OWN_NOTE in text
    partner_items = {r["item"] for r in theirs["checkins"]["partner_answers"]}
    # A's draft (the step A was on) is A's alone.
    assert theirs["checkins"]["my_drafts"] == []
    assert "Just for you" not in text
    assert partner_items and not partner_items & {"safety", "safety_happened", "safety_note"}
    # A rated the therapy session, B has not: B's export does not say how A rated it.
    [session_row] = theirs["agreements"]["therapy_sessions"]
    assert session_row["partner_rating"] is None and session_row["my_rating"] is None
    assert theirs["agreements"]["my_therapy_ratings"] == []
    assert theirs["notifications"]["mail_opt_outs"] == []
    # Rounds list only B's own status, never what A wrote.
    assert {r["round_id"] for r in theirs["checkins"]["rounds"]} == {
        sc.revealed_round,
        sc.open_round,
    }


def _a_traces(s, sc) -> dict[str, int]:  # type: ignore[no-untyped-def]
    mine = select(Participation.id).where(Participation.user_id == sc.a_id)

    def n(model, *where) -> int:  # type: ignore[no-untyped-def]
        return s.scalar(select(func.count()).select_from(model).where(*where))

    return {
        "answers": n(Answer, Answer.participation_id.in_(mine)),
        "adherence": n(Adherence, Adherence.participation_id.in_(mine)),
        "concerns": n(Concern, Concern.participation_id.in_(mine)),
        "drafts": n(Draft, Draft.participation_id.in_(mine)),
        "cooldown notes": n(CooldownNote, CooldownNote.author_id == sc.a_id),
        "therapy ratings": n(TherapyRating, TherapyRating.user_id == sc.a_id),
        "agreement settings": n(AgreementPreferences, AgreementPreferences.user_id == sc.a_id),
        "notification settings": n(
            NotificationPreference, NotificationPreference.user_id == sc.a_id
        ),
        "opt-outs": n(MailOptOut, func.lower(MailOptOut.address) == "a@example.org"),
    }


def test_deleting_removes_my_answers_and_notes_and_the_partner_keeps_the_history(tx) -> None:
    sc = scenario.build(tx)
    with tx() as s:
        cooldowns.set_cooldown_mail(s, sc.a_id, True)
        update_preferences(
            s, sc.a_id, paused=True, enabled={}, preferred_hour=8, quiet_start=None, quiet_end=None
        )
        s.add(MailOptOut(address="a@example.org", kind="invitation"))
        s.add(MailOptOut(address="other@example.org", kind="invitation"))
    with tx() as s:
        before = _a_traces(s, sc)
        b_before = tables(s, sc.b_id)
    assert all(before.values()), before
    with tx() as s:
        erase.delete_account(s, sc.a_id, PASSWORD)
    with tx() as s:
        assert set(_a_traces(s, sc).values()) == {0}
        # Erasers are idempotent: running them again changes nothing and does not fail.
        for fn in erase.erasers().values():
            fn(s, sc.a_id, erase.utcnow())
        assert s.scalar(select(func.count()).select_from(MailOptOut)) == 1
        after = tables(s, sc.b_id)
        history = reading.list_agreements(s, sc.b_id)
        entries = [e for v in history for e in reading.history(s, sc.b_id, v.agreement_id)]
        proposers = {
            v.proposed_by for a in history for v in reading.versions(s, sc.b_id, a.agreement_id)
        }
        log = cooldowns.cooldown_log(s, sc.b_id)
        review = checkin_review.review(s, sc.b_id, sc.revealed_round)
        status = rounds.round_status(s, sc.b_id, sc.open_round)
    text = json.dumps(after)
    # B keeps every shared agreement, version and history line, with A as Former partner.
    assert len(after["agreements"]["agreements"]) == len(b_before["agreements"]["agreements"])
    assert len(after["agreements"]["agreement_versions"]) == len(
        b_before["agreements"]["agreement_versions"]
    )
    assert len(after["agreements"]["agreement_history"]) == len(
        b_before["agreements"]["agreement_history"]
    )
    assert {e["by"] for e in after["agreements"]["agreement_history"]} == {
        "B",
        couples.FORMER_PARTNER,
    }
    assert {e.actor for e in entries} == {"B", couples.FORMER_PARTNER}
    assert proposers == {"B", couples.FORMER_PARTNER}
    # A's own words in the shared history (the reason A gave) and A's answers are gone.
    assert scenario.A_DECLINE_REASON not in text and scenario.A_REVEALED not in text
    assert after["checkins"]["partner_answers"] == []
    assert scenario.B_OWN_NOTE in text and "b went well" in text
    assert log[0].started_by == couples.FORMER_PARTNER and log[0].my_note == scenario.B_OWN_NOTE
    assert review.partner == couples.FORMER_PARTNER and review.theirs.texts == {}
    assert status.partner_name == couples.FORMER_PARTNER
    assert "A" not in {row["who"] for row in after["checkins"]["action_items"]}


def test_a_partner_who_left_and_renamed_is_former_partner_on_every_shared_record(tx) -> None:
    sc = scenario.build(tx)
    from couples import accounts

    with tx() as s:
        couples.leave_couple(s, sc.a_id)
    with tx() as s:
        accounts.update_profile(s, sc.a_id, display_name="Brand New Name", timezone="UTC")
    with tx() as s:
        seen = repr(
            [
                reading.list_agreements(s, sc.b_id),
                [
                    reading.history(s, sc.b_id, v.agreement_id)
                    for v in reading.list_agreements(s, sc.b_id)
                ],
                cooldowns.cooldown_log(s, sc.b_id),
                therapy.therapy_plans(s, sc.b_id),
                checkin_review.review(s, sc.b_id, sc.revealed_round),
                rounds.round_status(s, sc.b_id, sc.open_round),
                trends.trends(s, sc.b_id),
                checkin_history.shown_names(s, sc.b_id),
                tables(s, sc.b_id),
            ]
        )
    assert "Brand New Name" not in seen
    assert couples.FORMER_PARTNER in seen
