"""Registration, sign-in, sessions and password reset, through the services."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from couples import accounts, clients, passwords
from couples.models import AuthSession, KnownDevice, PendingRegistration, User
from infra.errors import InvalidInput, NotAllowed, TooManyAttempts
from notifications.models import OutboxMessage
from tests.factories import PASSWORD, make_user

REG = accounts.Registration(
    email="Robin@Example.org",
    display_name="Robin",
    password="moonlight over lakes",
    timezone="Europe/Berlin",
)


def _outbox(s, kind: str) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    return list(s.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)))


def test_registration_waits_for_the_emailed_link_then_creates_the_account(tx, now) -> None:
    with tx() as s:
        accounts.register(s, REG, now=now)
    with tx() as s:
        assert s.scalar(select(func.count()).select_from(User)) == 0
        [mail] = _outbox(s, "confirm_email")
        assert mail.to_address == "robin@example.org"
        token = mail.secret
        # Only a hash of the link's token is stored with the registration.
        pending = s.scalar(select(PendingRegistration))
        assert token and pending.token_hash != token
    with tx() as s:
        user = accounts.confirm_registration(s, token, now=now + dt.timedelta(hours=1))
        assert (user.email, user.display_name, user.timezone) == (
            "robin@example.org",
            "Robin",
            "Europe/Berlin",
        )
    with tx() as s, pytest.raises(NotAllowed, match="expired or was already used"):
        accounts.confirm_registration(s, token, now=now + dt.timedelta(hours=2))


def test_confirmation_link_expires_after_a_day(tx, now) -> None:
    with tx() as s:
        accounts.register(s, REG, now=now)
    with tx() as s:
        token = _outbox(s, "confirm_email")[0].secret
    with tx() as s, pytest.raises(NotAllowed):
        accounts.confirm_registration(s, token, now=now + dt.timedelta(hours=24, seconds=1))


def test_registering_a_known_address_answers_the_same_and_tells_the_owner(tx, now) -> None:
    with tx() as s:
        make_user(s, "robin@example.org", "Robin")
    with tx() as s:
        # Same call, same (empty) answer, no exception: nothing tells the caller the
        # address exists. The owner gets a note instead of a confirmation link.
        assert accounts.register(s, REG, now=now) is None
    with tx() as s:
        assert _outbox(s, "confirm_email") == []
        [note] = _outbox(s, "account_exists")
        assert note.to_address == "robin@example.org" and note.secret is None
        assert s.scalar(select(func.count()).select_from(User)) == 1


def test_emails_are_compared_case_insensitively(tx, now) -> None:
    with tx() as s:
        make_user(s, "Casey@Example.ORG")
    with tx() as s:
        assert accounts.user_by_email(s, "  casey@example.org ").email == "casey@example.org"
        result = accounts.sign_in(s, "CASEY@example.org", PASSWORD, client="c", now=now)
        assert result.user is not None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("password", "short", "at least 8"),
        ("password", "x" * 129, "at most 128"),
        ("password", "Password123", "very common password"),
        ("password", "iloveyou1", "very common password"),
        ("password", " " * 8, "Repeats"),
        ("password", "12121212", "Repeats"),
        ("email", "not-an-address", "email address"),
        ("display_name", "   ", "what to call you"),
        ("timezone", "Mars/Olympus", "time zone"),
    ],
)
def test_registration_rejects_bad_input_with_a_message_per_field(
    tx, field: str, value: str, message: str
) -> None:
    bad = dataclasses.replace(REG, **{field: value})
    with tx() as s, pytest.raises(InvalidInput) as excinfo:
        accounts.register(s, bad)
    assert list(excinfo.value.fields) == [field]
    assert message in excinfo.value.fields[field]


def test_passwords_allow_64_characters_spaces_unicode_and_no_composition_rules() -> None:
    long_phrase = "the kettle sings while rain taps on the old greenhouse roof, twice"
    assert len(long_phrase) > 64 and passwords.password_problem(long_phrase) is None
    assert passwords.password_problem("x" * 8 + long_phrase[:120]) is None
    assert passwords.password_problem("all lower case words") is None
    assert passwords.password_problem("🌱 kleiner Garten ünter Bäumen") is None


@pytest.mark.parametrize(
    ("password", "advice"),
    [
        (" " * 8, "Repeats"),
        ("12121212", "Repeats"),
        ("Pat Pat Pat", "Leave out your name and email address."),
        ("pat@example.org", "Leave out your name and email address."),
        ("Patterson1990", "Leave out your name and email address."),
        ("qwertyuiop", "Add another word or two."),
        ("a" * 128, "Repeats"),
    ],
)
def test_guessable_passwords_are_refused_with_the_estimators_advice(
    tx, now, password: str, advice: str
) -> None:
    """Registration, reset and change all refuse a trivially guessable password, with
    advice that says what to change (the person's own name and address count against it)."""
    reg = accounts.Registration(
        email="pat@example.org", display_name="Pat Patterson", password=password, timezone="UTC"
    )
    with tx() as s, pytest.raises(InvalidInput) as refused:
        accounts.register(s, reg, now=now)
    assert advice in refused.value.fields["password"]
    with tx() as s:
        user = make_user(s, "pat@example.org", "Pat Patterson")
        accounts.request_password_reset(s, user.email, now=now)
    with tx() as s:
        token = _outbox(s, "password_reset")[0].secret
    with tx() as s, pytest.raises(InvalidInput) as refused:
        accounts.reset_password(s, token, password, now=now)
    assert advice in refused.value.fields["password"]
    with tx() as s, pytest.raises(InvalidInput) as refused:
        accounts.change_password(s, user.id, PASSWORD, password, now=now)
    assert advice in refused.value.fields["password"]
    with tx() as s:
        # Nothing changed: the old password still signs in.
        assert accounts.sign_in(s, user.email, PASSWORD, client="c", now=now).user


def test_passwords_are_argon2id_with_owasp_parameters(tx) -> None:
    with tx() as s:
        user = make_user(s, "p@example.org")
        assert user.password_hash.startswith("$argon2id$")
        assert "m=19456,t=2,p=1" in user.password_hash


def test_sign_in_rehashes_when_parameters_changed(tx, now) -> None:
    weaker = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    with tx() as s:
        user = make_user(s, "old@example.org")
        user.password_hash = weaker.hash(PASSWORD)
    with tx() as s:
        assert accounts.sign_in(s, "old@example.org", PASSWORD, client="c", now=now).user
    with tx() as s:
        assert "m=19456,t=2,p=1" in accounts.user_by_email(s, "old@example.org").password_hash


def test_wrong_password_and_unknown_address_get_the_same_answer(tx, now) -> None:
    with tx() as s:
        make_user(s, "known@example.org")
    with tx() as s:
        wrong = accounts.sign_in(s, "known@example.org", "not the password", client="c", now=now)
        unknown = accounts.sign_in(s, "nobody@example.org", PASSWORD, client="c", now=now)
    assert wrong.user is None and unknown.user is None
    assert wrong.error == unknown.error == accounts.SIGN_IN_FAILED


def _device(name: str) -> str:
    """The throttling key of a browser whose device cookie is ``name``."""
    return clients.device_key(name, "")


def _fail(tx, email: str, device: str, at: dt.datetime, times: int = 1) -> None:  # type: ignore[no-untyped-def]
    for i in range(times):
        with tx() as s:
            result = accounts.sign_in(
                s, email, "a wrong guess", client=device, now=at + dt.timedelta(seconds=i)
            )
            assert result.user is None


def test_guessing_is_slowed_per_account_and_device_without_locking_the_owner_out(tx, now) -> None:
    with tx() as s:
        make_user(s, "target@example.org")
    guesser = _device("guesser")
    _fail(tx, "target@example.org", guesser, now, accounts.MAX_FAILURES_PER_ACCOUNT_AND_DEVICE)
    later = now + dt.timedelta(minutes=1)
    with tx() as s, pytest.raises(TooManyAttempts, match="from this device"):
        # Even the right password is not checked from the guessing device for a while...
        accounts.sign_in(s, "target@example.org", PASSWORD, client=guesser, now=later)
    with tx() as s:
        # ...but another device, on the same network or not, is not slowed down.
        assert accounts.sign_in(
            s, "target@example.org", PASSWORD, client=_device("fresh"), now=later
        ).user
    # Unknown addresses are throttled alike, so throttling reveals nothing either.
    _fail(tx, "ghost@example.org", guesser, now, accounts.MAX_FAILURES_PER_ACCOUNT_AND_DEVICE)
    with tx() as s, pytest.raises(TooManyAttempts, match="from this device"):
        accounts.sign_in(s, "ghost@example.org", "guess", client=guesser, now=later)
    with tx() as s:
        after_window = now + accounts.THROTTLE_WINDOW + dt.timedelta(minutes=1)
        assert accounts.sign_in(
            s, "target@example.org", PASSWORD, client=guesser, now=after_window
        ).user


def test_a_device_that_signed_in_before_is_never_locked_out_by_failures_elsewhere(tx, now) -> None:
    with tx() as s:
        user = make_user(s, "owner@example.org")
    phone = _device("the owner's phone")
    with tx() as s:
        assert accounts.sign_in(s, "owner@example.org", PASSWORD, client=phone, now=now).user
    # Guessing from many new devices (a script that drops its cookie each time) counts
    # against the account: after MAX_FAILURES_PER_ACCOUNT, new devices wait...
    for i in range(accounts.MAX_FAILURES_PER_ACCOUNT):
        _fail(tx, "owner@example.org", _device(f"throwaway {i}"), now)
    later = now + dt.timedelta(minutes=1)
    with tx() as s, pytest.raises(TooManyAttempts, match="not signed in on before"):
        accounts.sign_in(s, "owner@example.org", PASSWORD, client=_device("new"), now=later)
    # ...and keep waiting, however many more they try...
    for i in range(accounts.MAX_FAILURES_PER_DEVICE):
        with tx() as s, pytest.raises(TooManyAttempts):
            accounts.sign_in(
                s, "owner@example.org", "guess", client=_device(f"more {i}"), now=later
            )
    with tx() as s:
        # ...while the owner's own phone signs in as always.
        assert accounts.sign_in(s, "owner@example.org", PASSWORD, client=phone, now=later).user
        # A device is known to the account it signed in to, not to others.
        other = make_user(s, "other@example.org")
        assert [d.device for d in s.scalars(select(KnownDevice))] == [phone]
        assert s.scalar(select(KnownDevice.user_id)) == user.id != other.id


def test_a_known_device_is_still_slowed_by_its_own_guesses(tx, now) -> None:
    """Someone at the owner's own (shared) computer guessing is slowed there too."""
    laptop = _device("the shared laptop")
    with tx() as s:
        make_user(s, "owner@example.org")
        assert accounts.sign_in(s, "owner@example.org", PASSWORD, client=laptop, now=now).user
    _fail(tx, "owner@example.org", laptop, now, accounts.MAX_FAILURES_PER_ACCOUNT_AND_DEVICE)
    with tx() as s, pytest.raises(TooManyAttempts, match="from this device"):
        accounts.sign_in(s, "owner@example.org", PASSWORD, client=laptop, now=now)


def test_a_device_trying_many_addresses_is_slowed_down(tx, now) -> None:
    sprayer = _device("sprayer")
    for i in range(accounts.MAX_FAILURES_PER_DEVICE):
        _fail(tx, f"user{i}@example.org", sprayer, now)
    with tx() as s, pytest.raises(TooManyAttempts, match="from this device"):
        accounts.sign_in(s, "another@example.org", "guess", client=sprayer, now=now)
    with tx() as s:
        # Nobody else is: a third person on the same network signs in as usual.
        make_user(s, "third@example.org")
        assert accounts.sign_in(
            s, "third@example.org", PASSWORD, client=_device("third"), now=now
        ).user


def test_only_a_device_cookie_makes_a_known_device_and_a_new_password_forgets_them(tx, now) -> None:
    """A client without the cookie is keyed by its address, which everyone behind it
    shares: it never becomes a known device. A password change or reset forgets every
    known device (one the partner used with the old password loses its exemption)."""
    by_address = clients.device_key(None, "203.0.113.7")
    phone = _device("phone")
    with tx() as s:
        user = make_user(s, "o@example.org")
        assert accounts.sign_in(s, "o@example.org", PASSWORD, client=by_address, now=now).user
        assert accounts.sign_in(s, "o@example.org", PASSWORD, client=phone, now=now).user
    with tx() as s:
        assert list(s.scalars(select(KnownDevice.device))) == [phone]
        accounts.change_password(s, user.id, PASSWORD, "a wholly different phrase", now=now)
    with tx() as s:
        assert list(s.scalars(select(KnownDevice.device))) == []


def test_session_lifetime_idle_and_absolute(tx, now) -> None:
    with tx() as s:
        user = make_user(s, "s@example.org")
        token = accounts.start_session(s, user.id, now=now)
    step = dt.timedelta(minutes=29)
    t = now
    # Active use keeps the session alive until the absolute limit...
    while t + step < now + accounts.SESSION_ABSOLUTE:
        t += step
        with tx() as s:
            assert accounts.resolve_session(s, token, now=t) is not None, t
    with tx() as s:
        assert accounts.resolve_session(s, token, now=now + accounts.SESSION_ABSOLUTE) is None
    # ...and 30 idle minutes end it.
    with tx() as s:
        idle_token = accounts.start_session(s, user.id, now=now)
    with tx() as s:
        assert accounts.resolve_session(s, idle_token, now=now + dt.timedelta(minutes=30)) is None
    with tx() as s:
        # Once ended, it stays ended.
        assert accounts.resolve_session(s, idle_token, now=now + dt.timedelta(minutes=1)) is None


def test_sign_out_ends_the_session_on_the_server(tx, now) -> None:
    with tx() as s:
        user = make_user(s, "o@example.org")
        token = accounts.start_session(s, user.id, now=now)
        assert s.scalar(select(AuthSession.token_hash)) != token
    with tx() as s:
        accounts.end_session(s, token, now=now)
    with tx() as s:
        assert accounts.resolve_session(s, token, now=now) is None


def test_password_reset_link_is_single_use_expires_and_ends_all_sessions(tx, now) -> None:
    with tx() as s:
        user = make_user(s, "r@example.org")
        old_sessions = [accounts.start_session(s, user.id, now=now) for _ in range(2)]
    with tx() as s:
        accounts.request_password_reset(s, "R@example.org", now=now)
        accounts.request_password_reset(s, "unknown@example.org", now=now)
    with tx() as s:
        [mail] = _outbox(s, "password_reset")
        token = mail.secret
        assert mail.to_address == "r@example.org"
    with tx() as s:
        accounts.reset_password(s, token, "a brand new phrase", now=now + dt.timedelta(hours=1))
    with tx() as s:
        for old in old_sessions:
            assert accounts.resolve_session(s, old, now=now + dt.timedelta(hours=1)) is None
        assert accounts.sign_in(s, "r@example.org", "a brand new phrase", client="c").user
    with tx() as s, pytest.raises(NotAllowed):
        accounts.reset_password(s, token, "yet another phrase", now=now + dt.timedelta(hours=1))


def test_password_reset_link_dies_after_two_hours(tx, now) -> None:
    with tx() as s:
        make_user(s, "late@example.org")
        accounts.request_password_reset(s, "late@example.org", now=now)
    with tx() as s:
        token = _outbox(s, "password_reset")[0].secret
    with tx() as s, pytest.raises(NotAllowed):
        accounts.reset_password(s, token, "a brand new phrase", now=now + dt.timedelta(hours=2))


def test_reset_keeps_the_password_rules(tx, now) -> None:
    with tx() as s:
        make_user(s, "rules@example.org")
        accounts.request_password_reset(s, "rules@example.org", now=now)
    with tx() as s:
        token = _outbox(s, "password_reset")[0].secret
    with tx() as s, pytest.raises(InvalidInput, match="at least 8"):
        accounts.reset_password(s, token, "short", now=now)
    with tx() as s:
        # The failed attempt did not use the link up.
        accounts.reset_password(s, token, "long enough now", now=now)


def test_changing_the_password_needs_the_current_one_and_ends_sessions(tx, now) -> None:
    with tx() as s:
        user = make_user(s, "c@example.org")
        token = accounts.start_session(s, user.id, now=now)
    with tx() as s, pytest.raises(InvalidInput, match="current password"):
        accounts.change_password(s, user.id, "wrong", "new long phrase", now=now)
    with tx() as s:
        accounts.change_password(s, user.id, PASSWORD, "new long phrase", now=now)
    with tx() as s:
        assert accounts.resolve_session(s, token, now=now) is None


def test_session_tickets_are_single_use_and_short_lived(tx, now) -> None:
    with tx() as s:
        user = make_user(s, "t@example.org")
        ticket = accounts.issue_session_ticket(s, user.id, now=now)
        stale = accounts.issue_session_ticket(s, user.id, now=now)
    with tx() as s:
        assert accounts.redeem_token(s, ticket, "session_ticket", now=now).user_id == user.id
        assert accounts.redeem_token(s, ticket, "session_ticket", now=now) is None
        assert accounts.redeem_token(s, stale, "password_reset", now=now) is None
        late = now + accounts.SESSION_TICKET_LIFETIME
        assert accounts.redeem_token(s, stale, "session_ticket", now=late) is None


def test_profile_update_validates(tx) -> None:
    with tx() as s:
        user = make_user(s, "pr@example.org")
    with tx() as s, pytest.raises(InvalidInput) as excinfo:
        accounts.update_profile(s, user.id, display_name="", timezone="Nowhere/City")
    assert set(excinfo.value.fields) == {"display_name", "timezone"}
    with tx() as s:
        accounts.update_profile(s, user.id, display_name=" Pat ", timezone="Asia/Tokyo")
    with tx() as s:
        assert (s.get(User, user.id).display_name, s.get(User, user.id).timezone) == (
            "Pat",
            "Asia/Tokyo",
        )
