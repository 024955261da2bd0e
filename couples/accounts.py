"""Registration, sign-in, sessions and password reset."""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from dataclasses import dataclass
from zoneinfo import available_timezones

from sqlalchemy import ColumnElement, bindparam, case, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from couples import passwords
from couples.clients import is_device_key
from couples.models import (
    AuthSession,
    Couple,
    FailedSignIn,
    KnownDevice,
    Membership,
    OneTimeToken,
    PendingRegistration,
    User,
)
from infra.db import utcnow
from infra.errors import InvalidInput, NotAllowed, NotFound, TooManyAttempts
from infra.tokens import new_token, token_hash
from notifications import accounts_port
from notifications.outbox import enqueue

SESSION_IDLE = dt.timedelta(minutes=30)
SESSION_ABSOLUTE = dt.timedelta(hours=12)
# Writing last_seen_at on every Streamlit rerun would turn each click into a write.
SESSION_TOUCH_EVERY = dt.timedelta(seconds=60)
RESET_LINK_LIFETIME = dt.timedelta(hours=2)
CONFIRM_LINK_LIFETIME = dt.timedelta(hours=24)
SIGN_IN_LINK_LIFETIME = dt.timedelta(hours=24)
SESSION_TICKET_LIFETIME = dt.timedelta(minutes=2)

# Throttling (docs/security.md). Failed sign-ins are counted per device (the device
# cookie, couples.clients) and per account, never per network address, so nobody on the
# same network can lock anyone out:
# - one device, one address: MAX_FAILURES_PER_ACCOUNT_AND_DEVICE, then that device waits;
# - one device, any addresses: MAX_FAILURES_PER_DEVICE (spraying many accounts);
# - one address from all devices that never signed in to it: MAX_FAILURES_PER_ACCOUNT,
#   then only such new devices wait. A device that signed in to the account before (a
#   known device) never counts, and never waits, for failures made on other devices.
THROTTLE_WINDOW = dt.timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT_AND_DEVICE = 5
MAX_FAILURES_PER_DEVICE = 30
MAX_FAILURES_PER_ACCOUNT = 10
TOO_MANY_FROM_DEVICE = (
    "Too many attempts from this device. Wait 15 minutes, or reset your password by email."
)
TOO_MANY_FOR_ACCOUNT = (
    "Too many attempts for this address from devices it has not signed in on before. "
    "Wait 15 minutes, sign in on a device you used before, or reset your password by email."
)

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")
MAX_NAME = 100


def normalize_email(raw: str) -> str:
    # PostgreSQL text cannot hold NUL: a typed NUL would crash the lookup instead of
    # simply matching no account. No valid address contains one (see email_problem).
    return raw.strip().lower().replace("\x00", "\ufffd")


def email_problem(email: str) -> str | None:
    if (
        not _EMAIL_RE.match(email)
        or len(email) > 320
        or any(
            unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") or ch == "\ufffd" for ch in email
        )
    ):
        return "Enter an email address such as sam@example.org."
    return None


def clean_display_name(raw: str) -> str:
    return raw.strip()


def display_name_problem(name: str) -> str | None:
    if not name:
        return "Tell us what to call you."
    if len(name) > MAX_NAME:
        return f"Keep it to {MAX_NAME} characters."
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        return "Names cannot contain control characters."
    return None


def timezone_problem(tz: str) -> str | None:
    if tz not in available_timezones():
        return "Choose a time zone from the list."
    return None


@dataclass(frozen=True)
class Registration:
    email: str
    display_name: str
    password: str
    timezone: str


def validate_registration(reg: Registration) -> Registration:
    clean = Registration(
        email=normalize_email(reg.email),
        display_name=clean_display_name(reg.display_name),
        password=reg.password,
        timezone=reg.timezone,
    )
    problems = {
        "email": email_problem(clean.email),
        "display_name": display_name_problem(clean.display_name),
        "password": passwords.password_problem(
            clean.password, email=clean.email, name=clean.display_name
        ),
        "timezone": timezone_problem(clean.timezone),
    }
    problems = {k: v for k, v in problems.items() if v}
    if problems:
        raise InvalidInput(problems)
    return clean


def user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalize_email(email)))


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("No such account.")
    return user


def register(session: Session, reg: Registration, *, now: dt.datetime | None = None) -> int | None:
    """Start a registration. The answer is the same whether or not the address is known:
    a new address gets a confirmation link, a known one a note that it already has an
    account. Either way the person who owns the inbox decides what happens next.

    Returns the pending registration's id (None for a known address) for the local
    Mailbox only, which shows this browser the one confirmation mail it caused; a page
    never shows it or answers differently because of it."""
    now = now or utcnow()
    clean = validate_registration(reg)
    # Hash in both branches so that timing does not tell the branches apart.
    password_hash = passwords.hash_password(clean.password)
    existing = user_by_email(session, clean.email)
    if existing is not None:
        hour = now.strftime("%Y%m%d%H")
        enqueue(
            session,
            kind="account_exists",
            to_address=existing.email,
            recipient_user_id=existing.id,
            dedupe_key=f"account-exists:{existing.id}:{hour}",
            context={"name": existing.display_name},
        )
        return None
    token = new_token()
    pending = PendingRegistration(
        token_hash=token_hash(token),
        email=clean.email,
        display_name=clean.display_name,
        password_hash=password_hash,
        timezone=clean.timezone,
        created_at=now,
        expires_at=now + CONFIRM_LINK_LIFETIME,
    )
    session.add(pending)
    session.flush()
    enqueue(
        session,
        kind="confirm_email",
        to_address=clean.email,
        dedupe_key=confirmation_dedupe_key(pending.id),
        context={"name": clean.display_name},
        secret=token,
    )
    return pending.id


def confirmation_dedupe_key(pending: int) -> str:
    """The outbox key of the confirmation mail of pending registration ``pending``."""
    return f"confirm-email:{pending}"


def confirm_registration(session: Session, token: str, *, now: dt.datetime | None = None) -> User:
    now = now or utcnow()
    pending = session.scalar(
        select(PendingRegistration).where(PendingRegistration.token_hash == token_hash(token))
    )
    if pending is None or pending.used_at is not None or pending.expires_at <= now:
        raise NotAllowed("This confirmation link has expired or was already used. Register again.")
    pending.used_at = now
    if user_by_email(session, pending.email) is not None:
        raise NotAllowed("This address already has an account. Sign in instead.")
    user = User(
        email=pending.email,
        display_name=pending.display_name,
        password_hash=pending.password_hash,
        timezone=pending.timezone,
        created_at=now,
        password_changed_at=now,
    )
    session.add(user)
    session.flush()
    return user


def create_confirmed_user(
    session: Session, reg: Registration, *, now: dt.datetime | None = None
) -> User:
    """Create an account whose address is already proven (e.g. by an invitation link)."""
    now = now or utcnow()
    clean = validate_registration(reg)
    if user_by_email(session, clean.email) is not None:
        raise InvalidInput({"email": "This address already has an account. Sign in instead."})
    user = User(
        email=clean.email,
        display_name=clean.display_name,
        password_hash=passwords.hash_password(clean.password),
        timezone=clean.timezone,
        created_at=now,
        password_changed_at=now,
    )
    session.add(user)
    session.flush()
    return user


@dataclass(frozen=True)
class SignInResult:
    user: User | None
    error: str | None = None


SIGN_IN_FAILED = "That email and password do not match an account."


def sign_in(
    session: Session, email: str, password: str, *, client: str, now: dt.datetime | None = None
) -> SignInResult:
    """Check a password. ``client`` is the device's throttling key
    (couples.clients.device_key). Failures are recorded (the caller commits them) and
    answered identically for known and unknown addresses."""
    now = now or utcnow()
    # No account has a longer address; cut it so the failure can still be recorded.
    email = normalize_email(email)[:320]
    client = (client or "unknown")[:64]
    since = now - THROTTLE_WINDOW
    user = user_by_email(session, email)
    # Looked up for unknown addresses too (no rows), so both take the same path.
    known = _known_devices(session, user.id if user else None)

    def failures(*where: ColumnElement[bool]) -> int:
        return session.scalar(
            select(func.count()).select_from(FailedSignIn).where(FailedSignIn.at > since, *where)
        )

    if failures(FailedSignIn.email == email, FailedSignIn.client == client) >= (
        MAX_FAILURES_PER_ACCOUNT_AND_DEVICE
    ):
        raise TooManyAttempts(TOO_MANY_FROM_DEVICE)
    if client not in known:
        if failures(FailedSignIn.client == client) >= MAX_FAILURES_PER_DEVICE:
            raise TooManyAttempts(TOO_MANY_FROM_DEVICE)
        elsewhere = failures(FailedSignIn.email == email, FailedSignIn.client.not_in(known))
        if elsewhere >= MAX_FAILURES_PER_ACCOUNT:
            raise TooManyAttempts(TOO_MANY_FOR_ACCOUNT)
    if not passwords.verify_password(user.password_hash if user else None, password) or not user:
        session.add(FailedSignIn(email=email, client=client, at=now))
        return SignInResult(user=None, error=SIGN_IN_FAILED)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    session.execute(
        delete(FailedSignIn).where(FailedSignIn.email == email, FailedSignIn.client == client)
    )
    remember_device(session, user.id, client, now=now)
    return SignInResult(user=user)


def _known_devices(session: Session, user_id: int | None) -> list[str]:
    return list(session.scalars(select(KnownDevice.device).where(KnownDevice.user_id == user_id)))


def remember_device(
    session: Session, user_id: int, client: str, *, now: dt.datetime | None = None
) -> None:
    """Mark the device as one that signed in to this account (a known device). Only a
    device cookie's key qualifies: an address is shared by everyone behind it."""
    if not is_device_key(client):
        return
    now = now or utcnow()
    record = session.scalar(
        select(KnownDevice).where(KnownDevice.user_id == user_id, KnownDevice.device == client)
    )
    if record is None:
        try:
            # Two sign-ins on one device at the same moment: the unique key keeps one.
            with session.begin_nested():
                session.add(
                    KnownDevice(user_id=user_id, device=client, first_seen_at=now, last_seen_at=now)
                )
        except IntegrityError:
            pass
    else:
        record.last_seen_at = now


def forget_devices(session: Session, user_id: int) -> None:
    """After a password change or reset no device is known any more: one the partner
    used with the old password must not keep its exemption. The device the person is
    on becomes known again as the new sign-in completes."""
    session.execute(delete(KnownDevice).where(KnownDevice.user_id == user_id))


def start_session(session: Session, user_id: int, *, now: dt.datetime | None = None) -> str:
    """Create a server-side session; returns the token for the cookie."""
    now = now or utcnow()
    token = new_token()
    session.add(
        AuthSession(
            token_hash=token_hash(token),
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + SESSION_ABSOLUTE,
        )
    )
    return token


@functools.cache
def _session_query():  # type: ignore[no-untyped-def]
    return (
        select(AuthSession, User)
        .join(User, User.id == AuthSession.user_id)
        .where(AuthSession.token_hash == bindparam("token_hash"))
    )


def _live_session(
    session: Session, token: str | None, now: dt.datetime
) -> tuple[AuthSession | None, User | None, bool]:
    """The session record, its user if the session is live, and whether it is due a
    write (its last-seen time to move on, or its lapse to be recorded)."""
    if not token:
        return None, None, False
    # One statement for the session and its user, built once: this runs before every page.
    row = session.execute(_session_query(), {"token_hash": token_hash(token)}).first()
    if row is None:
        return None, None, False
    record, user = row
    if record.ended_at is not None:
        return record, None, False
    if record.expires_at <= now or now - record.last_seen_at >= SESSION_IDLE:
        return record, None, True
    return record, user, now - record.last_seen_at >= SESSION_TOUCH_EVERY


def read_session(
    session: Session, token: str | None, *, now: dt.datetime | None = None
) -> tuple[User | None, bool]:
    """The signed-in user for a cookie token (None if absent, ended, idle or expired),
    writing nothing, and whether :func:`resolve_session` has something to write.

    Every page run starts here: in a read-only transaction it neither waits for nor
    holds SQLite's write lock, so only the run that is due a write (about once a
    minute per session) takes it."""
    _, user, due = _live_session(session, token, now or utcnow())
    return user, due


def resolve_session(
    session: Session, token: str | None, *, now: dt.datetime | None = None, touch: bool = True
) -> User | None:
    """The signed-in user for a cookie token, or None if absent, ended, idle or expired;
    records a lapse and moves the last-seen time on (at most once a minute).

    ``touch=False`` writes nothing (a periodic re-check that must neither keep an idle
    session alive nor take SQLite's write lock)."""
    now = now or utcnow()
    record, user, due = _live_session(session, token, now)
    if touch and due and record is not None:
        if user is None:
            record.ended_at = now
        else:
            record.last_seen_at = now
    return user


def end_session(session: Session, token: str | None, *, now: dt.datetime | None = None) -> None:
    if token:
        session.execute(
            update(AuthSession)
            .where(AuthSession.token_hash == token_hash(token), AuthSession.ended_at.is_(None))
            .values(ended_at=now or utcnow())
        )


def end_all_sessions(session: Session, user_id: int, *, now: dt.datetime | None = None) -> None:
    session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.ended_at.is_(None))
        .values(ended_at=now or utcnow())
    )


def issue_token(
    session: Session,
    user_id: int,
    purpose: str,
    lifetime: dt.timedelta,
    *,
    target: str = "",
    now: dt.datetime | None = None,
) -> str:
    now = now or utcnow()
    token = new_token()
    session.add(
        OneTimeToken(
            purpose=purpose,
            token_hash=token_hash(token),
            user_id=user_id,
            target=target,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return token


def redeem_token(
    session: Session, token: str, purpose: str, *, now: dt.datetime | None = None
) -> OneTimeToken | None:
    """Use a one-time token; None if unknown, of another purpose, used or expired."""
    now = now or utcnow()
    record = session.scalar(
        select(OneTimeToken).where(
            OneTimeToken.token_hash == token_hash(token), OneTimeToken.purpose == purpose
        )
    )
    if record is None or record.used_at is not None or record.expires_at <= now:
        return None
    record.used_at = now
    return record


def link_target(session: Session, token: str) -> str | None:
    """Where a sign-in link leads, even once it has expired or been used."""
    return session.scalar(
        select(OneTimeToken.target).where(
            OneTimeToken.token_hash == token_hash(token), OneTimeToken.purpose == "sign_in_link"
        )
    )


def issue_session_ticket(session: Session, user_id: int, *, now: dt.datetime | None = None) -> str:
    """A short-lived ticket the browser exchanges for the HttpOnly session cookie."""
    return issue_token(session, user_id, "session_ticket", SESSION_TICKET_LIFETIME, now=now)


def issue_sign_in_link(
    session: Session, user_id: int, target: str, *, now: dt.datetime | None = None
) -> str:
    """A single-use token for a mail link that signs the recipient in on ``target``."""
    return issue_token(
        session, user_id, "sign_in_link", SIGN_IN_LINK_LIFETIME, target=target, now=now
    )


def request_password_reset(session: Session, email: str, *, now: dt.datetime | None = None) -> None:
    """Send a reset link if the address has an account; the caller answers the same either way."""
    now = now or utcnow()
    user = user_by_email(session, email)
    if user is None:
        return
    token = issue_token(session, user.id, "password_reset", RESET_LINK_LIFETIME, now=now)
    bucket = now.strftime("%Y%m%d%H") + str(now.minute // 10)
    enqueue(
        session,
        kind="password_reset",
        to_address=user.email,
        recipient_user_id=user.id,
        dedupe_key=f"password-reset:{user.id}:{bucket}",
        context={"name": user.display_name},
        secret=token,
    )


def reset_password(
    session: Session, token: str, new_password: str, *, now: dt.datetime | None = None
) -> User:
    now = now or utcnow()
    record = session.scalar(
        select(OneTimeToken).where(
            OneTimeToken.token_hash == token_hash(token), OneTimeToken.purpose == "password_reset"
        )
    )
    if record is None or record.used_at is not None or record.expires_at <= now:
        raise NotAllowed("This reset link has expired or was already used. Ask for a new one.")
    user = get_user(session, record.user_id)
    problem = passwords.password_problem(new_password, email=user.email, name=user.display_name)
    if problem:
        raise InvalidInput({"password": problem})
    record.used_at = now
    _set_password(session, user, new_password, now)
    # Other reset links die with this one.
    session.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.user_id == user.id,
            OneTimeToken.purpose == "password_reset",
            OneTimeToken.used_at.is_(None),
        )
        .values(used_at=now)
    )
    return user


def change_password(
    session: Session,
    user_id: int,
    current: str,
    new_password: str,
    *,
    now: dt.datetime | None = None,
) -> None:
    now = now or utcnow()
    user = get_user(session, user_id)
    if not passwords.verify_password(user.password_hash, current):
        raise InvalidInput({"current": "Your current password is not right."})
    problem = passwords.password_problem(new_password, email=user.email, name=user.display_name)
    if problem:
        raise InvalidInput({"password": problem})
    _set_password(session, user, new_password, now)


def _set_password(session: Session, user: User, new_password: str, now: dt.datetime) -> None:
    user.password_hash = passwords.hash_password(new_password)
    user.password_changed_at = now
    end_all_sessions(session, user.id, now=now)
    forget_devices(session, user.id)


def update_profile(session: Session, user_id: int, *, display_name: str, timezone: str) -> User:
    user = get_user(session, user_id)
    name = clean_display_name(display_name)
    problems = {"display_name": display_name_problem(name), "timezone": timezone_problem(timezone)}
    problems = {k: v for k, v in problems.items() if v}
    if problems:
        raise InvalidInput(problems)
    user.display_name = name
    user.timezone = timezone
    return user


def user_exists(session: Session, user_id: int) -> bool:
    return session.get(User, user_id) is not None


def timezone_of(user_id: ColumnElement[int | None]) -> ColumnElement[str | None]:
    """A person's time zone as a scalar subquery, for the mail machinery's own queries."""
    return select(User.timezone).where(User.id == user_id).scalar_subquery()


def couple_space_ended(session: Session, user_id: int) -> bool:
    """Whether ``user_id`` had a couple space and has none in force now (they left, or
    their partner did and the space is read-only). Someone who never had one: False."""
    in_force = func.max(
        case((Membership.left_at.is_(None) & Couple.ended_at.is_(None), 1), else_=0)
    )
    seats, open_seats = session.execute(
        select(func.count(Membership.id), in_force)
        .join(Couple, Couple.id == Membership.couple_id)
        .where(Membership.user_id == user_id)
    ).one()
    return seats > 0 and not open_seats


# The mail machinery sits below accounts and asks through this port (docs/architecture.md).
accounts_port.install(
    accounts_port.Accounts(
        user_exists=user_exists,
        issue_sign_in_link=issue_sign_in_link,
        timezone_of=timezone_of,
        couple_space_ended=couple_space_ended,
    )
)
