"""The reconciliation charter through the real services on SQLite and PostgreSQL: the
reflections' reveal rule, the charter's consent (the agreements' machinery), its root
causes becoming topics, the warning that what ended it last time is back, the private
safety note, export and deletion."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from agreements import in_force, reading
from charter import consent, reflections, safety, words
from charter import warnings as charter_warnings
from charter.consent import CauseInput
from charter.models import CharterReflection, CharterSafetyNote
from checkins import history as checkin_history
from checkins import review as checkin_review
from checkins import rounds as checkin_rounds
from checkins import talk
from checkins import warnings as checkin_warnings
from checkins.views import AdherenceInput, ConcernInput
from infra.errors import InvalidInput, NotAllowed
from notifications.models import OutboxMessage
from privacy import erase, export
from tests.factories import make_couple
from tests.test_checkins_service import answer_round, sheet

H = dt.timedelta(hours=1)
REVIEW = dt.date(2026, 6, 14)


@pytest.fixture
def couple(tx, now):  # type: ignore[no-untyped-def]
    with tx() as s:
        c, a, b = make_couple(s, now=now - dt.timedelta(days=30))
        return c.id, a, b


@pytest.fixture
def stranger(tx, now):  # type: ignore[no-untyped-def]
    with tx() as s:
        _c, x, _y = make_couple(s, "x@example.org", "y@example.org", now=now)
        return x


# --- reflections: the reveal rule -------------------------------------------------------


def test_the_partner_reads_my_reflection_only_once_both_have_written(tx, now, couple) -> None:
    _cid, a, b = couple
    with tx() as s:
        reflections.write_reflection(s, a.id, ["trust", "talking"], "I stopped listening.", now=now)
    with tx() as s:
        assert reflections.partner_reflection(s, b.id) is None
        assert reflections.partner_reflection(s, a.id) is None
        status_b = reflections.status(s, b.id)
        assert status_b.partner_written and not status_b.mine_written and not status_b.revealed
        # A may still change theirs before B has written.
        reflections.write_reflection(s, a.id, ["trust"], "I stopped listening to you.", now=now)
    with tx() as s:
        reflections.write_reflection(s, b.id, ["money"], "", now=now + H)
    with tx() as s:
        seen_by_b = reflections.partner_reflection(s, b.id)
        assert seen_by_b is not None
        assert (seen_by_b.who, seen_by_b.causes, seen_by_b.words) == (
            "A",
            ("trust",),
            "I stopped listening to you.",
        )
        assert seen_by_b.cause_titles == ["Trust was broken"]
        seen_by_a = reflections.partner_reflection(s, a.id)
        assert seen_by_a is not None and seen_by_a.causes == ("money",)
        assert reflections.status(s, a.id).revealed
    # Revealed: both stay as they were.
    with tx() as s, pytest.raises(NotAllowed):
        reflections.write_reflection(s, a.id, ["lies"], "changed", now=now + 2 * H)
    with tx() as s:
        assert reflections.my_reflection(s, a.id).causes == ("trust",)  # type: ignore[union-attr]


def test_a_reflection_needs_something_and_refuses_what_cannot_be_stored(tx, now, couple) -> None:
    _cid, a, _b = couple
    for causes, text, field in (
        ([], "  ", "causes"),
        (["not-a-cause"], "", "causes"),
        ([], "x\x00y", "words"),
        ([], "x" * (words.MAX_WORDS + 1), "words"),
    ):
        with tx() as s, pytest.raises(InvalidInput) as caught:
            reflections.write_reflection(s, a.id, causes, text, now=now)
        assert field in caught.value.fields
    with tx() as s:
        assert reflections.my_reflection(s, a.id) is None


def test_another_couple_never_sees_a_reflection(tx, now, couple, stranger) -> None:
    _cid, a, b = couple
    with tx() as s:
        reflections.write_reflection(s, a.id, ["trust"], "ours", now=now)
        reflections.write_reflection(s, b.id, ["trust"], "ours too", now=now)
    with tx() as s:
        assert reflections.partner_reflection(s, stranger.id) is None
        assert reflections.my_reflection(s, stranger.id) is None
        assert not reflections.status(s, stranger.id).partner_written


# --- the charter: consent through the agreements --------------------------------------------


def _propose_trust(s, user, now, what="I answer my phone when you call.", **kw):  # type: ignore[no-untyped-def]
    causes = [CauseInput("trust", what=what, notice="No more unanswered evenings.")]
    causes += kw.pop("more", [])
    return consent.propose_charter(s, user.id, causes, kw.pop("review_on", REVIEW), now=now)


def test_a_charter_is_in_force_only_once_both_consent_and_each_committed(tx, now, couple) -> None:
    cid, a, b = couple
    with tx() as s:
        view = _propose_trust(s, a, now)
        assert view.awaiting_partner and view.in_force is None
        assert view.pending is not None and view.pending.has_commitment_of(a.id)
        mails = s.execute(select(OutboxMessage.kind, OutboxMessage.to_address)).all()
        assert ("agreement_proposed", "b@example.org") in [tuple(m) for m in mails]
    with tx() as s:
        assert consent.root_causes(s, cid, at=now + H) == []
        # B cannot say yes to a charter in which B changes nothing.
        with pytest.raises(NotAllowed, match="Add what you will do"):
            consent.agree(s, b.id, now=now + H)
    with tx() as s:  # B answers with changes: B's own commitment; A's stays as A wrote it
        view = consent.propose_charter(
            s,
            b.id,
            [CauseInput("trust", what="I tell you where I am.", notice="You stop asking.")],
            REVIEW,
            now=now + H,
        )
        assert view.awaiting_partner
        cause = view.pending.root_causes[0]  # type: ignore[union-attr]
        assert [(c.who, c.what) for c in cause.commitments] == [
            ("A", "I answer my phone when you call."),
            ("B", "I tell you where I am."),
        ]
    with tx() as s, pytest.raises(NotAllowed):
        consent.agree(s, b.id, now=now + 2 * H)  # one's own proposal needs the partner
    with tx() as s:
        view = consent.agree(s, a.id, now=now + 2 * H)
        assert view.in_force is not None and view.pending is None
        assert view.in_force.number == 2 and view.in_force.review_on == REVIEW
    with tx() as s:
        causes = consent.root_causes(s, cid, at=now + 3 * H)
        assert [(c.key, c.title) for c in causes] == [("trust", "Trust was broken")]
        assert consent.root_causes(s, cid, at=now + H) == []  # not before the yes
        # It is an agreement like the others: versions and history in the agreements.
        agreement_id = _charter_id(s, cid, now + 3 * H)
        assert [v.state for v in reading.versions(s, a.id, agreement_id)] == [  # type: ignore[arg-type]
            "countered",
            "in_force",
        ]
        kinds = [x.kind for x in in_force.agreements_in_force(s, cid, now + 3 * H)]
        assert kinds == [words.KIND]


def test_a_change_needs_consent_and_keeps_the_partners_commitments(tx, now, couple) -> None:
    cid, a, b = couple
    with tx() as s:
        consent.propose_charter(
            s, a.id, [CauseInput("trust", what="A does", notice="A shows")], REVIEW, now=now
        )
        consent.propose_charter(
            s, b.id, [CauseInput("trust", what="B does", notice="B shows")], REVIEW, now=now
        )
        consent.agree(s, a.id, now=now + H)
    with tx() as s:  # A adds a root cause in their own words
        view = consent.propose_charter(
            s,
            a.id,
            [
                CauseInput("trust", what="A does better", notice="A shows"),
                CauseInput(words.OWN, own_title="Weekends  with  friends", what="x", notice="y"),
            ],
            REVIEW,
            now=now + 2 * H,
        )
        assert view.in_force is not None and len(view.in_force.root_causes) == 1
        pending = view.pending
        assert pending is not None
        assert [c.key for c in pending.root_causes] == ["trust", "own:weekends with friends"]
        assert pending.root_causes[1].title == "Weekends with friends"
        trust = pending.root_causes[0]
        assert {c.who: c.what for c in trust.commitments} == {"A": "A does better", "B": "B does"}
    with tx() as s:
        assert len(consent.root_causes(s, cid, at=now + 3 * H)) == 1  # still version 1
        consent.decline(s, b.id, reason="Not yet", now=now + 3 * H)
    with tx() as s:
        view = consent.charter_view(s, b.id, now=now + 4 * H)
        assert view.pending is None and view.in_force is not None
        assert len(consent.root_causes(s, cid, at=now + 4 * H)) == 1


@pytest.mark.parametrize(
    ("causes", "review_on", "field"),
    [
        ([], REVIEW, "root_causes"),
        ([CauseInput("trust")] * 4, REVIEW, "root_causes"),
        ([CauseInput("trust", what="x", notice="y")], None, "review_on"),
        ([CauseInput("trust", what="x", notice="y")], dt.date(2026, 3, 14), "review_on"),
        ([CauseInput("nonsense", what="x", notice="y")], REVIEW, "cause0"),
        ([CauseInput(words.OWN, what="x", notice="y")], REVIEW, "cause0"),
        ([CauseInput("trust")], REVIEW, "cause0.what"),
        ([CauseInput("trust", what="x")], REVIEW, "cause0.notice"),
        ([CauseInput("trust", what="x\x00", notice="y")], REVIEW, "cause0.what"),
        ([CauseInput("trust", what="x", notice="y")] * 2, REVIEW, "cause1"),
    ],
)
def test_bad_charters_are_refused_with_a_message_per_field(  # type: ignore[no-untyped-def]
    tx, now, couple, causes, review_on, field
) -> None:
    _cid, a, _b = couple
    with tx() as s, pytest.raises(InvalidInput) as caught:
        consent.propose_charter(s, a.id, causes, review_on, now=now)
    assert field in caught.value.fields
    with tx() as s:
        assert consent.charter_view(s, a.id).pending is None


# --- root causes become topics; the warning -----------------------------------------------


def _charter_id(s, couple_id: int, at: dt.datetime) -> int:  # type: ignore[no-untyped-def]
    """The agreement holding the charter in force at ``at`` (its ratings in check-ins)."""
    found = consent.charter_in_force(s, couple_id, at=at)
    assert found is not None
    return found[0]


def _charter_in_force(tx, a, b, now, causes=("trust",)) -> None:  # type: ignore[no-untyped-def]
    with tx() as s:
        consent.propose_charter(
            s,
            a.id,
            [CauseInput(c, what="A does", notice="A shows") for c in causes],
            REVIEW,
            now=now,
        )
        consent.propose_charter(
            s,
            b.id,
            [CauseInput(c, what="B does", notice="B shows") for c in causes],
            REVIEW,
            now=now,
        )
        consent.agree(s, a.id, now=now)


def test_each_root_cause_becomes_a_topic_and_an_existing_one_is_reused(tx, now, couple) -> None:
    cid, a, b = couple
    with tx() as s:
        money = checkin_history.add_topic(s, a.id, "money", now=now).id
    _charter_in_force(tx, a, b, now, causes=("trust", "money"))
    with tx() as s:
        causes = {c.key: c.topic_id for c in consent.root_causes(s, cid, at=now + H)}
        topics = {t.id: t.title for t in checkin_history.topics(s, b.id)}
        assert causes["money"] == money
        assert topics[causes["trust"]] == "Trust was broken"
        assert len(topics) == 2


def _round(tx, a, b, now, concern_topic=None, kept=(4, 4), charter_id=None) -> int:  # type: ignore[no-untyped-def]
    with tx() as s:
        round_id = checkin_rounds.start_round_now(s, a.id, now=now).id
    sheet_a, sheet_b = sheet(), sheet()
    if concern_topic is not None:
        sheet_a.concerns = [ConcernInput("Again the phone", "An answer", concern_topic)]
    if charter_id is not None:
        sheet_b.adherence[charter_id] = AdherenceInput(*kept)
    answer_round(tx, a, b, round_id, now, sheet_a, sheet_b)
    return round_id


def test_raising_a_root_cause_topic_brings_the_warning_first(tx, now, couple) -> None:
    cid, a, b = couple
    _charter_in_force(tx, a, b, now - dt.timedelta(days=2))
    with tx() as s:
        trust_topic = consent.root_causes(s, cid)[0].topic_id
        other = checkin_history.add_topic(s, a.id, "Chores", now=now).id
    quiet = _round(tx, a, b, now - dt.timedelta(days=1), concern_topic=other)
    with tx() as s:
        assert charter_warnings.came_back(s, cid, quiet) == []
        assert checkin_review.review(s, a.id, quiet).warnings == []
    back = _round(tx, a, b, now, concern_topic=trust_topic)
    with tx() as s:
        found = charter_warnings.came_back(s, cid, back)
        assert [(f.why, f.cause_key, f.topic_id) for f in found] == [
            ("raised", "trust", trust_topic)
        ]
        review = checkin_review.review(s, b.id, back)
        assert [w.title for w in review.warnings] == ["What ended it last time is back"]
        assert "“Trust was broken”" in review.warnings[0].explanation
        assert review.warnings[0].next_step
        first = checkin_warnings.early_warnings(s, a.id)[0]
        assert (first.code, first.title) == ("charter_back", "What ended it last time is back")
        # The talk's agenda: the root cause that came back leads, ahead of its topic.
        items = talk.talk_view(s, b.id, back).items
        came = [i for i in items if i.key == "root:charter:trust"]
        assert len(came) == 1 and came[0].first and "“Trust was broken”" in came[0].title
        assert not [i for i in items if i.key == f"topic:{trust_topic}"]
        quiet_items = talk.talk_view(s, b.id, quiet).items
        assert not [i for i in quiet_items if i.key.startswith("root:")]


def test_a_charter_rated_not_kept_brings_the_warning(tx, now, couple) -> None:
    cid, a, b = couple
    _charter_in_force(tx, a, b, now - dt.timedelta(days=2))
    with tx() as s:
        charter_id = _charter_id(s, cid, now - dt.timedelta(days=1))
    kept = _round(tx, a, b, now - dt.timedelta(days=1), charter_id=charter_id, kept=(4, 3))
    with tx() as s:
        assert charter_warnings.came_back(s, cid, kept) == []
    not_kept = _round(tx, a, b, now, charter_id=charter_id, kept=(4, 2))
    with tx() as s:
        found = charter_warnings.came_back(s, cid, not_kept)
        assert [(f.why, f.cause_key) for f in found] == [("not_kept", None)]
        keys = [i.key for i in talk.talk_view(s, a.id, not_kept).items if i.first]
        assert "root:charter:not_kept" in keys
        warning = checkin_review.review(s, a.id, not_kept).warnings[0]
        assert "rated the changes you committed to in your charter as not kept" in (
            warning.explanation
        )


def test_no_warning_before_the_reveal_or_without_a_charter(tx, now, couple) -> None:
    cid, a, b = couple
    with tx() as s:
        topic = checkin_history.add_topic(s, a.id, "Trust was broken", now=now).id
    without = _round(tx, a, b, now - dt.timedelta(days=3), concern_topic=topic)
    with tx() as s:
        assert charter_warnings.came_back(s, cid, without) == []
    _charter_in_force(tx, a, b, now - dt.timedelta(days=2))
    with tx() as s:
        round_id = checkin_rounds.start_round_now(s, a.id, now=now).id
        concern = ConcernInput("Again", "Answer", topic)
        answer = sheet()
        answer.concerns = [concern]
    from tests.test_checkins_service import save_and_submit

    with tx() as s:
        save_and_submit(s, a, round_id, answer, now)
    with tx() as s:
        assert charter_warnings.came_back(s, cid, round_id) == []
        assert charter_warnings.charter_warnings(s, cid, round_id) == []


# --- the private safety note; export and deletion -----------------------------------------


def test_the_safety_note_is_only_ever_its_authors(tx, now, couple) -> None:
    _cid, a, b = couple
    with tx() as s:
        note = safety.save_safety_note(s, a.id, 1, "He took my phone.", now=now)
        assert note.concerning
    with tx() as s:
        assert safety.my_safety_note(s, b.id) is None
        b_export = export.collect(s, b.id)
        a_export = export.collect(s, a.id)
    assert "He took my phone." not in repr(b_export)
    assert a_export["charter"]["my_charter_safety_note"][0]["note"] == "He took my phone."
    with tx() as s, pytest.raises(InvalidInput):
        safety.save_safety_note(s, a.id, 9, "", now=now)


def test_export_holds_the_partners_reflection_only_after_the_reveal(tx, now, couple) -> None:
    _cid, a, b = couple
    with tx() as s:
        reflections.write_reflection(s, a.id, ["trust"], "A's own words", now=now)
    with tx() as s:
        assert "A's own words" not in repr(export.collect(s, b.id))
        mine = export.collect(s, a.id)["charter"]["charter_reflections"]
        assert [r["words"] for r in mine] == ["A's own words"]
        reflections.write_reflection(s, b.id, ["money"], "B's own words", now=now)
    with tx() as s:
        seen = export.collect(s, b.id)["charter"]["charter_reflections"]
        assert {r["who"]: r["words"] for r in seen} == {"me": "B's own words", "A": "A's own words"}


def test_deleting_an_account_removes_its_reflection_and_note(tx, now, couple) -> None:
    _cid, a, b = couple
    with tx() as s:
        reflections.write_reflection(s, a.id, ["trust"], "A's", now=now)
        reflections.write_reflection(s, b.id, ["trust"], "B's", now=now)
        safety.save_safety_note(s, a.id, 3, "fine", now=now)
    with tx() as s:
        erase.erase_account(s, a.id, now=now)
    with tx() as s:
        assert s.scalars(select(CharterReflection.user_id)).all() == [b.id]
        assert s.scalars(select(CharterSafetyNote)).all() == []


# --- the therapist report's charter section ------------------------------------------------


def test_the_report_section_counts_what_came_back_and_shows_typed_words_only_if_chosen(
    tx, now, couple
) -> None:
    from reports.content import build_report
    from reports.sections import ReportContext, Table
    from tend import charter_report

    cid, a, b = couple
    with tx() as s:
        consent.propose_charter(
            s,
            a.id,
            [
                CauseInput("trust", what="A-WHAT", notice="A-NOTICE"),
                CauseInput(words.OWN, own_title="Weekend plans", what="A2", notice="N2"),
            ],
            REVIEW,
            now=now - dt.timedelta(days=3),
        )
        consent.propose_charter(
            s,
            b.id,
            [
                CauseInput("trust", what="B-WHAT", notice="B-NOTICE"),
                CauseInput(words.OWN, own_title="Weekend plans"),
            ],
            REVIEW,
            now=now - dt.timedelta(days=3),
        )
        consent.agree(s, a.id, now=now - dt.timedelta(days=3))
        trust_topic = consent.root_causes(s, cid)[0].topic_id
    _round(tx, a, b, now, concern_topic=trust_topic)

    def report(free_text: frozenset[str]):  # type: ignore[no-untyped-def]
        with tx() as s:
            context = ReportContext(cid, a.id, {a.id: "A", b.id: "B"}, free_text, now, "UTC")
            built = build_report(s, context, [charter_report.SECTION])
        [section] = [x for x in built.sections if x.key == charter_report.SECTION]
        return section

    plain = report(frozenset())
    tables = [b for b in plain.blocks if isinstance(b, Table)]
    assert tables[0].rows == [("Trust was broken", "1"), ("Own root cause 1", "0")]
    assert len(tables) == 1 and "A-WHAT" not in repr(plain) and "Weekend" not in repr(plain)
    typed = report(frozenset({charter_report.CHARTER_WORDS}))
    rows = [b for b in typed.blocks if isinstance(b, Table)][1].rows
    assert ("Trust was broken", "A", "A-WHAT", "A-NOTICE") in rows
    assert ("Weekend plans", "A", "A2", "N2") in rows
