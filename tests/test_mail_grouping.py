"""What is due for one person at one moment goes out as one mail, through a real SMTP
server (aiosmtpd), and the outbox stays crash-safe: every row ends sent (in exactly one
mail) or visibly settled, none twice."""

from __future__ import annotations

import re
import threading

from sqlalchemy import Engine, select, update

from agreements import proposals
from agreements.templates import TEMPLATES
from infra.composition import load_registrations
from infra.db import utcnow
from notifications.dispatch import claim_batch, dispatch_pending
from notifications.models import DEAD, RETRYING, SENDING, SENT, SKIPPED, OutboxMessage
from notifications.outbox import enqueue
from notifications.preferences import update_preferences
from notifications.rendering import TEMPLATE_DIR
from tests.factories import mail_any_time, make_couple, make_user

load_registrations()  # the agreements' prompt kinds
TEST_SUBJECT = (TEMPLATE_DIR / "test" / "subject.txt").read_text().strip()


def _couple(s):  # type: ignore[no-untyped-def]
    """A couple whose setting-up mails (the invitation) are out of the way, and whose
    prompts go at any hour (a proposal made at night waits for the end of quiet hours)."""
    c, a, b = make_couple(s)
    mail_any_time(s, a, b)
    s.execute(update(OutboxMessage).values(status=SENT))
    return c, a, b


def _propose(s, a, kinds=("cooldown", "regular_checkin", "therapy", "cooldown")) -> list[int]:  # type: ignore[no-untyped-def]
    ids = []
    for i, key in enumerate(kinds):
        t = TEMPLATES[key]
        ids.append(
            proposals.propose_agreement(
                s, a.id, kind=t.key, title=f"{t.title} {i}", body=t.body, params=t.params
            ).id
        )
    return ids


def _agreed_and_flagged(s, a, b) -> None:  # type: ignore[no-untyped-def]
    """An agreement both accepted that a then flags for review: b's mails about it."""
    [agreement_id] = _propose(s, a, ("cooldown",))
    proposals.accept(s, b.id, agreement_id)
    proposals.flag_for_review(s, a.id, agreement_id, note=None)


def _outbox(tx) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    with tx() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def _prompts(tx, address: str) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    """The prompts to ``address`` (not the mails that set the couple up)."""
    return [m for m in _outbox(tx) if m.to_address == address and m.kind != "invitation"]


def _to(mail) -> str:  # type: ignore[no-untyped-def]
    return str(mail.message["To"])


def test_four_proposals_for_a_partner_arrive_as_one_mail(
    engine: Engine, tx, smtp_sink, smtp_settings
) -> None:
    with tx() as s:
        _c, a, b = _couple(s)
        _propose(s, a)
    mine = _prompts(tx, b.email)
    assert len(mine) == 4 and {m.kind for m in mine} == {"agreement_proposed"}
    report = dispatch_pending(engine, settings=smtp_settings)
    assert sorted(report.sent) == sorted(m.id for m in mine)
    [mail] = [m for m in smtp_sink.messages() if _to(m) == b.email]
    assert mail.subject == "4 things waiting for you on Tend"
    text = mail.message.get_body(("plain",)).get_content()
    assert f"Hi {b.display_name}," in text
    assert f"4 × {a.display_name} proposed an agreement. It awaits your answer." in text
    assert "http://tend.test/agreements" in text
    # One kind: the one-click unsubscribe names it, and the body has the same link.
    [unsubscribe] = re.findall(r"^List-Unsubscribe: <(.*?)>\r?$", mail.raw.decode(), re.M)
    assert unsubscribe in text
    rows = {m.id: m for m in _outbox(tx)}
    # Every row of the group is recorded sent, with the Message-ID of the one mail.
    assert {rows[m.id].status for m in mine} == {SENT}
    assert {rows[m.id].message_id for m in mine} == {mail.message_id}


def test_mails_of_several_kinds_group_with_a_way_to_stop_each(
    engine: Engine, tx, smtp_sink, smtp_settings
) -> None:
    with tx() as s:
        _c, a, b = _couple(s)
        _agreed_and_flagged(s, a, b)
        _propose(s, a, ("therapy",))
    dispatch_pending(engine, settings=smtp_settings)
    [mail] = [m for m in smtp_sink.messages() if _to(m) == b.email]
    text = mail.message.get_body(("plain",)).get_content()
    html = mail.message.get_body(("html",)).get_content()
    assert f"{a.display_name} flagged one of your agreements" in text
    assert f"{a.display_name} proposed an agreement." in text
    stops = re.findall(r"Stop mails like this \((.*?)\): (\S+)", text)
    assert {label for label, _ in stops} == {
        "An agreement awaits your answer",
        "An agreement was flagged for review",
    }
    for _label, link in stops:
        assert link.replace("&", "&amp;") in html or link in html
    # One-click unsubscribe cannot name two kinds: no header, a link per kind instead.
    assert mail.message["List-Unsubscribe"] is None


def test_other_people_and_mails_that_travel_alone_are_not_grouped(
    engine: Engine, tx, smtp_sink, smtp_settings
) -> None:
    with tx() as s:
        _c, a, b = _couple(s)
        _propose(s, a, ("cooldown",))
        _propose(s, b, ("cooldown", "therapy"))
        for i in range(2):  # not prompts: each its own mail
            enqueue(s, kind="test", to_address=b.email, dedupe_key=f"t{i}", send_after=utcnow())
    dispatch_pending(engine, settings=smtp_settings)
    by_to: dict[str, list[str]] = {}
    for mail in smtp_sink.messages():
        by_to.setdefault(_to(mail), []).append(mail.subject)
    assert by_to[a.email] == ["2 things waiting for you on Tend"]
    # One proposal alone is the plain mail; the two test mails stay two.
    assert sorted(by_to[b.email]) == sorted(
        ["Something is waiting for your answer on Tend", TEST_SUBJECT, TEST_SUBJECT]
    )


def test_a_batch_limit_does_not_split_one_persons_mails(
    engine: Engine, tx, smtp_sink, smtp_settings
) -> None:
    with tx() as s:
        _c, a, _b = _couple(s)
        _propose(s, a, ("cooldown",) * 5)
    report = dispatch_pending(engine, settings=smtp_settings, batch_size=2)
    assert len(report.sent) == 5
    assert [m.subject for m in smtp_sink.messages()] == ["5 things waiting for you on Tend"]


def test_a_member_turned_off_or_lost_is_left_out_and_the_rest_go_together(
    engine: Engine, tx, smtp_sink, smtp_settings
) -> None:
    with tx() as s:
        _c, a, b = _couple(s)
        _agreed_and_flagged(s, a, b)
        _propose(s, a, ("therapy", "regular_checkin"))
    with tx() as s:
        update_preferences(
            s,
            b.id,
            paused=False,
            enabled={"agreement_flagged": False},
            preferred_hour=None,
            quiet_start=None,
            quiet_end=None,
        )
    report = dispatch_pending(engine, settings=smtp_settings)
    rows = _prompts(tx, b.email)
    flagged = next(m for m in rows if m.kind == "agreement_flagged")
    # The first proposal's mail no longer applies: b accepted it before it went.
    answered = next(m for m in rows if m.kind == "agreement_proposed")
    assert flagged.status == SKIPPED and answered.status == SKIPPED
    assert sorted(report.skipped) == sorted([flagged.id, answered.id])
    [mail] = [m for m in smtp_sink.messages() if _to(m) == b.email]
    assert "flagged" not in mail.message.get_body(("plain",)).get_content()
    assert mail.subject == "2 things waiting for you on Tend"  # the two proposals left


def test_a_row_another_pass_holds_is_not_sent_with_the_group(
    engine: Engine, tx, smtp_sink, smtp_settings
) -> None:
    """A pass claimed the group; the lease of one row ran out and another pass took
    it. The first pass sends the rest and leaves that row to its holder."""
    with tx() as s:
        _c, a, b = _couple(s)
        _propose(s, a, ("cooldown", "therapy", "regular_checkin"))
    start = utcnow()
    claimed = claim_batch(engine, now=start, owner="first", settings=smtp_settings)
    mine = [m.id for m in _prompts(tx, b.email)]
    assert set(mine) <= set(claimed)
    with tx() as s:
        s.execute(update(OutboxMessage).where(OutboxMessage.id == mine[1]).values(claimed_by="x"))
    from notifications import dispatch

    transport = dispatch.transport_for(smtp_settings)
    try:
        statuses = dispatch.send_group(
            engine, tuple(mine), transport, smtp_settings, owner="first", now=start
        )
    finally:
        transport.close()
    assert statuses == {mine[0]: SENT, mine[1]: dispatch.LOST, mine[2]: SENT}
    [mail] = smtp_sink.messages()
    assert mail.subject == "2 things waiting for you on Tend"
    rows = {m.id: m for m in _outbox(tx)}
    assert rows[mine[1]].status == SENDING and rows[mine[1]].claimed_by == "x"


def test_a_line_that_cannot_render_fails_alone(
    engine: Engine, tx, smtp_sink, smtp_settings
) -> None:
    with tx() as s:
        _c, a, b = _couple(s)
        _propose(s, a, ("cooldown", "therapy"))
        broken = enqueue(
            s,
            kind="agreement_proposed",
            to_address=b.email,
            recipient_user_id=b.id,
            dedupe_key="broken",
            context={"name": "B"},  # no "partner": the template cannot render it
        )
        assert broken is not None
        s.flush()
        broken_id = broken.id
    report = dispatch_pending(engine, settings=smtp_settings)
    assert report.dead == [broken_id]
    rows = {m.id: m for m in _outbox(tx)}
    assert "render failed" in (rows[broken_id].last_error or "")
    [mail] = [m for m in smtp_sink.messages() if _to(m) == b.email]
    assert mail.subject == "2 things waiting for you on Tend"


def test_a_refused_group_is_retried_whole_with_the_same_message_id(
    engine: Engine, tx, smtp_sink, smtp_settings
) -> None:
    with tx() as s:
        _c, a, b = _couple(s)
        # A retry is pushed out of quiet hours: without any, the test holds at any hour.
        mail_any_time(s, a, b)
        _propose(s, a, ("cooldown", "therapy"))
    mine = [m.id for m in _prompts(tx, b.email)]
    start = utcnow()
    smtp_sink.answer_next("451 4.3.0 Mailbox busy, try again later")
    first = dispatch_pending(engine, settings=smtp_settings, now=start)
    assert sorted(first.retrying) == mine
    assert {m.status for m in _outbox(tx) if m.id in mine} == {RETRYING}
    from notifications.dispatch import BACKOFF

    second = dispatch_pending(engine, settings=smtp_settings, now=start + BACKOFF[0])
    assert sorted(second.sent) == mine
    [mail] = smtp_sink.messages()
    assert mail.subject == "2 things waiting for you on Tend"
    assert {m.message_id for m in _outbox(tx) if m.id in mine} == {mail.message_id}
    assert not [m for m in _outbox(tx) if m.status == DEAD]


def test_two_passes_at_once_send_each_persons_group_once(
    engine: Engine, tx, smtp_sink, smtp_settings
) -> None:
    """Twenty people with three prompts each, two passes with small batches at the same
    time: every row sent once, each person one mail (or, where the passes split a
    person's rows, one mail per pass), never a row in two mails."""
    with tx() as s:
        now = utcnow()
        people = [make_user(s, f"p{i}@example.org") for i in range(20)]
        for person in people:
            for k in range(3):
                enqueue(
                    s,
                    kind="agreement_proposed",
                    to_address=person.email,
                    recipient_user_id=person.id,
                    dedupe_key=f"p{person.id}:{k}",
                    context={"name": person.display_name, "partner": "Kestrel", "what": "new"},
                    send_after=now,
                )
    reports = []
    passes = [
        threading.Thread(
            target=lambda: reports.append(
                dispatch_pending(engine, settings=smtp_settings, batch_size=4)
            )
        )
        for _ in range(2)
    ]
    for p in passes:
        p.start()
    for p in passes:
        p.join(120)
    assert len(reports) == 2
    sent = [row_id for r in reports for row_id in r.sent]
    assert len(sent) == len(set(sent)) == 60
    rows = _outbox(tx)
    assert {r.status for r in rows} == {SENT}
    mails = smtp_sink.messages()
    assert set(smtp_sink.count_by_message_id().values()) == {1}
    # Each row's Message-ID is a mail the server got, addressed to that row's person.
    by_id = {m.message_id: m for m in mails}
    for row in rows:
        assert _to(by_id[row.message_id]) == row.to_address
    assert len(mails) <= 40  # grouped: far fewer than 60


def test_every_prompt_kind_has_a_line_for_a_grouped_mail() -> None:
    """Each prompt kind says in one line what its mail says (``<kind>/item.txt``), with
    the variables its own mail has: a grouped mail of two of each renders."""
    from infra.settings import Settings
    from notifications import grouping, rendering
    from notifications.preferences import PROMPT_KINDS
    from tests.test_mail import _row

    settings = Settings(_env_file=None, base_url="https://tend.example.org", secret_key="k")
    for kind in PROMPT_KINDS:
        if kind not in rendering.KINDS or not (TEMPLATE_DIR / kind).is_dir():
            continue  # a test's own kind, with templates elsewhere
        assert (TEMPLATE_DIR / kind / "item.txt").is_file(), kind
        first, second = _row(kind), _row(kind, id=8, dedupe_key=f"{kind}:8")
        second.context = {**first.context, "name": "sample name"}
        grouped = grouping.render_group([first, second], settings, {})
        assert not grouped.failed, (kind, grouped.failed)
        assert grouped.email is not None
        text = grouped.email.get_body(("plain",)).get_content()
        assert "2 × " in text and rendering.KINDS[kind](settings, None) in text, kind
