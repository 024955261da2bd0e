"""Dispatch against a real SMTP server (aiosmtpd on loopback) that misbehaves on demand."""

from __future__ import annotations

import datetime as dt
import email.policy
import logging
import re
import threading
import time
from collections.abc import Callable
from email import message_from_bytes

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, event, select, text, update

from infra.db import transaction, utcnow
from notifications import dispatch
from notifications.dispatch import (
    BACKOFF,
    MAX_ATTEMPTS,
    STALL_AFTER,
    DispatchReport,
    claim_batch,
    dispatch_pending,
)
from notifications.models import (
    DEAD,
    PENDING,
    RETRYING,
    SENDING,
    SENT,
    SKIPPED,
    OutboxMessage,
)
from notifications.outbox import enqueue
from notifications.preferences import update_preferences
from notifications.rendering import message_id_for
from tend.cli import main
from tests.factories import make_user


def queue(tx, count: int = 1, *, kind: str = "test", to: str = "r{i}@example.org") -> list[int]:  # type: ignore[no-untyped-def]
    ids = []
    with tx() as s:
        for i in range(count):
            row = enqueue(
                s,
                kind=kind,
                to_address=to.format(i=i),
                dedupe_key=f"{kind}:{i}:{to}",
                context={},
                send_after=utcnow(),
            )
            assert row is not None
            s.flush()
            ids.append(row.id)
    return ids


def rows(tx) -> dict[int, OutboxMessage]:  # type: ignore[no-untyped-def]
    with tx() as s:
        return {r.id: r for r in s.scalars(select(OutboxMessage))}


def test_a_batch_goes_over_one_connection_with_unsubscribe_headers(
    engine: Engine, tx, smtp_sink, smtp_settings
) -> None:
    ids = queue(tx, 12)
    report = dispatch_pending(engine, settings=smtp_settings)
    assert sorted(report.sent) == ids
    received = smtp_sink.messages()
    assert len(received) == 12
    assert smtp_sink.connections == 1  # one SMTP session (one EHLO) for the whole pass
    by_id = rows(tx)
    assert {r.message_id for r in received} == {by_id[i].message_id for i in ids}
    for mail in received:
        # Read from the bytes the server received: mail clients look for the URL in
        # angle brackets as written (RFC 2369/8058), not for an RFC 2047 encoded-word.
        [unsubscribe] = re.findall(rb"^List-Unsubscribe: (.*?)\r?$", mail.raw, re.MULTILINE)
        assert re.fullmatch(rb"<http://tend\.test/unsubscribe\?token=[\w.=%-]+>", unsubscribe)
        assert b"=?" not in unsubscribe
        assert re.search(
            rb"^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r?$", mail.raw, re.MULTILINE
        )
        assert unsubscribe.decode().strip("<>") in mail.text()  # the same link, in the body
    assert all(r.status == SENT and r.attempts == 1 for r in by_id.values())


def test_451_once_then_accepted_is_sent_on_retry_with_the_same_message_id(
    engine: Engine, tx, smtp_sink, smtp_settings
) -> None:
    [row_id] = queue(tx)
    expected_id = message_id_for(rows(tx)[row_id], smtp_settings)
    smtp_sink.answer_next("451 4.3.0 Mailbox busy, try again later")
    start = utcnow()
    first = dispatch_pending(engine, settings=smtp_settings, now=start)
    assert first.retrying == [row_id]
    row = rows(tx)[row_id]
    assert row.status == RETRYING and row.attempts == 1
    assert "451" in (row.last_error or "")
    assert row.send_after == start + BACKOFF[0]
    # Not due yet: nothing happens before the backoff has passed.
    assert not dispatch_pending(engine, settings=smtp_settings, now=start).found_work
    second = dispatch_pending(engine, settings=smtp_settings, now=start + BACKOFF[0])
    assert second.sent == [row_id]
    [mail] = smtp_sink.messages()
    assert mail.message_id == expected_id
    assert rows(tx)[row_id].message_id == expected_id


def test_550_is_dead_with_the_error_visible_and_can_be_retried(
    engine: Engine, tx, smtp_sink, smtp_settings, tend_env
) -> None:
    [bad] = queue(tx, to="gone{i}@example.org")
    [good] = queue(tx, to="here{i}@example.org")
    smtp_sink.refuse.add("gone0@example.org")
    report = dispatch_pending(engine, settings=smtp_settings)
    assert report.dead == [bad] and report.sent == [good]
    row = rows(tx)[bad]
    assert row.status == DEAD and "550" in (row.last_error or "")

    runner = CliRunner()
    listing = runner.invoke(main, ["outbox"])
    assert listing.exit_code == 0, listing.output
    assert "dead" in listing.output and "gone0@example.org" in listing.output
    assert "550" in listing.output and "No such user" in listing.output
    assert "here0@example.org" not in listing.output  # sent rows are not listed

    retried = runner.invoke(main, ["outbox", "retry", str(bad)])
    assert retried.exit_code == 0, retried.output
    row = rows(tx)[bad]
    assert row.status == PENDING and row.attempts == 0
    refused = runner.invoke(main, ["outbox", "retry", str(good)])
    assert refused.exit_code != 0 and "already sent" in refused.output
    smtp_sink.refuse.clear()
    assert dispatch_pending(engine, settings=smtp_settings).sent == [bad]


def test_a_server_that_never_answers_the_message_times_out_and_is_retried(
    engine: Engine, tx, smtp_sink, smtp_settings
) -> None:
    [row_id] = queue(tx)
    smtp_sink.hang_seconds = 4  # longer than smtp_timeout
    start = utcnow()
    report = dispatch_pending(engine, settings=smtp_settings, now=start)
    assert report.retrying == [row_id]
    row = rows(tx)[row_id]
    assert row.status == RETRYING and "timed out" in (row.last_error or "").lower()
    smtp_sink.hang_seconds = 0
    assert dispatch_pending(engine, settings=smtp_settings, now=start + BACKOFF[0]).sent == [row_id]
    assert len(smtp_sink.messages()) == 1


def test_a_server_that_never_says_hello_leaves_rows_pending(
    engine: Engine, tx, smtp_sink, smtp_settings
) -> None:
    ids = queue(tx, 3)
    smtp_sink.go_silent()
    report = dispatch_pending(engine, settings=smtp_settings)
    assert report.unreachable and not report.found_work
    for row in rows(tx).values():
        assert row.status == PENDING and row.attempts == 0
        assert "timed out" in (row.last_error or "").lower()
    smtp_sink.come_back()
    assert sorted(dispatch_pending(engine, settings=smtp_settings).sent) == ids


def test_a_server_that_is_down_leaves_rows_pending_until_it_is_back(
    engine: Engine, tx, smtp_sink, smtp_settings
) -> None:
    ids = queue(tx, 5)
    smtp_sink.go_down()
    for _ in range(3):  # however often the dispatcher tries, no attempt is used up
        report = dispatch_pending(engine, settings=smtp_settings)
        assert report.unreachable and "refused" in report.unreachable.lower()
    assert {(r.status, r.attempts) for r in rows(tx).values()} == {(PENDING, 0)}
    smtp_sink.come_back()
    assert sorted(dispatch_pending(engine, settings=smtp_settings).sent) == ids
    assert len(smtp_sink.count_by_message_id()) == 5


def test_attempts_are_bounded_then_dead_with_the_last_error(
    engine: Engine, tx, smtp_sink, smtp_settings
) -> None:
    [row_id] = queue(tx)
    smtp_sink.answer_next(*[f"452 4.2.2 Over quota ({n})" for n in range(MAX_ATTEMPTS)])
    at = utcnow()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        dispatch_pending(engine, settings=smtp_settings, now=at)
        row = rows(tx)[row_id]
        assert row.attempts == attempt
        if attempt < MAX_ATTEMPTS:
            assert row.status == RETRYING
            assert row.send_after == at + BACKOFF[attempt - 1]
            at = row.send_after
    assert row.status == DEAD and f"({MAX_ATTEMPTS - 1})" in (row.last_error or "")
    assert smtp_sink.messages() == []


def test_a_bad_address_is_dead_without_bothering_the_server(
    engine: Engine, tx, smtp_sink, smtp_settings
) -> None:
    [row_id] = queue(tx, to="not an address {i}")
    report = dispatch_pending(engine, settings=smtp_settings)
    assert report.dead == [row_id]
    assert "not an email address" in (rows(tx)[row_id].last_error or "")
    assert smtp_sink.connections == 0


def test_an_expired_lease_is_taken_again_and_a_live_one_is_not(
    engine: Engine, tx, smtp_sink, smtp_settings
) -> None:
    [row_id] = queue(tx)
    start = utcnow()
    assert claim_batch(engine, now=start, owner="crashed", settings=smtp_settings) == [row_id]
    # The claim is live: nobody else sends it.
    assert not dispatch_pending(engine, settings=smtp_settings, now=start).found_work
    assert smtp_sink.messages() == []
    later = start + dispatch.lease(smtp_settings) + dt.timedelta(seconds=1)
    assert dispatch_pending(engine, settings=smtp_settings, now=later).sent == [row_id]
    assert rows(tx)[row_id].attempts == 2  # the crashed claim counted as an attempt


def test_a_pass_that_lost_its_claim_does_not_send(
    engine: Engine, tx, smtp_sink, smtp_settings
) -> None:
    [row_id] = queue(tx)
    start = utcnow()
    claim_batch(engine, now=start, owner="slow", settings=smtp_settings)
    later = start + dispatch.lease(smtp_settings) + dt.timedelta(seconds=1)
    claim_batch(engine, now=later, owner="fast", settings=smtp_settings)
    transport = dispatch.transport_for(smtp_settings)
    try:
        status = dispatch.send_one(
            engine, row_id, transport, smtp_settings, owner="slow", now=later
        )
    finally:
        transport.close()
    assert status == dispatch.LOST
    assert smtp_sink.messages() == []
    assert rows(tx)[row_id].status == SENDING


def test_a_reminder_turned_off_after_planning_is_skipped_not_sent(
    engine: Engine, tx, smtp_sink, smtp_settings, test_prompt
) -> None:
    with tx() as s:
        user = make_user(s, "sam@example.org")
        enqueue(
            s,
            kind=test_prompt,
            to_address=user.email,
            recipient_user_id=user.id,
            dedupe_key="r1",
            context={"name": "Sam", "couple": "S & T"},
            send_after=utcnow(),
        )
    with tx() as s:
        update_preferences(
            s,
            user.id,
            paused=False,
            enabled={test_prompt: False},
            preferred_hour=None,
            quiet_start=None,
            quiet_end=None,
        )
    report = dispatch_pending(engine, settings=smtp_settings)
    assert len(report.skipped) == 1 and not report.sent
    [row] = rows(tx).values()
    assert row.status == SKIPPED and "turned this reminder off" in (row.last_error or "")
    assert smtp_sink.messages() == []


def test_a_sign_in_target_becomes_a_single_use_link_issued_at_send_time(
    engine: Engine, tx, smtp_sink, smtp_settings, test_prompt
) -> None:
    from couples import accounts

    with tx() as s:
        user = make_user(s, "sam@example.org")
        enqueue(
            s,
            kind=test_prompt,
            to_address=user.email,
            recipient_user_id=user.id,
            dedupe_key="r1",
            context={"name": "Sam", "couple": "S & T", "sign_in_target": "/checkin"},
            send_after=utcnow(),
        )
    dispatch_pending(engine, settings=smtp_settings)
    [mail] = smtp_sink.messages()
    body = mail.message.get_body(preferencelist=("plain",)).get_content()
    [link] = [w for w in body.split() if w.startswith("http://tend.test/auth/link?token=")]
    token = link.split("token=", 1)[1]
    raw = message_from_bytes(mail.raw, policy=email.policy.default)
    assert raw["To"] == "sam@example.org"
    with tx() as s:
        record = accounts.redeem_token(s, token, "sign_in_link")
        assert record is not None and record.target == "/checkin"
        assert record.token_hash != token  # only the hash is at rest
    with tx() as s:
        assert accounts.redeem_token(s, token, "sign_in_link") is None  # single use


@pytest.mark.parametrize("status", [SENT])
def test_outbox_listing_is_empty_when_all_sent(
    engine: Engine, tx, smtp_sink, smtp_settings, tend_env, status: str
) -> None:
    queue(tx, 2)
    dispatch_pending(engine, settings=smtp_settings)
    result = CliRunner().invoke(main, ["outbox"])
    assert "everything was sent" in result.output


# --- issue 14: fenced claims, leases kept alive, a server that stalls ------------------


def wait_until(condition: Callable[[], object], timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.02)


class Background(threading.Thread):
    """Runs fn in a named thread and keeps its result or exception."""

    def __init__(self, name: str, fn: Callable[[], object]):
        super().__init__(name=name, daemon=True)
        self.fn = fn
        self.result: object = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.fn()
        except BaseException as exc:  # handed to the test
            self.error = exc

    def outcome(self, timeout: float) -> object:
        self.join(timeout)
        assert not self.is_alive(), f"{self.name} still running after {timeout} s"
        if self.error is not None:
            raise self.error
        return self.result


def waiting_for_a_row_lock(engine: Engine) -> bool:
    with engine.connect() as connection:
        return bool(
            connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        )


def test_a_claim_taken_while_the_lease_is_checked_stops_the_send_before_smtp(
    engine: Engine, tx, smtp_sink, smtp_settings
) -> None:
    """Step by step: pass "slow" holds a claim whose lease ran out. Pass "fast" claims the
    row and, before it commits, "slow" checks its claim to send. "slow" must stop before
    talking to the server; "fast" sends the mail, once."""
    [row_id] = queue(tx)
    start = utcnow()
    assert claim_batch(engine, now=start, owner="slow", settings=smtp_settings) == [row_id]
    later = start + dispatch.lease(smtp_settings) + dt.timedelta(seconds=1)

    fast_claimed, fast_may_commit, slow_checking = (threading.Event() for _ in range(3))

    def hold_fast_before_commit(_connection) -> None:  # type: ignore[no-untyped-def]
        if threading.current_thread().name == "fast" and not fast_may_commit.is_set():
            fast_claimed.set()
            fast_may_commit.wait(60)

    def note_slow_statements(_conn, _cursor, statement: str, *_args) -> None:  # type: ignore[no-untyped-def]
        if threading.current_thread().name == "slow":
            slow_checking.set()

    event.listen(engine, "commit", hold_fast_before_commit)
    event.listen(engine, "before_cursor_execute", note_slow_statements)
    transport = dispatch.transport_for(smtp_settings)
    try:
        fast = Background(
            "fast",
            lambda: claim_batch(engine, now=later, owner="fast", settings=smtp_settings),
        )
        fast.start()
        assert fast_claimed.wait(30), "the second claim never reached its commit"
        slow = Background(
            "slow",
            lambda: dispatch.send_one(
                engine, row_id, transport, smtp_settings, owner="slow", now=later
            ),
        )
        slow.start()
        assert slow_checking.wait(30)
        if engine.dialect.name == "postgresql":
            # "slow" is now waiting for the row lock the uncommitted claim holds.
            wait_until(lambda: waiting_for_a_row_lock(engine), what="slow to wait on the lock")
        fast_may_commit.set()
        assert fast.outcome(30) == [row_id]
        assert slow.outcome(30) == dispatch.LOST
    finally:
        fast_may_commit.set()
        event.remove(engine, "commit", hold_fast_before_commit)
        event.remove(engine, "before_cursor_execute", note_slow_statements)
        transport.close()
    assert smtp_sink.mail_commands == 0  # not one SMTP transaction was begun by "slow"
    row = rows(tx)[row_id]
    assert row.status == SENDING and row.claimed_by == "fast"
    transport = dispatch.transport_for(smtp_settings)
    try:
        status = dispatch.send_one(
            engine, row_id, transport, smtp_settings, owner="fast", now=later
        )
    finally:
        transport.close()
    assert status == SENT
    assert list(smtp_sink.count_by_message_id().values()) == [1]


def test_a_send_that_outlasts_its_lease_is_not_taken_over(
    engine: Engine, tx, smtp_sink, smtp_settings
) -> None:
    """The shortest lease allowed (5 s) and a server that holds back its answer until
    the lease ran out and a second pass ran: that pass finds nothing to send."""
    settings = smtp_settings.model_copy(update={"outbox_lease_seconds": 5, "smtp_timeout": 600})
    [row_id] = queue(tx)
    smtp_sink.hold_next()
    first = Background("first", lambda: dispatch_pending(engine, settings=settings))
    first.start()
    wait_until(lambda: smtp_sink.mail_commands == 1, what="the first send to begin")
    with tx() as s:
        claimed_until = s.get(OutboxMessage, row_id).claimed_until  # type: ignore[union-attr]
    assert claimed_until is not None
    # Wait for the lease as it was when the send began to run out (the point of the test).
    wait_until(lambda: utcnow() > claimed_until + dt.timedelta(seconds=0.5), timeout=15)
    assert first.is_alive()
    second = dispatch_pending(engine, settings=settings)
    assert not second.found_work
    smtp_sink.release()
    report = first.outcome(60)
    assert isinstance(report, DispatchReport) and report.sent == [row_id]
    assert list(smtp_sink.count_by_message_id().values()) == [1]
    assert rows(tx)[row_id].status == SENT


def test_a_send_whose_claim_is_taken_meanwhile_is_broken_off(
    engine: Engine, tx, smtp_sink, smtp_settings
) -> None:
    """If the claim is lost during the SMTP exchange anyway (an operator, a lease that
    could not be renewed), the pass breaks the connection off before the message goes."""
    settings = smtp_settings.model_copy(update={"outbox_lease_seconds": 5, "smtp_timeout": 600})
    [row_id] = queue(tx)
    smtp_sink.stall()  # no answer to MAIL FROM until the test resumes it
    first = Background("first", lambda: dispatch_pending(engine, settings=settings))
    first.start()
    wait_until(lambda: smtp_sink.mail_commands == 1, what="the send to begin")
    with transaction(engine) as s:
        s.execute(
            update(OutboxMessage).where(OutboxMessage.id == row_id).values(claimed_by="other")
        )
    # Over while the server still says nothing (and long before the client's 600 s
    # timeout): the pass broke the connection off itself.
    report = first.outcome(120)
    assert smtp_sink.stalled
    assert isinstance(report, DispatchReport) and not report.found_work
    assert smtp_sink.messages() == []
    row = rows(tx)[row_id]
    assert row.status == SENDING and row.claimed_by == "other"  # left to its holder


def test_a_server_that_greets_then_stalls_stops_the_pass_without_charging_attempts(
    engine: Engine, tx, smtp_sink, smtp_settings, caplog: pytest.LogCaptureFixture
) -> None:
    ids = queue(tx, 8)
    smtp_sink.stall()
    with caplog.at_level(logging.WARNING, logger="notifications.dispatch"):
        report = dispatch_pending(engine, settings=smtp_settings)
    assert report.stalled and "timed out" in report.stalled and not report.found_work
    # STALL_AFTER sends timed out (1.5 s each), then the pass stopped: not eight.
    assert smtp_sink.mail_commands == STALL_AFTER
    assert "SMTP server stalled" in caplog.text
    for row in rows(tx).values():
        assert row.status == PENDING and row.attempts == 0 and row.claimed_by is None
    timed_out = [r for r in rows(tx).values() if "timed out" in (r.last_error or "")]
    assert len(timed_out) == STALL_AFTER
    smtp_sink.resume()
    assert sorted(dispatch_pending(engine, settings=smtp_settings).sent) == ids
    assert set(smtp_sink.count_by_message_id().values()) == {1}
