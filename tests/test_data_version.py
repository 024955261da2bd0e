"""A couple's data version (couples/data_version.py) moves with every write about the
couple, in the writing transaction, and what pages keep in memory (the trends page,
checkins/trends.py; the review, checkins/review.py) is reused only while it stands
still: never stale, never anyone else's."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from checkins import review as checkin_review
from checkins import rounds, trends
from checkins.models import Answer, Participation, Round, Topic
from couples import data_version
from couples import service as couples
from couples.models import Couple, Membership, User
from infra.db import Base, transaction
from infra.settings import get_settings
from infra.tokens import new_token, token_hash
from privacy import erase
from tend import demo
from tests.factories import make_couple, make_user
from tests.test_checkins_plans import WEEKLY_SUNDAY_BERLIN
from tests.test_checkins_service import agree, full_round, save_and_submit, sheet


def _version(s: Session, couple_id: int | None = None) -> int:
    query = select(Couple.data_version)
    if couple_id is not None:
        query = query.where(Couple.id == couple_id)
    return s.scalars(query).one()


def _traced() -> list[type]:
    return sorted(
        (m.class_ for m in Base.registry.mappers if data_version.is_tracked(m.class_)),
        key=lambda cls: cls.__name__,
    )


@pytest.fixture
def reuse_without_checking(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The product's setting: a kept page is returned as it is (the suite otherwise
    computes every reuse again, tests/conftest.py)."""
    monkeypatch.setenv("TEND_VERIFY_KEPT", "false")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_every_table_that_hangs_off_a_couple_is_traced_to_it_or_left_out() -> None:
    traced = {cls.__table__.name for cls in _traced()}
    left_out = {cls.__table__.name for cls in data_version._NOT_COUPLE_DATA}
    untraced = [
        mapper.local_table.name
        for mapper in Base.registry.mappers
        if {fk.column.table.name for fk in mapper.local_table.foreign_keys} & (traced | {"couples"})
        and mapper.local_table.name not in traced | left_out
    ]
    assert untraced == []
    # What the trends page reads is among them.
    assert {
        "checkin_rounds",
        "checkin_participations",
        "checkin_answers",
        "checkin_adherence",
        "checkin_round_agreements",
        "checkin_topics",
        "checkin_topic_events",
        "checkin_action_items",
        "warning_marks",
        "agreements",
        "agreement_versions",
        "agreement_events",
        "cooldowns",
        "cooldown_returns",
        "therapy_sessions",
        "therapy_appointments",
        "charter_topic_links",
        "memberships",
    } <= traced


def test_a_change_to_any_row_about_the_couple_moves_its_version(tend_env, engine, now) -> None:
    demo.create_demo(now=now)
    touched = []
    for cls in _traced():
        with transaction(engine) as s:
            row = s.scalars(select(cls).limit(1)).first()
            if row is None:
                continue  # the demo has none
            before = _version(s)
            column = next(c.key for c in cls.__mapper__.column_attrs if c.key != "id")
            flag_modified(row, column)
        with transaction(engine) as s:
            assert _version(s) == before + 1, cls
        touched.append(cls.__name__)
    assert {"Answer", "Participation", "TopicEvent", "TherapySession", "AgreementEvent"} <= set(
        touched
    )
    # A row deleted two steps below its round (an answer) moves it too.
    with transaction(engine) as s:
        before = _version(s)
        s.delete(s.scalars(select(Answer).limit(1)).one())
    with transaction(engine) as s:
        assert _version(s) == before + 1
    # A transaction that only reads leaves it; one that fails leaves it too.
    with transaction(engine) as s:
        before = _version(s)
        trends.trends(s, s.scalars(select(Membership.user_id)).first(), now=now)
    with pytest.raises(RuntimeError), transaction(engine) as s:
        s.scalars(select(Topic).limit(1)).one().title = "changed, then rolled back"
        s.flush()
        raise RuntimeError
    with transaction(engine) as s:
        assert _version(s) == before


def test_the_planners_bulk_insert_and_an_erasure_move_the_version(tx, now) -> None:
    with tx() as s:
        c, a, b = make_couple(s, now=now)
        agree(s, a, b, "regular_checkin", "Sundays", WEEKLY_SUNDAY_BERLIN, now)
    with tx() as s:
        before = _version(s, c.id)
    sunday_evening = dt.datetime(2026, 3, 15, 18, 0, tzinfo=dt.UTC)
    with tx() as s:
        assert len(rounds.open_due_rounds(s, sunday_evening)) == 1  # rows written by Core
    with tx() as s:
        assert _version(s, c.id) == before + 1
        before = _version(s, c.id)
    with tx() as s:
        erase.erase_account(s, b.id, now=now)
    with tx() as s:
        assert _version(s, c.id) > before


def test_the_kept_page_is_reused_until_either_partner_writes_and_for_one_minute(
    tx, now, reuse_without_checking
) -> None:
    with tx() as s:
        _c, a, b = make_couple(s, now=now - dt.timedelta(days=60))
    full_round(tx, a, b, now - dt.timedelta(days=30))
    with tx() as s:
        first = trends.trends(s, a.id, now=now)
        assert trends.trends(s, a.id, now=now + dt.timedelta(seconds=59)) is first
        assert len(first.satisfaction) == 2
        # Each partner has their own (the names are said from where each stands).
        assert trends.trends(s, b.id, now=now) is not first
        # The next minute is computed again.
        assert trends.trends(s, a.id, now=now + dt.timedelta(seconds=60)) is not first
    full_round(tx, b, a, now - dt.timedelta(days=1))  # the partner's doing
    with tx() as s:
        after = trends.trends(s, a.id, now=now)
    assert after is not first and len(after.satisfaction) == 4


def test_the_kept_review_is_each_viewers_own_and_follows_every_write_and_rename(
    tx, now, reuse_without_checking
) -> None:
    """The review (drawn on every run of the check-in and history pages) is kept like the
    trends page: each partner's is their own (their own sheet is "mine"), a write by
    either partner drops it, and a partner's new name (no write about the couple) is
    said at once."""
    with tx() as s:
        _c, a, b = make_couple(s, now=now - dt.timedelta(days=60))
    round_id = full_round(tx, a, b, now - dt.timedelta(days=30), sheet(16), sheet(8))
    with tx() as s:
        first = checkin_review.review(s, a.id, round_id)
        assert checkin_review.review(s, a.id, round_id) is first
        theirs = checkin_review.review(s, b.id, round_id)
        assert (first.mine.satisfaction, theirs.mine.satisfaction) == (16, 8)
    with tx() as s:
        checkin_review.add_action_item(s, b.id, round_id, "Walk on Sundays", None, now=now)
    with tx() as s:
        after = checkin_review.review(s, a.id, round_id)
        assert [i.text for i in after.action_items] == ["Walk on Sundays"]
        assert checkin_review.review(s, a.id, round_id) is after
    with tx() as s:
        s.get(User, b.id).display_name = "Sammy"  # type: ignore[union-attr]
    with tx() as s:
        renamed = checkin_review.review(s, a.id, round_id)
    assert (after.partner, renamed.partner) == ("B", "Sammy")


def test_the_kept_round_status_follows_each_partners_submission(
    tx, now, reuse_without_checking
) -> None:
    """The check-in and home pages' status of the current round is kept per viewer and
    moves with either partner's submission."""
    with tx() as s:
        _c, a, b = make_couple(s, now=now - dt.timedelta(days=60))
        assert rounds.current_status(s, a.id) is None
    with tx() as s:
        round_id = rounds.start_round_now(s, a.id, now=now).id
    with tx() as s:
        first = rounds.current_status(s, a.id)
        assert first is not None and first.round.id == round_id
        assert rounds.current_status(s, a.id) is first
        assert (first.phase, first.partner_status) == ("answer", "pending")
    with tx() as s:
        save_and_submit(s, b, round_id, sheet(), now)
    with tx() as s:
        after_b = rounds.current_status(s, a.id)
        assert (after_b.phase, after_b.partner_status) == ("answer", "submitted")  # type: ignore[union-attr]
        assert rounds.current_status(s, b.id).phase == "waiting"  # type: ignore[union-attr]
    with tx() as s:
        save_and_submit(s, a, round_id, sheet(), now)
    with tx() as s:
        assert rounds.current_status(s, a.id).phase == "review"  # type: ignore[union-attr]


def test_a_write_that_does_not_move_the_version_is_caught_by_the_suites_check(tx, now) -> None:
    """What the suite's setting (TEND_VERIFY_KEPT) is for: a write path that forgot
    the version would serve a stale page; every test that reuses one would fail."""
    assert get_settings().verify_kept
    with tx() as s:
        _c, a, b = make_couple(s, now=now - dt.timedelta(days=60))
    round_id = full_round(tx, a, b, now - dt.timedelta(days=30))
    with tx() as s:
        trends.trends(s, a.id, now=now)
    with tx() as s:  # behind the ORM's back, and without data_version.changed()
        s.connection().execute(update(Round.__table__).values(revealed_at=None))
    with tx() as s, pytest.raises(data_version.StaleKept):
        trends.trends(s, a.id, now=now)
    assert round_id


def _form_couple(s: Session, a: User, b: User, at: dt.datetime) -> Couple:
    couple = couples.create_couple(s, a.id, name="A & B", reunited_on=None, now=at)
    invitation = couples.invite_partner(s, a.id, b.email, now=at)
    token = new_token()
    invitation.token_hash = token_hash(token)
    couples.accept_invitation(s, token, b.id, now=at)
    return couple


def test_a_couple_formed_again_under_a_reused_id_never_sees_the_old_kept_page(
    tx, engine, now, reuse_without_checking
) -> None:
    """The same two people, the same names, the same moments and as many writes: only
    what they answered differs. SQLite hands the deleted couple's id out again, so only
    the version's random start tells the two apart (from 0, this test fails)."""
    formed = now - dt.timedelta(days=60)
    with tx() as s:
        a, b = make_user(s, "a@example.org", now=formed), make_user(s, "b@example.org", now=formed)
    with tx() as s:
        first = _form_couple(s, a, b, formed)
    full_round(tx, a, b, now - dt.timedelta(days=30), sheet(16), sheet(16))
    with tx() as s:
        assert {r["total"] for r in trends.trends(s, a.id, now=now).satisfaction} == {16}
        writes = _version(s, first.id)
    with tx() as s:
        s.execute(delete(Couple).where(Couple.id == first.id))  # and all it held
    with tx() as s:
        again = _form_couple(s, a, b, formed)
    full_round(tx, a, b, now - dt.timedelta(days=30), sheet(8), sheet(8))
    # As many writes as the first couple made, had both counted from the same start.
    with tx() as s:
        short = writes - _version(s, again.id)
    for _ in range(short if 0 < short < 10 else 0):
        with tx() as s:
            flag_modified(s.get(Couple, again.id), "name")
    with tx() as s:
        assert {r["total"] for r in trends.trends(s, a.id, now=now).satisfaction} == {8}
    assert again.id == first.id or engine.dialect.name == "postgresql"


def test_a_transaction_that_wrote_reads_its_own_rows_not_the_kept_page(
    tx, now, reuse_without_checking
) -> None:
    with tx() as s:
        _c, a, b = make_couple(s, now=now - dt.timedelta(days=60))
    round_id = full_round(tx, a, b, now - dt.timedelta(days=30))
    with pytest.raises(RuntimeError), tx() as s:
        assert len(trends.trends(s, a.id, now=now).satisfaction) == 2
        s.get(Round, round_id).revealed_at = None  # type: ignore[union-attr]
        s.flush()  # the version moves only when this commits
        assert trends.trends(s, a.id, now=now).satisfaction == []
        raise RuntimeError  # and it never does
    with tx() as s:
        assert len(trends.trends(s, a.id, now=now).satisfaction) == 2


def test_both_partners_writing_at_once_both_commit_and_both_count(tx, engine, now) -> None:
    """The version moves as each transaction's last statement: two transactions of one
    couple that have both written wait for each other only at the very end (PostgreSQL),
    and neither move is lost."""
    # SQLite lets one writing transaction in at a time: there they follow each other.
    overlap = engine.dialect.name == "postgresql"
    with tx() as s:
        c, a, b = make_couple(s, now=now - dt.timedelta(days=60))
    first = full_round(tx, a, b, now - dt.timedelta(days=30))
    second = full_round(tx, a, b, now - dt.timedelta(days=10))
    with tx() as s:
        before = _version(s, c.id)
    both_written = threading.Barrier(2 if overlap else 1, timeout=20)

    def write(round_id: int) -> None:
        with tx() as s:
            answer = s.scalars(
                select(Answer)
                .join(Participation, Participation.id == Answer.participation_id)
                .where(Participation.round_id == round_id)
                .limit(1)
            ).one()
            flag_modified(answer, "value_int")
            s.flush()  # its row is locked now
            both_written.wait()

    with ThreadPoolExecutor(2) as pool:
        for done in [pool.submit(write, first), pool.submit(write, second)]:
            done.result()
    with tx() as s:
        assert _version(s, c.id) == before + 2
