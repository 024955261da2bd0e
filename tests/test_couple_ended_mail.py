"""A couple space that ended says nothing more. Once one of them leaves, neither gets
another check-in nudge, closing warning or "stopped answering" mail, and a prompt
planned before the leaving is not sent after it (a real SMTP server receives nothing).
On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, select

from checkins import rounds as checkin_rounds
from checkins import solo
from checkins.models import Participation, Round
from checkins.talk_models import SoloNotice
from couples import service as couples
from infra.db import utcnow
from notifications.dispatch import dispatch_pending
from notifications.models import SENT, SKIPPED, OutboxMessage
from notifications.outbox import enqueue
from notifications.preferences import STILL_DUE
from notifications.scheduler import plan_pass
from tests.factories import mail_any_time, make_couple
from tests.test_checkins_service import save_and_submit, sheet

DAY = dt.timedelta(days=1)


@pytest.fixture
def couple(tx, now):  # type: ignore[no-untyped-def]
    with tx() as s:
        c, a, b = make_couple(s, now=now - 30 * DAY)
        mail_any_time(s, a, b, now=now - 30 * DAY)
    return c, a, b


def _round_mails(s, round_id: int) -> list[tuple[str, int | None]]:  # type: ignore[no-untyped-def]
    rows = s.scalars(
        select(OutboxMessage).where(OutboxMessage.dedupe_key.startswith(f"checkin:{round_id}:"))
    )
    return sorted((r.kind, r.recipient_user_id) for r in rows)


def test_after_one_leaves_neither_is_reminded_of_the_open_round(
    tx, engine: Engine, couple, now: dt.datetime
) -> None:
    _c, a, b = couple
    with tx() as s:
        round_id = checkin_rounds.start_round_now(s, a.id, now=now).id
    with tx() as s:
        couples.leave_couple(s, b.id, now=now + dt.timedelta(hours=1))
    # Past the nudge, into the closing warning's day, past the due date, weeks later.
    for days in (2, 3, 4, 5, 6, 8, 40):
        report = plan_pass(now + days * DAY, engine)
        assert not report.failed
    with tx() as s:
        assert _round_mails(s, round_id) == sorted([("round_opened", a.id), ("round_opened", b.id)])
        round_ = s.get(Round, round_id)
        assert round_ is not None and round_.closed_at is not None  # it still closes when due
        reminders = s.scalars(
            select(Participation.remind_at).where(Participation.round_id == round_id)
        )
        assert list(reminders) == [None, None]


def test_the_one_who_left_gets_no_stopped_answering_mail(
    tx, engine: Engine, couple, now: dt.datetime
) -> None:
    _c, a, b = couple
    start = now - 20 * DAY
    with tx() as s:  # B misses a first round that A answered
        first = checkin_rounds.start_round_now(s, a.id, now=start).id
        save_and_submit(s, a, first, sheet(), start)
    plan_pass(start + 8 * DAY, engine)
    second_at = start + 10 * DAY
    with tx() as s:  # and a second one; B leaves before it closes
        second = checkin_rounds.start_round_now(s, a.id, now=second_at).id
        save_and_submit(s, a, second, sheet(), second_at)
    with tx() as s:
        couples.leave_couple(s, b.id, now=second_at + DAY)
    plan_pass(second_at + 8 * DAY, engine)
    with tx() as s:
        round_ = s.get(Round, second)
        assert round_ is not None and round_.closed_at is not None
        assert list(s.scalars(select(SoloNotice))) == []
        mails = s.scalars(select(OutboxMessage.kind).where(OutboxMessage.recipient_user_id == b.id))
        assert solo.MAIL_KIND not in list(mails)


def test_a_prompt_written_as_the_couple_ended_is_not_sent(
    engine: Engine, tx, smtp_sink, smtp_settings, test_prompt, couple, now: dt.datetime
) -> None:
    """Leaving drops what waits (the test below); a prompt written just after, by a
    planning pass that read the couple before the leaving, is held back when due."""
    _c, a, b = couple
    with tx() as s:  # someone else's couple space, still in force: their prompt goes
        _other, c, _d = make_couple(s, "c@example.org", "d@example.org", now=now - 30 * DAY)
    with tx() as s:
        couples.leave_couple(s, b.id)
    ids = {}
    with tx() as s:
        for user in (a, b, c):
            row = enqueue(
                s,
                kind=test_prompt,
                to_address=user.email,
                recipient_user_id=user.id,
                dedupe_key=f"prompt:{user.id}",
                context={"name": user.display_name, "couple": "A & B"},
                send_after=utcnow(),
            )
            assert row is not None
            s.flush()
            ids[user.id] = row.id
    report = dispatch_pending(engine, settings=smtp_settings)
    assert ids[c.id] in report.sent
    assert sorted(report.skipped) == sorted([ids[a.id], ids[b.id]])
    with tx() as s:
        rows = {i: s.get(OutboxMessage, i) for i in ids.values()}
    for user in (a, b):
        row = rows[ids[user.id]]
        assert row is not None and row.status == SKIPPED
        assert "couple space has ended" in (row.last_error or "")
    assert rows[ids[c.id]].status == SENT  # type: ignore[union-attr]
    prompts = [m for m in smtp_sink.messages() if "invit" not in m.subject.lower()]
    assert [m.envelope_to for m in prompts] == [["c@example.org"]]


def test_someone_who_left_and_started_another_space_hears_nothing_of_the_old_round(
    engine: Engine, tx, smtp_sink, smtp_settings, couple, now: dt.datetime
) -> None:
    """Their own couple space is in force again, so only the round's couple can tell that
    its "new check-in", "your partner answered" and nudge no longer apply."""
    _c, a, b = couple
    with tx() as s:
        round_id = checkin_rounds.start_round_now(s, a.id, now=now).id
        save_and_submit(s, a, round_id, sheet(), now)
    with tx() as s:
        assert checkin_rounds.send_reminders(s, now + 2 * DAY) >= 1
    left_at = now + 2 * DAY + dt.timedelta(hours=1)
    with tx() as s:
        couples.leave_couple(s, b.id, now=left_at)
        couples.create_couple(s, b.id, name="B & E", reunited_on=None, now=left_at)
    with tx() as s:
        to_b = [r for r in _round_rows(s, round_id) if r.recipient_user_id == b.id]
        assert {"round_opened", "partner_answered", "nudge"} <= {r.kind for r in to_b}
        # Dropped at the leaving; and a pass that wrote them just after (having read the
        # couple before) would find each of them no longer due when it is.
        for row in to_b:
            assert row.status == SKIPPED, row.kind
            still_due = STILL_DUE[row.kind]
            assert still_due(s, row, left_at) == "the check-in's couple space has ended", row.kind
    dispatch_pending(engine, settings=smtp_settings, now=left_at + dt.timedelta(hours=1))
    received = {to for mail in smtp_sink.messages() for to in mail.envelope_to}
    assert b.email not in received


def _round_rows(s, round_id: int) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    return list(
        s.scalars(
            select(OutboxMessage).where(OutboxMessage.dedupe_key.startswith(f"checkin:{round_id}:"))
        )
    )


def test_leaving_drops_every_prompt_still_waiting_for_either_partner(
    engine: Engine, tx, smtp_sink, smtp_settings, test_prompt, couple, now: dt.datetime
) -> None:
    """Any kind, held for later: skipped at the leaving itself. The one who left starts
    another space before the prompts are due, so the check at send time could no longer
    tell; a prompt about the new space still goes, as does another couple's."""
    _c, a, b = couple
    later = utcnow() + dt.timedelta(hours=8)  # say, held for the recipient's morning

    def prompt(s, user, key: str) -> int:  # type: ignore[no-untyped-def]
        row = enqueue(
            s,
            kind=test_prompt,
            to_address=user.email,
            recipient_user_id=user.id,
            dedupe_key=key,
            context={"name": user.display_name, "couple": "A & B"},
            send_after=later,
        )
        assert row is not None
        s.flush()
        return row.id

    with tx() as s:
        _other, c, _d = make_couple(s, "c@example.org", "d@example.org", now=now - 30 * DAY)
        old = {u.id: prompt(s, u, f"old:{u.id}") for u in (a, b)}
        others = prompt(s, c, "others")
    with tx() as s:
        couples.leave_couple(s, b.id)
        couples.create_couple(s, b.id, name="B & E", reunited_on=None)
    with tx() as s:
        for row_id in old.values():
            row = s.get(OutboxMessage, row_id)
            assert row is not None and row.status == SKIPPED
            assert row.last_error == "recipient's couple space has ended"
        new_space = prompt(s, b, "new-space")
    report = dispatch_pending(engine, settings=smtp_settings, now=later + dt.timedelta(minutes=1))
    assert {others, new_space} <= set(report.sent)
    assert not set(old.values()) & set(report.sent)
    prompts = [m for m in smtp_sink.messages() if "invit" not in m.subject.lower()]
    assert sorted(to for m in prompts for to in m.envelope_to) == [b.email, "c@example.org"]
