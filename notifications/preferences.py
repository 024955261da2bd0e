"""Each person's notification preferences, the registry of prompt kinds they can turn
off, one-click unsubscribe tokens, and the helper planners use to write reminders."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfoNotFoundError

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from infra import bulk
from infra.composition import load_registrations
from infra.db import utcnow
from infra.errors import InvalidInput, NotFound
from infra.settings import Settings, get_settings
from notifications import accounts_port
from notifications.models import (
    PENDING,
    RETRYING,
    SKIPPED,
    MailOptOut,
    NotificationPreference,
    OutboxMessage,
)
from notifications.outbox import enqueue
from notifications.timing import DeliveryPrefs, delivery_time, late_delivery_time

# Prompt kinds a person can switch off, kind -> label shown on the Notifications page.
# Capabilities add theirs with register_prompt_kind() when their module is imported.
PROMPT_KINDS: dict[str, str] = {}
# The page lists them under these headings, in the order a couple meets them; within one,
# in the order they were registered. Kind -> its heading.
PROMPT_GROUPS = ("Check-ins", "Your talk", "Agreements and the charter", "Cooldowns", "Therapy")
PROMPT_GROUP: dict[str, str] = {}

# Mails a person gets only because they themselves just asked for them: never held
# back by preferences or opt-outs (a password reset must arrive).
ALWAYS_SENT = frozenset({"confirm_email", "password_reset", "test"})

DEFAULT_QUIET = (22, 7)


# Per prompt kind: whether a mail planned for later (quiet hours, a preferred hour) still
# applies when it is due, asked again at send time: a reason to skip it, or None.
StillDue = Callable[[Session, OutboxMessage, dt.datetime], str | None]
STILL_DUE: dict[str, StillDue] = {}


def register_prompt_kind(kind: str, label: str, *, group: str) -> None:
    """Make ``kind`` a prompt people can switch off (templates: rendering.KINDS rules),
    listed under ``group`` (one of :data:`PROMPT_GROUPS`) on the Notifications page."""
    if group not in PROMPT_GROUPS:
        raise ValueError(f"{kind}: unknown group {group!r}, not one of {PROMPT_GROUPS}")
    PROMPT_KINDS[kind] = label
    PROMPT_GROUP[kind] = group


def prompt_kinds_by_group() -> list[tuple[str, list[tuple[str, str]]]]:
    """(heading, [(kind, label), ...]) for every heading that has a prompt kind, in the
    order of :data:`PROMPT_GROUPS`; kinds in the order they were registered."""
    load_registrations()
    return [
        (group, kinds)
        for group in PROMPT_GROUPS
        if (kinds := [(k, v) for k, v in PROMPT_KINDS.items() if PROMPT_GROUP[k] == group])
    ]


def register_still_due(kind: str, check: StillDue) -> None:
    """Ask ``check`` when a ``kind`` mail is due whether it still applies (a nudge to
    answer a check-in answered since it was planned does not)."""
    STILL_DUE[kind] = check


def context_id(message: OutboxMessage, key: str) -> int | None:
    """The id a still-due check reads from a mail's context; None for a mail planned
    before its kind carried it (such a mail is sent as planned)."""
    value = message.context.get(key)
    return value if isinstance(value, int) else None


def preferences_for(session: Session, user_id: int) -> NotificationPreference:
    """The stored preferences, or the defaults (not added to the session)."""
    prefs = session.get(NotificationPreference, user_id)
    return prefs if prefs is not None else default_preferences(user_id)


def default_preferences(user_id: int) -> NotificationPreference:
    """What someone who never changed their preferences has (not added to a session)."""
    return NotificationPreference(
        user_id=user_id,
        paused_at=None,
        disabled_kinds=[],
        preferred_hour=None,
        quiet_start=DEFAULT_QUIET[0],
        quiet_end=DEFAULT_QUIET[1],
    )


class PreferencesLike(Protocol):
    """A :class:`NotificationPreference`, or a plain row of one (:class:`StoredPreferences`)."""

    @property
    def paused(self) -> bool: ...
    @property
    def disabled_kinds(self) -> list[str]: ...
    @property
    def preferred_hour(self) -> int | None: ...
    @property
    def quiet_start(self) -> int | None: ...
    @property
    def quiet_end(self) -> int | None: ...


@dataclass(frozen=True)
class StoredPreferences:
    """Someone's stored preferences as a plain row: what planning many reminders at once
    reads (loading an ORM object per recipient cost more than the query)."""

    paused_at: dt.datetime | None
    disabled_kinds: list[str]
    preferred_hour: int | None
    quiet_start: int | None
    quiet_end: int | None

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


def delivery_prefs(prefs: PreferencesLike) -> DeliveryPrefs:
    return DeliveryPrefs(prefs.preferred_hour, prefs.quiet_start, prefs.quiet_end)


def kind_enabled(prefs: PreferencesLike, kind: str) -> bool:
    if kind in ALWAYS_SENT:
        return True
    return not prefs.paused and kind not in (prefs.disabled_kinds or [])


def _hour_problem(value: int | None, *, optional: bool = True) -> str | None:
    if value is None:
        return None if optional else "Choose an hour."
    if not isinstance(value, int) or not 0 <= value <= 23:
        return "Choose an hour between 0 and 23."
    return None


def update_preferences(
    session: Session,
    user_id: int,
    *,
    paused: bool,
    enabled: dict[str, bool],
    preferred_hour: int | None,
    quiet_start: int | None,
    quiet_end: int | None,
    now: dt.datetime | None = None,
) -> NotificationPreference:
    """Save a person's choices. ``enabled`` maps prompt kinds to on/off; kinds it does
    not mention keep their current setting."""
    problems = {
        "preferred_hour": _hour_problem(preferred_hour),
        "quiet_start": _hour_problem(quiet_start),
        "quiet_end": _hour_problem(quiet_end),
    }
    if (quiet_start is None) != (quiet_end is None):
        problems["quiet_end"] = "Give both ends of your quiet hours, or neither."
    unknown = [kind for kind in enabled if kind not in PROMPT_KINDS]
    if unknown:
        problems["enabled"] = "Unknown kind of reminder: " + ", ".join(sorted(unknown))
    problems = {k: v for k, v in problems.items() if v}
    if problems:
        raise InvalidInput(problems)
    if not accounts_port.user_exists(session, user_id):
        raise NotFound("No such account.")
    prefs = session.get(NotificationPreference, user_id)
    if prefs is None:
        prefs = preferences_for(session, user_id)
        session.add(prefs)
    disabled = set(prefs.disabled_kinds or [])
    for kind, on in enabled.items():
        (disabled.discard if on else disabled.add)(kind)
    if not paused:
        prefs.paused_at = None
    elif prefs.paused_at is None:
        prefs.paused_at = now or utcnow()
    prefs.disabled_kinds = sorted(disabled)
    prefs.preferred_hour = preferred_hour
    prefs.quiet_start = quiet_start
    prefs.quiet_end = quiet_end
    prefs.updated_at = now or utcnow()
    return prefs


def plan_reminder(
    session: Session,
    user: Recipient,
    *,
    kind: str,
    dedupe_key: str,
    due_utc: dt.datetime,
    context: dict[str, Any],
    now: dt.datetime,
    sign_in_target: str | None = None,
) -> OutboxMessage | None:
    """Write one reminder for ``user`` into the outbox, if they want this kind.

    The send time honours their time zone, preferred hour and quiet hours; a reminder
    planned late goes out as soon as quiet hours allow. ``sign_in_target`` (a path such
    as "/checkin") makes the mail's link a single-use sign-in link to that page, issued
    when the mail is sent so its short lifetime starts then. Returns None when the kind
    is off, all reminders are paused, or the dedupe key was already used.
    Context: ids and names only, never anything a partner wrote.
    """
    prefs = preferences_for(session, user.id)
    send_after = late_delivery_time(due_utc, delivery_prefs(prefs), user.timezone, now=now)
    if not kind_enabled(prefs, kind):
        used = session.scalar(
            select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)
        )
        if not used:
            _note_unwritten(session, user.id, send_after)
        return None
    full_context = dict(context)
    if sign_in_target is not None:
        full_context["sign_in_target"] = sign_in_target
    return enqueue(
        session,
        kind=kind,
        to_address=user.email,
        dedupe_key=dedupe_key,
        recipient_user_id=user.id,
        context=full_context,
        send_after=send_after,
    )


def held_until(
    session: Session,
    user: Recipient,
    kind: str,
    due_utc: dt.datetime,
    *,
    now: dt.datetime,
    as_partner_sees: bool = False,
) -> dt.datetime | None:
    """When a ``kind`` prompt due at ``due_utc`` would reach ``user``, if their quiet
    hours or preferred hour make it wait; None when it would go when due, or not at all
    (the kind switched off, reminders paused). ``as_partner_sees``: the moment whether
    or not the mail goes, for telling someone else; a quiet pause must look the same
    to them as no pause (see :func:`unwritten_mail`)."""
    prefs = preferences_for(session, user.id)
    if not as_partner_sees and not kind_enabled(prefs, kind):
        return None
    moment = late_delivery_time(due_utc, delivery_prefs(prefs), user.timezone, now=now)
    return moment if moment > max(due_utc, now) else None


def after_quiet_hours(session: Session, user: Recipient, at: dt.datetime) -> dt.datetime:
    """``at``, or the end of ``user``'s quiet hours when ``at`` falls inside them: when a
    prompt their partner just caused (a proposal to answer, a flag) may reach them. Not
    their preferred hour, which is for reminders planned ahead: like a reminder planned
    late, it goes as soon as quiet hours allow. Whether it goes at all (pause, switched
    off) is checked when it is due (:func:`held_back_reason`)."""
    prefs = preferences_for(session, user.id)
    quiet = DeliveryPrefs(None, prefs.quiet_start, prefs.quiet_end)
    return delivery_time(at, quiet, user.timezone)


@dataclass(frozen=True)
class UnwrittenMail:
    """A reminder not written because its recipient paused reminders or switched the
    kind off: when it would have gone (an outbox row's two fields of the same names)."""

    recipient_user_id: int
    send_after: dt.datetime


_UNWRITTEN = "tend_unwritten_mail"


def unwritten_mail(session: Session) -> list[UnwrittenMail]:
    """The reminders this session did not write because of the recipient's choices. The
    one who acted is told about a held mail to their partner the same way whether it was
    written or not (``couples.service.held_mail_notes``): saying nothing only when the
    partner paused would give the pause away."""
    return list(session.info.get(_UNWRITTEN, ()))


def _note_unwritten(session: Session, user_id: int, send_after: dt.datetime) -> None:
    session.info.setdefault(_UNWRITTEN, []).append(UnwrittenMail(user_id, send_after))


class Recipient(Protocol):
    """Whom a reminder goes to: a :class:`User`, or a planner's plain row of one."""

    @property
    def id(self) -> int: ...
    @property
    def email(self) -> str: ...
    @property
    def timezone(self) -> str: ...


@dataclass(frozen=True)
class Reminder:
    """One reminder for :func:`plan_reminders` (the arguments of :func:`plan_reminder`)."""

    user: Recipient
    kind: str
    dedupe_key: str
    due_utc: dt.datetime
    context: dict[str, Any]
    sign_in_target: str | None = None


def plan_reminders(session: Session, reminders: list[Reminder], *, now: dt.datetime) -> int:
    """:func:`plan_reminder` for many at once: preferences and used dedupe keys read in
    one query each, rows added without a savepoint each; returns how many were written.

    Only for keys no other transaction can be writing at the same time (e.g. keys of a
    row this transaction just inserted, such as a new check-in round): a concurrent
    duplicate would fail the caller's flush instead of being skipped."""
    if not reminders:
        return 0
    np = NotificationPreference
    stored: dict[int, PreferencesLike] = {
        user_id: StoredPreferences(*columns)
        for user_id, *columns in session.execute(
            select(
                np.user_id,
                np.paused_at,
                np.disabled_kinds,
                np.preferred_hour,
                np.quiet_start,
                np.quiet_end,
            ).where(bulk.among(session, np.user_id, {r.user.id for r in reminders}))
        )
    }
    used = set(
        session.scalars(
            select(OutboxMessage.dedupe_key).where(
                bulk.among(session, OutboxMessage.dedupe_key, [r.dedupe_key for r in reminders])
            )
        )
    )
    defaults: PreferencesLike = default_preferences(0)  # the same for all without a row
    default_delivery = delivery_prefs(defaults)
    # When a mail goes depends only on when it is due, the delivery preferences and the
    # zone: many recipients share all three (a pass's mails are due now; most people
    # keep the defaults), so each distinct case is worked out once per call.
    moments: dict[tuple[dt.datetime, DeliveryPrefs, str], dt.datetime] = {}
    rows = []
    for r in reminders:
        prefs = stored.get(r.user.id, defaults)
        if r.dedupe_key in used or not kind_enabled(prefs, r.kind):
            continue
        used.add(r.dedupe_key)
        context = dict(r.context)
        if r.sign_in_target is not None:
            context["sign_in_target"] = r.sign_in_target
        case = (
            r.due_utc,
            default_delivery if prefs is defaults else delivery_prefs(prefs),
            r.user.timezone,
        )
        send_after = moments.get(case)
        if send_after is None:
            send_after = moments[case] = late_delivery_time(*case, now=now)
        rows.append(
            {
                "kind": r.kind,
                "to_address": r.user.email,
                "dedupe_key": r.dedupe_key,
                "recipient_user_id": r.user.id,
                "context": context,
                "secret": None,
                "send_after": send_after,
            }
        )
    # One statement over the table (infra.bulk), not the ORM's bulk insert: the column
    # defaults apply all the same, without the ORM's per-row bookkeeping. (The queries
    # above flushed.)
    bulk.insert_rows(session, OutboxMessage.__table__, rows)
    return len(rows)


COUPLE_SPACE_ENDED = "recipient's couple space has ended"


def held_back_reason(session: Session, message: OutboxMessage, now: dt.datetime) -> str | None:
    """Why a due row must not go out now (checked again at send time, because the
    recipient may have changed their mind since it was planned, or what it is about may
    have: their couple space ended, a :data:`STILL_DUE` check says it no longer
    applies); None = send it."""
    load_registrations()  # the prompt kinds and their checks, in whichever process sends
    if message.kind in ALWAYS_SENT:
        return None
    opted_out = session.scalar(
        select(MailOptOut.id).where(
            MailOptOut.address == message.to_address.lower(), MailOptOut.kind == message.kind
        )
    )
    if opted_out:
        return "recipient unsubscribed from this kind of mail"
    if message.recipient_user_id is None or message.kind not in PROMPT_KINDS:
        return None
    prefs = preferences_for(session, message.recipient_user_id)
    if prefs.paused:
        return "recipient paused all reminders"
    if message.kind in (prefs.disabled_kinds or []):
        return "recipient turned this reminder off"
    # Every prompt is about a couple space: once one of them left it, it says no more.
    if accounts_port.couple_space_ended(session, message.recipient_user_id):
        return COUPLE_SPACE_ENDED
    still_due = STILL_DUE.get(message.kind)
    return still_due(session, message, now) if still_due is not None else None


def drop_pending_prompts(session: Session, user_ids: list[int]) -> int:
    """When a couple space ends: every prompt still waiting for its moment (held for the
    morning, due for a retry) to either partner is skipped now, whatever its kind. They
    can only be about that space, and one of them may start another space before the
    prompt is due, when the check at send time could no longer tell. Returns how many."""
    load_registrations()
    if not user_ids or not PROMPT_KINDS:
        return 0
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.recipient_user_id.in_(user_ids),
            OutboxMessage.status.in_((PENDING, RETRYING)),
            OutboxMessage.kind.in_(sorted(PROMPT_KINDS)),
        )
        .values(status=SKIPPED, last_error=COUPLE_SPACE_ENDED)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def retry_time(session: Session, row_id: int, backoff_moment: dt.datetime) -> dt.datetime:
    """When a failed outbox row may be tried again: ``backoff_moment``, or, for a
    reminder (a prompt kind with a recipient), the end of the recipient's quiet hours
    when the backoff would land inside them. Not their preferred hour: a retry goes as
    soon as quiet hours allow, like a reminder planned late (``late_delivery_time``).
    Every other mail (a reset, a sign-in or confirmation link, an invitation) keeps the
    plain backoff: someone is waiting for it now.

    One query: the row's kind and recipient, their stored quiet hours (the defaults
    without a stored row) and their time zone (through ``accounts_port``)."""
    kinds = sorted(PROMPT_KINDS)
    if not kinds:
        return backoff_moment
    np = NotificationPreference
    found = session.execute(
        select(
            np.user_id,
            np.quiet_start,
            np.quiet_end,
            accounts_port.timezone_of(OutboxMessage.recipient_user_id),
        )
        .select_from(OutboxMessage)
        .outerjoin(np, np.user_id == OutboxMessage.recipient_user_id)
        .where(
            OutboxMessage.id == row_id,
            OutboxMessage.kind.in_(kinds),
            OutboxMessage.recipient_user_id.is_not(None),
        )
    ).first()
    if found is None:
        return backoff_moment
    stored, quiet_start, quiet_end, tz = found
    if stored is None:
        quiet_start, quiet_end = DEFAULT_QUIET
    if tz is None:
        return backoff_moment
    try:
        return delivery_time(backoff_moment, DeliveryPrefs(None, quiet_start, quiet_end), tz)
    except (ZoneInfoNotFoundError, ValueError):
        # A zone this machine does not know: the retry must still be recorded.
        return backoff_moment


# --- one-click unsubscribe -----------------------------------------------------------

_SALT = "tend-unsubscribe-v1"


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.resolved_secret_key(), salt=_SALT)


def unsubscribe_token(
    address: str, kind: str, user_id: int | None, settings: Settings | None = None
) -> str:
    """A signed, non-expiring token: unsubscribe links must work for old mails too."""
    return _serializer(settings or get_settings()).dumps(
        {"a": address.lower(), "k": kind, "u": user_id}
    )


def read_unsubscribe_token(token: str, settings: Settings | None = None) -> dict[str, Any] | None:
    try:
        data = _serializer(settings or get_settings()).loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not {"a", "k", "u"} <= data.keys():
        return None
    return data


def kind_label(kind: str) -> str:
    return PROMPT_KINDS.get(kind, kind.replace("_", " "))


def unsubscribe(session: Session, token: str, *, now: dt.datetime | None = None) -> str | None:
    """Turn off the kind of mail a token names; returns that kind's label, or None for
    a token that is not genuine. Doing it twice is harmless."""
    data = read_unsubscribe_token(token)
    if data is None:
        return None
    kind, user_id, address = str(data["k"]), data["u"], str(data["a"])
    known = isinstance(user_id, int) and accounts_port.user_exists(session, user_id)
    if known and kind in PROMPT_KINDS:
        prefs = preferences_for(session, user_id)
        if prefs not in session:
            session.add(prefs)
        prefs.disabled_kinds = sorted({*(prefs.disabled_kinds or []), kind})
        prefs.updated_at = now or utcnow()
    else:
        try:
            with session.begin_nested():
                session.add(MailOptOut(address=address, kind=kind, created_at=now or utcnow()))
        except IntegrityError:
            pass  # already opted out
    return kind_label(kind)
