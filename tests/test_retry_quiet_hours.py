"""A reminder whose send failed is retried when the backoff says, pushed out of the
recipient's quiet hours (in their zone, across DST); every other mail keeps the plain
backoff. Against a real SMTP server that answers 451, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select, update

from couples.models import User
from notifications.dispatch import BACKOFF, dispatch_pending
from notifications.models import RETRYING, SENT, OutboxMessage
from notifications.outbox import enqueue
from notifications.preferences import update_preferences
from tests.factories import make_user
from tests.sql_count import counting

BUSY = "451 4.3.0 Mailbox busy, try again later"
DEFAULTS = "defaults"  # no stored preferences: quiet 22-07


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def local(moment: dt.datetime, tz: str) -> str:
    return f"{moment.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M %Z}"


def person(tx, tz: str, quiet: tuple[int | None, int | None] | str = DEFAULTS) -> int:  # type: ignore[no-untyped-def]
    with tx() as s:
        user = make_user(s, "sam@example.org", "Sam", timezone=tz)
        if quiet != DEFAULTS:
            start, end = quiet
            update_preferences(
                s,
                user.id,
                paused=False,
                enabled={},
                preferred_hour=None,
                quiet_start=start,
                quiet_end=end,
            )
        return user.id


def mail(  # type: ignore[no-untyped-def]
    tx,
    kind: str,
    at: dt.datetime,
    *,
    user_id: int | None,
    key: str,
    secret: str | None = None,
) -> int:
    with tx() as s:
        row = enqueue(
            s,
            kind=kind,
            to_address="sam@example.org" if user_id else f"{key}@example.org",
            recipient_user_id=user_id,
            dedupe_key=key,
            context={"name": "Sam", "couple": "Sam & Tam"},
            secret=secret,
            send_after=at,
        )
        assert row is not None
        s.flush()
        return row.id


def stored(tx, row_id: int) -> OutboxMessage:  # type: ignore[no-untyped-def]
    with tx() as s:
        row = s.get(OutboxMessage, row_id)
        assert row is not None
        return row


# (zone, quiet hours, the moment the first attempt fails, when it is retried)
PUSHED = {
    # 21:59 CET + 1 min = 22:00, the first minute of the default quiet hours.
    "berlin-winter-defaults": (
        "Europe/Berlin",
        DEFAULTS,
        utc(2026, 12, 4, 20, 59),
        utc(2026, 12, 5, 6, 0),  # 07:00 CET
    ),
    # The night the clocks go forward (29 March, 02:00 -> 03:00): 07:00 is CEST now.
    "berlin-spring-forward": (
        "Europe/Berlin",
        (22, 7),
        utc(2026, 3, 28, 20, 59),  # 21:59 CET
        utc(2026, 3, 29, 5, 0),  # 07:00 CEST, not 06:00 UTC
    ),
    # The night they go back (25 October, 03:00 -> 02:00): 07:00 is CET again.
    "berlin-fall-back": (
        "Europe/Berlin",
        (22, 7),
        utc(2026, 10, 24, 19, 59),  # 21:59 CEST
        utc(2026, 10, 25, 6, 0),  # 07:00 CET, not 05:00 UTC
    ),
    # A window that does not wrap midnight, 01-06, the night New York falls back
    # (1 November, 02:00 EDT -> 01:00 EST): 01:00 EDT is inside, 06:00 is EST.
    "new-york-fall-back-01-06": (
        "America/New_York",
        (1, 6),
        utc(2026, 11, 1, 4, 59),  # 00:59 EDT
        utc(2026, 11, 1, 11, 0),  # 06:00 EST, not 10:00 UTC
    ),
    # 00-02 the night New York springs forward (8 March, 02:00 EST -> 03:00 EDT): quiet
    # hours end at 02:00, a wall time that does not exist that night; the retry waits
    # for the moment just after the gap, 03:00 EDT.
    "new-york-spring-forward-00-02": (
        "America/New_York",
        (0, 2),
        utc(2026, 3, 8, 4, 59),  # 23:59 EST on 7 March
        utc(2026, 3, 8, 7, 0),  # 03:00 EDT
    ),
}


@pytest.mark.parametrize("case", list(PUSHED))
def test_a_reminder_retried_inside_quiet_hours_waits_for_their_end(
    case: str, engine: Engine, tx, smtp_sink, smtp_settings, test_prompt
) -> None:
    tz, quiet, at, expected = PUSHED[case]
    user_id = person(tx, tz, quiet)
    row_id = mail(tx, test_prompt, at, user_id=user_id, key="reminder")
    smtp_sink.answer_next(BUSY)

    report = dispatch_pending(engine, settings=smtp_settings, now=at)

    assert report.retrying == [row_id]
    row = stored(tx, row_id)
    assert row.status == RETRYING and row.attempts == 1
    assert at + BACKOFF[0] < expected  # the plain backoff would have landed inside
    assert local(row.send_after, tz) == local(expected, tz)
    assert row.send_after == expected
    # Nothing goes out before quiet hours end; at their end it does, once.
    quiet_end = dispatch_pending(
        engine, settings=smtp_settings, now=expected - dt.timedelta(seconds=1)
    )
    assert not quiet_end.found_work
    assert dispatch_pending(engine, settings=smtp_settings, now=expected).sent == [row_id]
    assert len(smtp_sink.messages()) == 1


def test_a_reminder_failing_again_and_again_is_pushed_only_when_the_backoff_lands_in_quiet_hours(
    engine: Engine, tx, smtp_sink, smtp_settings, test_prompt
) -> None:
    """The gap this closes: a reminder planned for 21:29 in Berlin fails three times;
    the third backoff (30 minutes) would retry it at 22:05 and wake the person."""
    tz = "Europe/Berlin"
    user_id = person(tx, tz)
    at = utc(2026, 12, 4, 20, 29)  # 21:29 CET
    row_id = mail(tx, test_prompt, at, user_id=user_id, key="reminder")
    smtp_sink.answer_next(BUSY, BUSY, BUSY)
    retries = []
    for _ in range(3):
        assert dispatch_pending(engine, settings=smtp_settings, now=at).retrying == [row_id]
        at = stored(tx, row_id).send_after
        retries.append(local(at, tz))
    assert retries == [
        "2026-12-04 21:30 CET",  # + 1 min: outside quiet hours, plain backoff
        "2026-12-04 21:35 CET",  # + 5 min: the same
        "2026-12-05 07:00 CET",  # + 30 min would be 22:05: pushed to the end of quiet hours
    ]
    assert dispatch_pending(engine, settings=smtp_settings, now=at).sent == [row_id]
    assert stored(tx, row_id).status == SENT


def test_mails_someone_is_waiting_for_keep_the_plain_backoff(
    engine: Engine, tx, smtp_sink, smtp_settings, test_prompt
) -> None:
    """A password reset, the sign-in mail of someone registering with their own address,
    an address confirmation and a prompt with no account behind it, all failing at 21:59
    in Berlin, are retried at 22:00; the reminder failing beside them waits until 07:00."""
    tz = "Europe/Berlin"
    user_id = person(tx, tz)
    at = utc(2026, 12, 4, 20, 59)  # 21:59 CET
    waiting = [
        mail(tx, "password_reset", at, user_id=user_id, key="reset", secret="t1"),
        mail(tx, "account_exists", at, user_id=user_id, key="exists"),
        mail(tx, "confirm_email", at, user_id=None, key="confirm", secret="t2"),
        mail(tx, test_prompt, at, user_id=None, key="no-account"),
    ]
    reminder = mail(tx, test_prompt, at, user_id=user_id, key="reminder")
    smtp_sink.answer_next(*[BUSY] * 5)

    report = dispatch_pending(engine, settings=smtp_settings, now=at)

    assert sorted(report.retrying) == sorted([*waiting, reminder])
    for row_id in waiting:
        row = stored(tx, row_id)
        assert (row.kind, local(row.send_after, tz)) == (row.kind, "2026-12-04 22:00 CET")
        assert row.send_after == at + BACKOFF[0]
    assert local(stored(tx, reminder).send_after, tz) == "2026-12-05 07:00 CET"


@pytest.mark.parametrize(
    ("tz", "quiet", "at"),
    [
        # Midday in Berlin: 12:01 is nowhere near quiet hours.
        ("Europe/Berlin", DEFAULTS, utc(2026, 12, 4, 11, 0)),
        # Quiet hours switched off: 22:00 is fine by them.
        ("Europe/Berlin", (None, None), utc(2026, 12, 4, 20, 59)),
        # 21:59 in Berlin is 15:59 in New York, outside their quiet hours.
        ("America/New_York", DEFAULTS, utc(2026, 12, 4, 20, 59)),
        # A zone this machine does not know: the retry is still recorded, plainly.
        ("Mars/Olympus_Mons", DEFAULTS, utc(2026, 12, 4, 20, 59)),
    ],
    ids=["midday", "quiet-hours-off", "other-zone", "unknown-zone"],
)
def test_a_reminder_whose_backoff_lands_outside_quiet_hours_keeps_it(
    tz: str,
    quiet: tuple[int | None, int | None] | str,
    at: dt.datetime,
    engine: Engine,
    tx,
    smtp_sink,
    smtp_settings,
    test_prompt,
) -> None:
    user_id = person(tx, "UTC" if tz.startswith("Mars") else tz, quiet)
    if tz.startswith("Mars"):
        with tx() as s:  # no longer accepted on the Account page; could be stored long ago
            s.execute(update(User).where(User.id == user_id).values(timezone=tz))
    row_id = mail(tx, test_prompt, at, user_id=user_id, key="reminder")
    smtp_sink.answer_next(BUSY)
    assert dispatch_pending(engine, settings=smtp_settings, now=at).retrying == [row_id]
    assert stored(tx, row_id).send_after == at + BACKOFF[0]


def test_recording_a_failure_reads_quiet_hours_and_zone_in_one_query(
    engine: Engine, tx, smtp_sink, smtp_settings, test_prompt
) -> None:
    user_id = person(tx, "Europe/Berlin", (22, 7))
    at = utc(2026, 12, 4, 20, 59)
    row_id = mail(tx, test_prompt, at, user_id=user_id, key="reminder")
    smtp_sink.answer_next(BUSY)
    with counting(engine) as statements:
        assert dispatch_pending(engine, settings=smtp_settings, now=at).retrying == [row_id]
    reads = [
        text
        for text in statements.texts()
        if text.lstrip().upper().startswith("SELECT") and "timezone" in text
    ]
    assert len(reads) == 1
    [read] = reads
    assert "notification_preferences" in read and "outbox" in read
    with tx() as s:
        assert s.scalar(select(OutboxMessage.send_after)) == utc(2026, 12, 5, 6, 0)
