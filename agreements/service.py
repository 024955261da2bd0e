"""Agreements both partners consent to: proposing, answering, changing, retiring,
flagging; the cooldown tool; the therapy plan. All rules live here.

User-facing functions take the acting ``user_id`` and resolve the couple from it; an
agreement id of another couple is ``NotFound``, exactly like one that does not exist.
Functions that take a ``couple_id`` are for internal callers (the scheduler, the
check-ins service) that already resolved the couple.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from sqlalchemy import and_, bindparam, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agreements import templates
from agreements.models import (
    ACTIVE,
    DECLINED,
    PROPOSED,
    RETIRED,
    V_COUNTERED,
    V_DECLINED,
    V_ENDED,
    V_IN_FORCE,
    V_PENDING,
    V_SUPERSEDED,
    V_WITHDRAWN,
    WITHDRAWN,
    Agreement,
    AgreementEvent,
    AgreementPreferences,
    AgreementVersion,
    Cooldown,
    CooldownNote,
    TherapyAppointment,
    TherapyRating,
    TherapySession,
)
from couples import service as couples
from couples.models import Couple, Membership, User
from infra.db import utcnow
from infra.errors import InvalidInput, NotAllowed, NotFound
from notifications.outbox import enqueue
from notifications.preferences import plan_reminder
from privacy.erase import register_eraser
from privacy.export import register_exporter

MAX_TITLE = 200
MAX_BODY = 4000
MAX_NOTE = 2000
DEFAULT_COOLDOWN_MINUTES = 5
# PostgreSQL cannot store NUL in text: refused with a message, never a crash.
NUL_PROBLEM = "This contains a character that cannot be saved (a NUL character). Remove it."


# --- views handed to pages and other packages ------------------------------------------


@dataclass(frozen=True)
class AgreementInForce:
    agreement_id: int
    version_id: int
    kind: str  # template key: "regular_checkin", "cooldown", "therapy", ... or "custom"
    title: str
    body: str  # what we each commit to
    params: dict[str, Any]
    flagged_for_review: bool


@dataclass(frozen=True)
class CheckinSchedule:
    version_id: int
    cadence: str  # "weekly" | "biweekly" | "monthly"
    weekday: int  # 0=Monday..6 (weekly/biweekly)
    day_of_month: int  # 1..28 (monthly)
    local_time: dt.time
    timezone: str  # IANA zone the couple chose for the conversation
    active_since: dt.datetime


@dataclass(frozen=True)
class VersionView:
    version_id: int
    number: int
    title: str
    body: str
    params: dict[str, Any]
    state: str
    proposed_by: str
    proposed_by_me: bool
    proposed_at: dt.datetime
    in_force_from: dt.datetime | None
    in_force_until: dt.datetime | None
    decline_reason: str | None


@dataclass(frozen=True)
class AgreementView:
    agreement_id: int
    kind: str
    status: str
    in_force: VersionView | None
    pending: VersionView | None
    latest: VersionView
    # Something waits for my yes or no: a proposal or change by my partner, or their
    # request to retire.
    awaiting_me: bool
    awaiting_partner: bool
    retire_requested_by: str | None
    retire_requested_by_me: bool
    flagged_for_review: bool
    flagged_by: str | None

    @property
    def title(self) -> str:
        return (self.in_force or self.latest).title


@dataclass(frozen=True)
class HistoryEntry:
    at: dt.datetime
    actor: str
    action: str
    version_number: int | None
    note: str | None


# --- internal helpers ------------------------------------------------------------------


def _names(session: Session, couple: Couple, viewer_id: int) -> dict[int, str]:
    """user id -> the name ``viewer_id`` may see: a partner who left (or deleted their
    account) is "Former partner", whatever they call themselves now."""
    return {m.user_id: couples.member_name(m, viewer_id) for m in couple.members}


def _own_agreement(session: Session, couple: Couple, agreement_id: int) -> Agreement:
    agreement = session.get(Agreement, agreement_id)
    if agreement is None or agreement.couple_id != couple.id:
        raise NotFound("No such agreement.")
    return agreement


def _pending(agreement: Agreement) -> AgreementVersion | None:
    return next((v for v in agreement.versions if v.state == V_PENDING), None)


def _in_force(agreement: Agreement) -> AgreementVersion | None:
    return next((v for v in agreement.versions if v.state == V_IN_FORCE), None)


def _log(
    session: Session,
    agreement: Agreement,
    actor_id: int,
    action: str,
    now: dt.datetime,
    *,
    version: AgreementVersion | None = None,
    note: str | None = None,
) -> None:
    session.add(
        AgreementEvent(
            agreement_id=agreement.id,
            version_id=version.id if version else None,
            actor_id=actor_id,
            action=action,
            at=now,
            note=note or None,
        )
    )


def _require_partner(session: Session, user_id: int) -> User:
    partner = couples.partner_of(session, user_id)
    if partner is None:
        raise NotAllowed("Invite your partner first: an agreement needs both of you.")
    return partner


def _clean_words(
    kind: str, title: str, body: str, params: dict[str, Any] | None
) -> tuple[str, str, dict[str, Any]]:
    title = (title or "").strip()
    body = (body or "").strip()
    problems: dict[str, str] = {}
    if kind != templates.CUSTOM and kind not in templates.TEMPLATES:
        problems["kind"] = "Choose one of the templates, or write your own."
    if "\x00" in title:
        problems["title"] = NUL_PROBLEM
    elif not title:
        problems["title"] = "Give the agreement a short title."
    elif len(title) > MAX_TITLE:
        problems["title"] = f"Keep the title to {MAX_TITLE} characters."
    if "\x00" in body:
        problems["body"] = NUL_PROBLEM
    elif not body:
        problems["body"] = "Say what you each commit to."
    elif len(body) > MAX_BODY:
        problems["body"] = f"Keep it to {MAX_BODY} characters."
    clean_params, param_problems = templates.param_problems(kind, params or {})
    problems.update(param_problems)
    if problems:
        raise InvalidInput(problems)
    return title, body, clean_params


def _clean_note(note: str | None, label: str = "note") -> str | None:
    note = (note or "").strip()
    if "\x00" in note:
        raise InvalidInput({label: NUL_PROBLEM})
    if len(note) > MAX_NOTE:
        raise InvalidInput({label: f"Keep it to {MAX_NOTE} characters."})
    return note or None


def _notify_answer_needed(
    session: Session, agreement: Agreement, actor: User, partner: User, key: str, what: str
) -> None:
    # Names and ids only: the words of the agreement never travel by mail.
    enqueue(
        session,
        kind="agreement_proposed",
        to_address=partner.email,
        recipient_user_id=partner.id,
        dedupe_key=f"agreement_proposed:{agreement.id}:{key}",
        context={"name": partner.display_name, "partner": actor.display_name, "what": what},
    )


def _new_version(
    session: Session,
    agreement: Agreement,
    user_id: int,
    title: str,
    body: str,
    params: dict[str, Any],
    now: dt.datetime,
) -> AgreementVersion:
    number = max((v.number for v in agreement.versions), default=0) + 1
    version = AgreementVersion(
        agreement_id=agreement.id,
        number=number,
        title=title,
        body=body,
        params=params,
        state=V_PENDING,
        proposed_by_id=user_id,
        proposed_at=now,
    )
    try:
        # The one-pending-version index settles two answers racing each other.
        with session.begin_nested():
            session.add(version)
    except IntegrityError:
        raise NotAllowed(
            "Your partner just answered this agreement. Reload to see the latest."
        ) from None
    session.refresh(agreement)
    return version


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("No such person.")
    return user


# --- lifecycle ---------------------------------------------------------------------------


def propose_agreement(
    session: Session,
    user_id: int,
    *,
    kind: str,
    title: str,
    body: str,
    params: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> Agreement:
    """A new agreement, proposed until the partner accepts, declines or answers with changes."""
    now = now or utcnow()
    couple = couples.require_active_couple(session, user_id)
    partner = _require_partner(session, user_id)
    title, body, params = _clean_words(kind, title, body, params)
    agreement = Agreement(
        couple_id=couple.id, kind=kind, status=PROPOSED, created_by_id=user_id, created_at=now
    )
    session.add(agreement)
    session.flush()
    version = _new_version(session, agreement, user_id, title, body, params, now)
    _log(session, agreement, user_id, "proposed", now, version=version)
    _notify_answer_needed(
        session, agreement, _user(session, user_id), partner, f"v{version.id}", "new"
    )
    return agreement


def _answerable(
    session: Session, user_id: int, agreement_id: int
) -> tuple[Couple, Agreement, AgreementVersion]:
    couple = couples.require_active_couple(session, user_id)
    agreement = _own_agreement(session, couple, agreement_id)
    _refuse_if_closed(agreement)
    pending = _pending(agreement)
    if pending is None:
        raise NotAllowed("There is nothing waiting for an answer on this agreement.")
    if pending.proposed_by_id == user_id:
        raise NotAllowed(
            "You proposed this yourself; it needs your partner's answer. You can still "
            "change or withdraw it."
        )
    return couple, agreement, pending


def _refuse_if_closed(agreement: Agreement) -> None:
    if agreement.status == RETIRED:
        raise NotAllowed(
            "This agreement was retired. Propose a new one if you want it back; its history "
            "stays as it was."
        )
    if agreement.status in (DECLINED, WITHDRAWN):
        raise NotAllowed(
            "This proposal is closed. Propose a new agreement if you want to try again."
        )


def accept(
    session: Session, user_id: int, agreement_id: int, *, now: dt.datetime | None = None
) -> Agreement:
    """Say yes to the version waiting for my answer; it comes into force now."""
    now = now or utcnow()
    _, agreement, pending = _answerable(session, user_id, agreement_id)
    current = _in_force(agreement)
    if current is not None:
        current.state = V_SUPERSEDED
        current.in_force_until = now
    pending.state = V_IN_FORCE
    pending.accepted_by_id = user_id
    pending.answered_by_id = user_id
    pending.answered_at = now
    pending.in_force_from = now
    agreement.status = ACTIVE
    _log(session, agreement, user_id, "accepted", now, version=pending)
    session.flush()
    return agreement


def decline(
    session: Session,
    user_id: int,
    agreement_id: int,
    *,
    reason: str | None = None,
    now: dt.datetime | None = None,
) -> Agreement:
    """Say no. A declined change leaves the version in force as it was."""
    now = now or utcnow()
    reason = _clean_note(reason, "reason")
    _, agreement, pending = _answerable(session, user_id, agreement_id)
    pending.state = V_DECLINED
    pending.answered_by_id = user_id
    pending.answered_at = now
    pending.decline_reason = reason
    if _in_force(agreement) is None:
        agreement.status = DECLINED
    _log(session, agreement, user_id, "declined", now, version=pending, note=reason)
    session.flush()
    return agreement


def propose_change(
    session: Session,
    user_id: int,
    agreement_id: int,
    *,
    title: str,
    body: str,
    params: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> AgreementVersion:
    """New words for an agreement, needing the other partner's yes.

    - On an active agreement: a change; the version in force stays until it is accepted.
    - Answering my partner's pending version: a counter-proposal.
    - Revising my own pending version: it is withdrawn and replaced.
    """
    now = now or utcnow()
    couple = couples.require_active_couple(session, user_id)
    agreement = _own_agreement(session, couple, agreement_id)
    _refuse_if_closed(agreement)
    partner = _require_partner(session, user_id)
    title, body, params = _clean_words(agreement.kind, title, body, params)
    pending = _pending(agreement)
    action = "change_proposed"
    if pending is not None:
        if pending.proposed_by_id == user_id:
            pending.state = V_WITHDRAWN
            action = "revised"
        else:
            pending.state = V_COUNTERED
            pending.answered_by_id = user_id
            pending.answered_at = now
            action = "countered"
        session.flush()
    basis = pending or _in_force(agreement)
    if basis is not None and (basis.title, basis.body, basis.params) == (title, body, params):
        raise InvalidInput({"body": "These are the same words as before. Change something first."})
    version = _new_version(session, agreement, user_id, title, body, params, now)
    _log(session, agreement, user_id, action, now, version=version)
    what = {"change_proposed": "change", "countered": "counter", "revised": "change"}[action]
    _notify_answer_needed(
        session, agreement, _user(session, user_id), partner, f"v{version.id}", what
    )
    return version


def counter_propose(
    session: Session,
    user_id: int,
    agreement_id: int,
    *,
    title: str,
    body: str,
    params: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> AgreementVersion:
    """Answer my partner's proposal with changes (which they then accept or change again)."""
    _answerable(session, user_id, agreement_id)
    return propose_change(
        session, user_id, agreement_id, title=title, body=body, params=params, now=now
    )


def withdraw(
    session: Session, user_id: int, agreement_id: int, *, now: dt.datetime | None = None
) -> Agreement:
    """Take back my own proposal or change before my partner answered."""
    now = now or utcnow()
    couple = couples.require_active_couple(session, user_id)
    agreement = _own_agreement(session, couple, agreement_id)
    _refuse_if_closed(agreement)
    pending = _pending(agreement)
    if pending is None or pending.proposed_by_id != user_id:
        raise NotAllowed("There is no proposal of yours waiting on this agreement.")
    pending.state = V_WITHDRAWN
    if _in_force(agreement) is None:
        agreement.status = WITHDRAWN
    _log(session, agreement, user_id, "withdrawn", now, version=pending)
    session.flush()
    return agreement


def request_retirement(
    session: Session,
    user_id: int,
    agreement_id: int,
    *,
    reason: str | None = None,
    now: dt.datetime | None = None,
) -> Agreement:
    """Ask to retire an active agreement; it stays in force until my partner agrees."""
    now = now or utcnow()
    reason = _clean_note(reason, "reason")
    couple = couples.require_active_couple(session, user_id)
    agreement = _own_agreement(session, couple, agreement_id)
    _refuse_if_closed(agreement)
    if agreement.status != ACTIVE:
        raise NotAllowed("Only an agreement in force can be retired. Withdraw or decline instead.")
    if agreement.retire_requested_by_id is not None:
        raise NotAllowed("Retiring this agreement is already waiting for an answer.")
    partner = _require_partner(session, user_id)
    agreement.retire_requested_by_id = user_id
    agreement.retire_requested_at = now
    _log(session, agreement, user_id, "retire_requested", now, note=reason)
    _notify_answer_needed(
        session, agreement, _user(session, user_id), partner, f"retire:{now:%Y%m%d%H%M%S}", "retire"
    )
    session.flush()
    return agreement


def answer_retirement(
    session: Session,
    user_id: int,
    agreement_id: int,
    *,
    agree: bool,
    now: dt.datetime | None = None,
) -> Agreement:
    """My partner asked to retire the agreement: agree (it ends now) or keep it."""
    now = now or utcnow()
    couple = couples.require_active_couple(session, user_id)
    agreement = _own_agreement(session, couple, agreement_id)
    _refuse_if_closed(agreement)
    if agreement.retire_requested_by_id is None:
        raise NotAllowed("Nobody asked to retire this agreement.")
    if agreement.retire_requested_by_id == user_id:
        raise NotAllowed("You asked for this yourself; it needs your partner's answer.")
    if agree:
        current = _in_force(agreement)
        if current is not None:
            current.state = V_ENDED
            current.in_force_until = now
        pending = _pending(agreement)
        if pending is not None:
            pending.state = V_WITHDRAWN
        agreement.status = RETIRED
        agreement.retired_at = now
        agreement.flagged_for_review = False
        _log(session, agreement, user_id, "retired", now)
    else:
        agreement.retire_requested_by_id = None
        agreement.retire_requested_at = None
        _log(session, agreement, user_id, "retire_declined", now)
    session.flush()
    return agreement


def withdraw_retirement(
    session: Session, user_id: int, agreement_id: int, *, now: dt.datetime | None = None
) -> Agreement:
    now = now or utcnow()
    couple = couples.require_active_couple(session, user_id)
    agreement = _own_agreement(session, couple, agreement_id)
    _refuse_if_closed(agreement)
    if agreement.retire_requested_by_id != user_id:
        raise NotAllowed("There is no request of yours to retire this agreement.")
    agreement.retire_requested_by_id = None
    agreement.retire_requested_at = None
    _log(session, agreement, user_id, "retire_withdrawn", now)
    session.flush()
    return agreement


def flag_for_review(
    session: Session,
    user_id: int,
    agreement_id: int,
    *,
    note: str | None = None,
    now: dt.datetime | None = None,
) -> Agreement:
    """Bring an active agreement up at the next check-in."""
    now = now or utcnow()
    note = _clean_note(note)
    couple = couples.require_active_couple(session, user_id)
    agreement = _own_agreement(session, couple, agreement_id)
    _refuse_if_closed(agreement)
    if agreement.status != ACTIVE:
        raise NotAllowed("Only an agreement in force can be flagged for review.")
    if agreement.flagged_for_review:
        raise NotAllowed("This agreement is already flagged for your next check-in.")
    agreement.flagged_for_review = True
    agreement.flagged_by_id = user_id
    agreement.flagged_at = now
    _log(session, agreement, user_id, "flagged", now, note=note)
    partner = couples.partner_of(session, user_id)
    if partner is not None:
        enqueue(
            session,
            kind="agreement_flagged",
            to_address=partner.email,
            recipient_user_id=partner.id,
            dedupe_key=f"agreement_flagged:{agreement.id}:{now:%Y%m%d%H%M%S}",
            context={"name": partner.display_name, "partner": _user(session, user_id).display_name},
        )
    session.flush()
    return agreement


def clear_review_flag(
    session: Session, user_id: int, agreement_id: int, *, now: dt.datetime | None = None
) -> Agreement:
    """Either partner clears the flag, e.g. once it was talked over at a check-in."""
    now = now or utcnow()
    couple = couples.require_active_couple(session, user_id)
    agreement = _own_agreement(session, couple, agreement_id)
    if not agreement.flagged_for_review:
        raise NotAllowed("This agreement is not flagged.")
    agreement.flagged_for_review = False
    agreement.flagged_by_id = None
    agreement.flagged_at = None
    _log(session, agreement, user_id, "unflagged", now)
    session.flush()
    return agreement


# --- reading -------------------------------------------------------------------------


def _version_view(version: AgreementVersion, names: dict[int, str], me: int) -> VersionView:
    return VersionView(
        version_id=version.id,
        number=version.number,
        title=version.title,
        body=version.body,
        params=dict(version.params or {}),
        state=version.state,
        proposed_by=names.get(version.proposed_by_id, "A former partner"),
        proposed_by_me=version.proposed_by_id == me,
        proposed_at=version.proposed_at,
        in_force_from=version.in_force_from,
        in_force_until=version.in_force_until,
        decline_reason=version.decline_reason,
    )


def _agreement_view(agreement: Agreement, names: dict[int, str], me: int) -> AgreementView:
    pending = _pending(agreement)
    current = _in_force(agreement)
    open_ = agreement.status in (PROPOSED, ACTIVE)
    retire_by = agreement.retire_requested_by_id if open_ else None
    return AgreementView(
        agreement_id=agreement.id,
        kind=agreement.kind,
        status=agreement.status,
        in_force=_version_view(current, names, me) if current else None,
        pending=_version_view(pending, names, me) if pending else None,
        latest=_version_view(agreement.versions[-1], names, me),
        awaiting_me=open_
        and (
            (pending is not None and pending.proposed_by_id != me)
            or (retire_by is not None and retire_by != me)
        ),
        awaiting_partner=open_
        and ((pending is not None and pending.proposed_by_id == me) or retire_by == me),
        retire_requested_by=names.get(retire_by) if retire_by else None,
        retire_requested_by_me=retire_by == me,
        flagged_for_review=agreement.flagged_for_review,
        flagged_by=names.get(agreement.flagged_by_id) if agreement.flagged_by_id else None,
    )


def list_agreements(session: Session, user_id: int) -> list[AgreementView]:
    """Every agreement of my couple, newest first."""
    couple = couples.require_membership(session, user_id).couple
    names = _names(session, couple, user_id)
    rows = session.scalars(
        select(Agreement)
        .where(Agreement.couple_id == couple.id)
        .order_by(Agreement.created_at.desc(), Agreement.id.desc())
    )
    return [_agreement_view(a, names, user_id) for a in rows]


def get_agreement(session: Session, user_id: int, agreement_id: int) -> AgreementView:
    couple = couples.require_membership(session, user_id).couple
    agreement = _own_agreement(session, couple, agreement_id)
    return _agreement_view(agreement, _names(session, couple, user_id), user_id)


def awaiting_my_answer_count(session: Session, user_id: int) -> int:
    """For a badge on the home page and in the menu: how many agreements wait for me."""
    if couples.membership_of(session, user_id) is None:
        return 0
    return sum(1 for view in list_agreements(session, user_id) if view.awaiting_me)


def versions(session: Session, user_id: int, agreement_id: int) -> list[VersionView]:
    couple = couples.require_membership(session, user_id).couple
    agreement = _own_agreement(session, couple, agreement_id)
    names = _names(session, couple, user_id)
    return [_version_view(v, names, user_id) for v in agreement.versions]


def history(session: Session, user_id: int, agreement_id: int) -> list[HistoryEntry]:
    """Every decision on the agreement, oldest first."""
    couple = couples.require_membership(session, user_id).couple
    agreement = _own_agreement(session, couple, agreement_id)
    names = _names(session, couple, user_id)
    numbers = {v.id: v.number for v in agreement.versions}
    events = session.scalars(
        select(AgreementEvent)
        .where(AgreementEvent.agreement_id == agreement.id)
        .order_by(AgreementEvent.at, AgreementEvent.id)
    )
    return [
        HistoryEntry(
            at=e.at,
            actor=names.get(e.actor_id, "A former partner"),
            action=e.action,
            version_number=numbers.get(e.version_id) if e.version_id else None,
            note=e.note,
        )
        for e in events
    ]


def _as_lines(kind: str, version: VersionView | AgreementVersion) -> list[str]:
    return [
        f"Title: {version.title}",
        *version.body.splitlines(),
        *templates.describe_params(kind, dict(version.params or {})),
    ]


def diff_versions(
    session: Session, user_id: int, agreement_id: int, old_number: int, new_number: int
) -> list[str]:
    """What changed between two versions, as unified-diff lines ('-' old, '+' new)."""
    couple = couples.require_membership(session, user_id).couple
    agreement = _own_agreement(session, couple, agreement_id)
    by_number = {v.number: v for v in agreement.versions}
    if old_number not in by_number or new_number not in by_number:
        raise NotFound("No such version.")
    old, new = by_number[old_number], by_number[new_number]
    lines = difflib.unified_diff(
        _as_lines(agreement.kind, old),
        _as_lines(agreement.kind, new),
        fromfile=f"version {old_number}",
        tofile=f"version {new_number}",
        lineterm="",
        n=1,
    )
    return [line for line in lines if not line.startswith(("---", "+++"))]


# --- for the check-ins service and the scheduler (couple already resolved) -------------


def agreements_in_force(
    session: Session, couple_id: int, at: dt.datetime
) -> list[AgreementInForce]:
    """The versions both partners had consented to at ``at`` (not yet replaced or retired)."""
    rows = session.execute(
        select(AgreementVersion, Agreement)
        .join(Agreement, Agreement.id == AgreementVersion.agreement_id)
        .where(
            Agreement.couple_id == couple_id,
            AgreementVersion.in_force_from.is_not(None),
            AgreementVersion.in_force_from <= at,
            or_(AgreementVersion.in_force_until.is_(None), AgreementVersion.in_force_until > at),
        )
        .order_by(Agreement.created_at, Agreement.id)
    )
    return [
        AgreementInForce(
            agreement_id=agreement.id,
            version_id=version.id,
            kind=agreement.kind,
            title=version.title,
            body=version.body,
            params=dict(version.params or {}),
            flagged_for_review=agreement.flagged_for_review,
        )
        for version, agreement in rows
    ]


def agreement_version(session: Session, couple_id: int, version_id: int) -> AgreementInForce:
    """One version by id, in force or not (old check-in rounds point at old words)."""
    row = session.execute(
        select(AgreementVersion, Agreement)
        .join(Agreement, Agreement.id == AgreementVersion.agreement_id)
        .where(AgreementVersion.id == version_id, Agreement.couple_id == couple_id)
    ).first()
    if row is None:
        raise NotFound("No such agreement version.")
    version, agreement = row
    return AgreementInForce(
        agreement_id=agreement.id,
        version_id=version.id,
        kind=agreement.kind,
        title=version.title,
        body=version.body,
        params=dict(version.params or {}),
        flagged_for_review=agreement.flagged_for_review,
    )


def checkin_schedule(session: Session, couple_id: int, at: dt.datetime) -> CheckinSchedule | None:
    """When the couple's check-ins are due, from their regular check-in agreement."""
    candidates = [
        a for a in agreements_in_force(session, couple_id, at) if a.kind == "regular_checkin"
    ]
    if not candidates:
        return None
    # Should a couple hold two, the most recently accepted one is what they agreed last.
    versions_by_id = {
        v.id: v
        for v in session.scalars(
            select(AgreementVersion).where(
                AgreementVersion.id.in_([c.version_id for c in candidates])
            )
        )
    }
    chosen = max(
        candidates, key=lambda c: (versions_by_id[c.version_id].in_force_from, c.version_id)
    )
    in_force_from = versions_by_id[chosen.version_id].in_force_from
    assert in_force_from is not None
    return _schedule(chosen, in_force_from)


def _schedule(chosen: AgreementInForce, in_force_from: dt.datetime) -> CheckinSchedule:
    params = chosen.params
    hours, minutes = (int(x) for x in str(params.get("local_time", "19:00")).split(":"))
    return CheckinSchedule(
        version_id=chosen.version_id,
        cadence=str(params.get("cadence", "monthly")),
        weekday=int(params.get("weekday", 6)),
        day_of_month=int(params.get("day_of_month", 1)),
        local_time=dt.time(hours, minutes),
        timezone=str(params.get("timezone", "UTC")),
        active_since=in_force_from,
    )


def agreements_in_force_by_couple(
    session: Session, couple_ids: list[int], at: dt.datetime
) -> dict[int, list[tuple[AgreementInForce, dt.datetime]]]:
    """:func:`agreements_in_force` for many couples in one query (the planning sweep's
    batch), each with the moment its version came into force (to pick the schedule)."""
    # Plain columns, not entities: the sweep needs values, and loading a thousand pairs
    # of ORM objects costs more than the query.
    rows = session.execute(
        select(
            Agreement.couple_id,
            Agreement.id,
            AgreementVersion.id,
            Agreement.kind,
            AgreementVersion.title,
            AgreementVersion.body,
            AgreementVersion.params,
            Agreement.flagged_for_review,
            AgreementVersion.in_force_from,
        )
        .join(Agreement, Agreement.id == AgreementVersion.agreement_id)
        .where(
            Agreement.couple_id.in_(couple_ids),
            AgreementVersion.in_force_from.is_not(None),
            AgreementVersion.in_force_from <= at,
            or_(AgreementVersion.in_force_until.is_(None), AgreementVersion.in_force_until > at),
        )
        .order_by(Agreement.couple_id, Agreement.created_at, Agreement.id)
    )
    out: dict[int, list[tuple[AgreementInForce, dt.datetime]]] = {cid: [] for cid in couple_ids}
    for couple_id, agreement_id, version_id, kind, title, body, params, flagged, since in rows:
        out[couple_id].append(
            (
                AgreementInForce(
                    agreement_id=agreement_id,
                    version_id=version_id,
                    kind=kind,
                    title=title,
                    body=body,
                    params=dict(params or {}),
                    flagged_for_review=flagged,
                ),
                since,
            )
        )
    return out


def checkin_schedule_among(
    in_force: list[tuple[AgreementInForce, dt.datetime]],
) -> CheckinSchedule | None:
    """:func:`checkin_schedule` from a couple's agreements in force (as read by
    :func:`agreements_in_force_by_couple`), without another query."""
    candidates = [(a, since) for a, since in in_force if a.kind == "regular_checkin"]
    if not candidates:
        return None
    # Should a couple hold two, the most recently accepted one is what they agreed last.
    chosen, since = max(candidates, key=lambda c: (c[1], c[0].version_id))
    return _schedule(chosen, since)


def next_checkin_schedule_from(
    session: Session, couple_id: int, after: dt.datetime
) -> dt.datetime | None:
    """The earliest moment after ``after`` at which a regular check-in version comes into
    force (a version accepted on a clock ahead of the caller's), or None."""
    return session.scalar(
        select(func.min(AgreementVersion.in_force_from))
        .join(Agreement, Agreement.id == AgreementVersion.agreement_id)
        .where(
            Agreement.couple_id == couple_id,
            Agreement.kind == "regular_checkin",
            AgreementVersion.in_force_from > after,
        )
    )


# --- cooldown ------------------------------------------------------------------------


@dataclass(frozen=True)
class CooldownView:
    cooldown_id: int
    started_by: str
    started_by_me: bool
    started_at: dt.datetime
    planned_end_at: dt.datetime
    seconds_left: int
    can_extend: bool
    minutes: int  # the agreed length (also what an extension adds)
    during: str  # what we agreed to do meanwhile


@dataclass(frozen=True)
class CooldownLogEntry:
    cooldown_id: int
    started_by: str
    started_by_me: bool
    started_at: dt.datetime
    planned_end_at: dt.datetime
    ended_at: dt.datetime | None  # None while it runs
    ended_early: bool
    extended: bool
    my_note: str | None  # only ever the reader's own note


def _cooldown_terms(
    session: Session, couple_id: int, now: dt.datetime
) -> tuple[int | None, int, str]:
    """(agreement version, minutes, what we do meanwhile) from the cooldown agreement in force."""
    for agreement in agreements_in_force(session, couple_id, now):
        if agreement.kind == "cooldown":
            minutes = int(agreement.params.get("minutes", DEFAULT_COOLDOWN_MINUTES))
            during = str(agreement.params.get("during", "")) or agreement.body
            return agreement.version_id, minutes, during
    return None, DEFAULT_COOLDOWN_MINUTES, ""


def _close_elapsed(session: Session, couple_id: int, now: dt.datetime) -> None:
    """A cooldown nobody ended closes at its planned end."""
    for cooldown in session.scalars(
        select(Cooldown).where(
            Cooldown.couple_id == couple_id,
            Cooldown.ended_at.is_(None),
            Cooldown.planned_end_at <= now,
        )
    ):
        cooldown.ended_at = cooldown.planned_end_at
    session.flush()


def _open_cooldown(session: Session, couple_id: int, now: dt.datetime) -> Cooldown | None:
    return session.scalar(
        select(Cooldown).where(
            Cooldown.couple_id == couple_id,
            Cooldown.ended_at.is_(None),
            Cooldown.planned_end_at > now,
        )
    )


def _cooldown_view(
    session: Session, cooldown: Cooldown, couple: Couple, user_id: int, now: dt.datetime
) -> CooldownView:
    names = _names(session, couple, user_id)
    _, minutes, during = _cooldown_terms(session, couple.id, cooldown.started_at)
    return CooldownView(
        cooldown_id=cooldown.id,
        started_by=names.get(cooldown.started_by_id, "Your partner"),
        started_by_me=cooldown.started_by_id == user_id,
        started_at=cooldown.started_at,
        planned_end_at=cooldown.planned_end_at,
        seconds_left=max(0, int((cooldown.planned_end_at - now).total_seconds())),
        can_extend=cooldown.extended_at is None,
        minutes=minutes,
        during=during,
    )


def current_cooldown(
    session: Session, user_id: int, *, now: dt.datetime | None = None
) -> CooldownView | None:
    """The cooldown running right now in my couple, if any."""
    return cooldown_status(session, user_id, now=now)[1]


def cooldown_status(
    session: Session, user_id: int, *, now: dt.datetime | None = None
) -> tuple[bool, CooldownView | None]:
    """(whether I have a couple space, the cooldown running in it if any): what the
    sidebar control on every page needs, in one light statement when nothing runs."""
    now = now or utcnow()
    row = session.execute(_cooldown_status_query(), {"user_id": user_id, "now": now}).first()
    if row is None:
        return False, None
    if row.cooldown_id is None:
        return True, None
    membership = couples.require_membership(session, user_id)
    cooldown = session.get(Cooldown, row.cooldown_id)
    assert cooldown is not None
    return True, _cooldown_view(session, cooldown, membership.couple, user_id, now)


@functools.cache
def _cooldown_status_query():  # type: ignore[no-untyped-def]
    """The user's current couple and the id of a cooldown running in it (or None)."""
    return (
        select(Membership.couple_id, Cooldown.id.label("cooldown_id"))
        .outerjoin(
            Cooldown,
            and_(
                Cooldown.couple_id == Membership.couple_id,
                Cooldown.ended_at.is_(None),
                Cooldown.planned_end_at > bindparam("now"),
            ),
        )
        .where(Membership.user_id == bindparam("user_id"), Membership.left_at.is_(None))
        .order_by(Cooldown.id)
    )


def cooldown_mail_enabled(session: Session, user_id: int) -> bool:
    prefs = session.get(AgreementPreferences, user_id)
    return bool(prefs and prefs.cooldown_mail)


def set_cooldown_mail(session: Session, user_id: int, enabled: bool) -> None:
    """My own choice: mail me when my partner starts or ends a cooldown."""
    prefs = session.get(AgreementPreferences, user_id)
    if prefs is None:
        session.add(AgreementPreferences(user_id=user_id, cooldown_mail=enabled))
    else:
        prefs.cooldown_mail = enabled
    session.flush()


def _local_time(moment: dt.datetime, timezone: str) -> str:
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%H:%M} ({timezone})"


def _cooldown_mail(
    session: Session, kind: str, cooldown: Cooldown, actor_id: int, key: str
) -> None:
    partner = couples.partner_of(session, actor_id)
    if partner is None or not cooldown_mail_enabled(session, partner.id):
        return
    enqueue(
        session,
        kind=kind,
        to_address=partner.email,
        recipient_user_id=partner.id,
        dedupe_key=f"{kind}:{cooldown.id}:{key}",
        context={
            "name": partner.display_name,
            "partner": _user(session, actor_id).display_name,
            "back_at": _local_time(cooldown.planned_end_at, partner.timezone),
        },
    )


def start_cooldown(
    session: Session, user_id: int, *, now: dt.datetime | None = None
) -> CooldownView:
    """'I need a cooldown'. If one is already running, that one is returned (pressing
    twice, or both at once, is one cooldown)."""
    now = now or utcnow()
    couple = couples.require_active_couple(session, user_id)
    _close_elapsed(session, couple.id, now)
    existing = _open_cooldown(session, couple.id, now)
    if existing is not None:
        return _cooldown_view(session, existing, couple, user_id, now)
    version_id, minutes, _ = _cooldown_terms(session, couple.id, now)
    cooldown = Cooldown(
        couple_id=couple.id,
        agreement_version_id=version_id,
        started_by_id=user_id,
        started_at=now,
        planned_end_at=now + dt.timedelta(minutes=minutes),
    )
    try:
        with session.begin_nested():
            session.add(cooldown)
    except IntegrityError:
        # The partner pressed at the same moment: theirs is the cooldown.
        existing = _open_cooldown(session, couple.id, now)
        assert existing is not None
        return _cooldown_view(session, existing, couple, user_id, now)
    _cooldown_mail(session, "cooldown_started", cooldown, user_id, "start")
    return _cooldown_view(session, cooldown, couple, user_id, now)


def _running(session: Session, user_id: int, now: dt.datetime) -> tuple[Couple, Cooldown]:
    couple = couples.require_active_couple(session, user_id)
    cooldown = _open_cooldown(session, couple.id, now)
    if cooldown is None:
        raise NotAllowed("There is no cooldown running. It may have just ended.")
    return couple, cooldown


def end_cooldown(session: Session, user_id: int, *, now: dt.datetime | None = None) -> None:
    """End the running cooldown early (either partner: both are ready to talk)."""
    now = now or utcnow()
    _, cooldown = _running(session, user_id, now)
    cooldown.ended_at = now
    cooldown.ended_by_id = user_id
    session.flush()
    _cooldown_mail(session, "cooldown_ended", cooldown, user_id, "end")


def extend_cooldown(
    session: Session, user_id: int, *, now: dt.datetime | None = None
) -> CooldownView:
    """Add the agreed length once more. A cooldown is extended at most once."""
    now = now or utcnow()
    couple, cooldown = _running(session, user_id, now)
    if cooldown.extended_at is not None:
        raise NotAllowed(
            "This cooldown was already extended once. When it ends, come back to each "
            "other, even if only to agree on a time to continue."
        )
    _, minutes, _ = _cooldown_terms(session, couple.id, cooldown.started_at)
    cooldown.planned_end_at = cooldown.planned_end_at + dt.timedelta(minutes=minutes)
    cooldown.extended_at = now
    cooldown.extended_by_id = user_id
    session.flush()
    _cooldown_mail(session, "cooldown_extended", cooldown, user_id, "extend")
    return _cooldown_view(session, cooldown, couple, user_id, now)


def _own_cooldown(session: Session, couple: Couple, cooldown_id: int) -> Cooldown:
    cooldown = session.get(Cooldown, cooldown_id)
    if cooldown is None or cooldown.couple_id != couple.id:
        raise NotFound("No such cooldown.")
    return cooldown


def save_cooldown_note(
    session: Session,
    user_id: int,
    cooldown_id: int,
    note: str,
    *,
    now: dt.datetime | None = None,
) -> None:
    """My private note on a cooldown; my partner never sees it. Empty removes it."""
    now = now or utcnow()
    couple = couples.require_membership(session, user_id).couple
    cooldown = _own_cooldown(session, couple, cooldown_id)
    clean = _clean_note(note)
    existing = session.scalar(
        select(CooldownNote).where(
            CooldownNote.cooldown_id == cooldown.id, CooldownNote.author_id == user_id
        )
    )
    if clean is None:
        if existing is not None:
            session.delete(existing)
    elif existing is None:
        session.add(
            CooldownNote(cooldown_id=cooldown.id, author_id=user_id, note=clean, written_at=now)
        )
    else:
        existing.note = clean
        existing.written_at = now
    session.flush()


def cooldown_log(
    session: Session, user_id: int, *, now: dt.datetime | None = None, limit: int = 50
) -> list[CooldownLogEntry]:
    """The couple's cooldowns, newest first, each with only my own note."""
    now = now or utcnow()
    couple = couples.require_membership(session, user_id).couple
    names = _names(session, couple, user_id)
    rows = session.execute(
        select(Cooldown, CooldownNote.note)
        .outerjoin(
            CooldownNote,
            and_(CooldownNote.cooldown_id == Cooldown.id, CooldownNote.author_id == user_id),
        )
        .where(Cooldown.couple_id == couple.id)
        .order_by(Cooldown.started_at.desc(), Cooldown.id.desc())
        .limit(limit)
    )
    entries = []
    for cooldown, note in rows:
        ended = cooldown.ended_at
        if ended is None and cooldown.planned_end_at <= now:
            ended = cooldown.planned_end_at
        entries.append(
            CooldownLogEntry(
                cooldown_id=cooldown.id,
                started_by=names.get(cooldown.started_by_id, "A former partner"),
                started_by_me=cooldown.started_by_id == user_id,
                started_at=cooldown.started_at,
                planned_end_at=cooldown.planned_end_at,
                ended_at=ended,
                ended_early=ended is not None and ended < cooldown.planned_end_at,
                extended=cooldown.extended_at is not None,
                my_note=note,
            )
        )
    return entries


def cooldowns_per_month(
    session: Session, user_id: int, *, now: dt.datetime | None = None, months: int = 12
) -> list[tuple[dt.date, int]]:
    """Cooldowns started per calendar month (in my time zone), for the last ``months``
    months including this one, oldest first; months without any count 0."""
    membership = couples.require_membership(session, user_id)
    return cooldowns_per_month_of(
        session, membership.couple_id, membership.user.timezone, now=now, months=months
    )


@functools.cache
def _cooldown_starts_query():  # type: ignore[no-untyped-def]
    """When the couple's cooldowns started, between two moments (built once: the trends
    page asks on every run)."""
    return select(Cooldown.started_at).where(
        Cooldown.couple_id == bindparam("couple_id"),
        Cooldown.started_at >= bindparam("start"),
        Cooldown.started_at <= bindparam("now"),
    )


def cooldowns_per_month_of(
    session: Session,
    couple_id: int,
    timezone: str | None,
    *,
    now: dt.datetime | None = None,
    months: int = 12,
) -> list[tuple[dt.date, int]]:
    """:func:`cooldowns_per_month` for a couple the caller has already authorized, counted
    in ``timezone`` (the viewer's)."""
    now = now or utcnow()
    zone = ZoneInfo(timezone or "UTC")
    this_month = now.astimezone(zone).date().replace(day=1)
    first = this_month - relativedelta(months=months - 1)
    start_utc = dt.datetime.combine(first, dt.time(), tzinfo=zone).astimezone(dt.UTC)
    counts = {first + relativedelta(months=i): 0 for i in range(months)}
    for started_at in session.scalars(
        _cooldown_starts_query(), {"couple_id": couple_id, "start": start_utc, "now": now}
    ):
        month = started_at.astimezone(zone).date().replace(day=1)
        if month in counts:
            counts[month] += 1
    return sorted(counts.items())


# --- therapy plan ----------------------------------------------------------------------

ATTENDANCE = {"together": "We both went", "one": "One of us went", "missed": "Missed"}
RATINGS = {1: "Not useful", 2: "A little useful", 3: "Useful", 4: "Very useful"}
APPOINTMENT_REMINDER_BEFORE = dt.timedelta(days=1)


@dataclass(frozen=True)
class TherapySessionView:
    session_id: int
    held_on: dt.date
    attendance: str
    logged_by: str
    my_rating: int | None
    partner_has_rated: bool
    # Only once both have rated, so neither answer leans on the other's.
    partner_rating: int | None

    @property
    def both_rated(self) -> bool:
        return self.my_rating is not None and self.partner_has_rated


@dataclass(frozen=True)
class AppointmentView:
    appointment_id: int
    starts_at: dt.datetime
    duration_minutes: int
    timezone: str
    location: str
    set_by: str

    @property
    def local_start(self) -> dt.datetime:
        return self.starts_at.astimezone(ZoneInfo(self.timezone))


@dataclass(frozen=True)
class TherapyPlan:
    agreement_id: int
    version: AgreementInForce
    next_appointment: AppointmentView | None
    sessions: list[TherapySessionView]


def _therapy_agreement(
    session: Session, couple: Couple, agreement_id: int, now: dt.datetime
) -> Agreement:
    agreement = _own_agreement(session, couple, agreement_id)
    if agreement.kind != "therapy" or agreement.status != ACTIVE:
        raise NotAllowed("The therapy log needs a couples therapy agreement you both accepted.")
    return agreement


def _appointment_view(appt: TherapyAppointment, names: dict[int, str]) -> AppointmentView:
    return AppointmentView(
        appointment_id=appt.id,
        starts_at=appt.starts_at,
        duration_minutes=appt.duration_minutes,
        timezone=appt.timezone,
        location=appt.location,
        set_by=names.get(appt.set_by_id, "A former partner"),
    )


def therapy_plans(
    session: Session, user_id: int, *, now: dt.datetime | None = None
) -> list[TherapyPlan]:
    """Each therapy agreement in force, with its next appointment and its session log."""
    now = now or utcnow()
    couple = couples.require_membership(session, user_id).couple
    names = _names(session, couple, user_id)
    plans = []
    for version in agreements_in_force(session, couple.id, now):
        if version.kind != "therapy":
            continue
        appt = session.scalar(
            select(TherapyAppointment)
            .where(
                TherapyAppointment.agreement_id == version.agreement_id,
                TherapyAppointment.cancelled_at.is_(None),
                TherapyAppointment.starts_at > now,
            )
            .order_by(TherapyAppointment.starts_at)
            .limit(1)
        )
        plans.append(
            TherapyPlan(
                agreement_id=version.agreement_id,
                version=version,
                next_appointment=_appointment_view(appt, names) if appt else None,
                sessions=_session_views(session, version.agreement_id, user_id, names),
            )
        )
    return plans


def _session_views(
    session: Session, agreement_id: int, user_id: int, names: dict[int, str]
) -> list[TherapySessionView]:
    rows = list(
        session.scalars(
            select(TherapySession)
            .where(TherapySession.agreement_id == agreement_id)
            .order_by(TherapySession.held_on.desc(), TherapySession.id.desc())
        )
    )
    ratings: dict[int, dict[int, int]] = {}
    if rows:
        for rating in session.scalars(
            select(TherapyRating).where(TherapyRating.session_id.in_([r.id for r in rows]))
        ):
            ratings.setdefault(rating.session_id, {})[rating.user_id] = rating.rating
    views = []
    for row in rows:
        mine = ratings.get(row.id, {}).get(user_id)
        theirs = [v for uid, v in ratings.get(row.id, {}).items() if uid != user_id]
        views.append(
            TherapySessionView(
                session_id=row.id,
                held_on=row.held_on,
                attendance=row.attendance,
                logged_by=names.get(row.logged_by_id, "A former partner"),
                my_rating=mine,
                partner_has_rated=bool(theirs),
                partner_rating=theirs[0] if theirs and mine is not None else None,
            )
        )
    return views


def log_therapy_session(
    session: Session,
    user_id: int,
    agreement_id: int,
    *,
    held_on: dt.date,
    attendance: str,
    now: dt.datetime | None = None,
) -> TherapySession:
    now = now or utcnow()
    couple = couples.require_active_couple(session, user_id)
    agreement = _therapy_agreement(session, couple, agreement_id, now)
    problems = {}
    if attendance not in ATTENDANCE:
        problems["attendance"] = "Choose who went: both, one of you, or nobody."
    # A day of slack for time zones ahead of UTC.
    if held_on > (now + dt.timedelta(days=1)).date():
        problems["held_on"] = "That date is in the future. Set it as the next appointment instead."
    if problems:
        raise InvalidInput(problems)
    row = TherapySession(
        agreement_id=agreement.id,
        held_on=held_on,
        attendance=attendance,
        logged_by_id=user_id,
        logged_at=now,
    )
    session.add(row)
    session.flush()
    return row


def rate_therapy_session(
    session: Session,
    user_id: int,
    session_id: int,
    rating: int,
    *,
    now: dt.datetime | None = None,
) -> None:
    """My private 'was this session useful?'. It can be changed until both have rated;
    after that both see both answers, and they stay as given."""
    now = now or utcnow()
    couple = couples.require_active_couple(session, user_id)
    row = session.get(TherapySession, session_id)
    if row is None:
        raise NotFound("No such session.")
    _own_agreement(session, couple, row.agreement_id)  # NotFound for another couple's
    if row.attendance == "missed":
        raise NotAllowed("This session was missed, so there is nothing to rate.")
    if rating not in RATINGS:
        raise InvalidInput({"rating": "Choose one of the answers."})
    existing = {
        r.user_id: r
        for r in session.scalars(select(TherapyRating).where(TherapyRating.session_id == row.id))
    }
    mine = existing.get(user_id)
    if mine is not None and any(uid != user_id for uid in existing):
        raise NotAllowed("You have both rated this session, so the answers stay as given.")
    if mine is None:
        try:
            with session.begin_nested():
                session.add(
                    TherapyRating(session_id=row.id, user_id=user_id, rating=rating, rated_at=now)
                )
        except IntegrityError:
            raise NotAllowed("You already rated this session.") from None
    else:
        mine.rating = rating
        mine.rated_at = now
    session.flush()


def set_next_appointment(
    session: Session,
    user_id: int,
    agreement_id: int,
    *,
    local_start: dt.datetime,
    timezone: str,
    duration_minutes: int = 60,
    location: str = "",
    now: dt.datetime | None = None,
) -> TherapyAppointment:
    """The next appointment (a naive local date-time in ``timezone``); it replaces any
    upcoming one. The scheduler reminds both partners the day before."""
    now = now or utcnow()
    couple = couples.require_active_couple(session, user_id)
    agreement = _therapy_agreement(session, couple, agreement_id, now)
    problems = {}
    try:
        zone = ZoneInfo(timezone)
    except Exception:
        raise InvalidInput({"timezone": "Choose a time zone from the list."}) from None
    starts_at = local_start.replace(tzinfo=zone).astimezone(dt.UTC)
    if starts_at <= now:
        problems["starts_at"] = "That time has passed. Log it as a session instead."
    if not 10 <= duration_minutes <= 300:
        problems["duration"] = "Give the length in minutes, between 10 and 300."
    location = (location or "").strip()
    if "\x00" in location:
        problems["location"] = NUL_PROBLEM
    elif len(location) > 300:
        problems["location"] = "Keep the place to 300 characters."
    if problems:
        raise InvalidInput(problems)
    for upcoming in session.scalars(
        select(TherapyAppointment).where(
            TherapyAppointment.agreement_id == agreement.id,
            TherapyAppointment.cancelled_at.is_(None),
            TherapyAppointment.starts_at > now,
        )
    ):
        upcoming.cancelled_at = now
    appt = TherapyAppointment(
        agreement_id=agreement.id,
        starts_at=starts_at,
        duration_minutes=duration_minutes,
        timezone=timezone,
        location=location,
        set_by_id=user_id,
        created_at=now,
        remind_at=starts_at - APPOINTMENT_REMINDER_BEFORE,
    )
    session.add(appt)
    session.flush()
    return appt


def cancel_appointment(
    session: Session, user_id: int, appointment_id: int, *, now: dt.datetime | None = None
) -> None:
    now = now or utcnow()
    couple = couples.require_active_couple(session, user_id)
    appt = session.get(TherapyAppointment, appointment_id)
    if appt is None:
        raise NotFound("No such appointment.")
    _own_agreement(session, couple, appt.agreement_id)
    if appt.cancelled_at is None:
        appt.cancelled_at = now
    session.flush()


def appointment_ics(session: Session, user_id: int, appointment_id: int) -> bytes:
    """A calendar file for one appointment (RFC 5545, made with icalendar)."""
    from icalendar import Calendar, Event

    couple = couples.require_membership(session, user_id).couple
    appt = session.get(TherapyAppointment, appointment_id)
    if appt is None:
        raise NotFound("No such appointment.")
    agreement = _own_agreement(session, couple, appt.agreement_id)
    in_force = _in_force(agreement)
    therapist = str((in_force.params or {}).get("therapist", "")) if in_force else ""
    calendar = Calendar()
    calendar.add("prodid", "-//Tend//therapy plan//EN")
    calendar.add("version", "2.0")
    event = Event()
    # Stable across downloads, so a calendar updates the entry instead of doubling it.
    event.add("uid", f"tend-therapy-appointment-{appt.id}@tend")
    event.add("dtstamp", appt.created_at)
    start = appt.starts_at.astimezone(ZoneInfo(appt.timezone))
    event.add("dtstart", start)
    event.add("dtend", start + dt.timedelta(minutes=appt.duration_minutes))
    event.add("summary", "Couples therapy" + (f" ({therapist})" if therapist else ""))
    if appt.location:
        event.add("location", appt.location)
    calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical()


def plan_therapy_reminders(session: Session, now: dt.datetime | None = None) -> int:
    """For the scheduler's planning pass: the day-before reminder to both partners.

    Safe to run any number of times: the dedupe key is per appointment and person."""
    now = now or utcnow()
    written = 0
    rows = session.execute(
        select(TherapyAppointment, Agreement)
        .join(Agreement, Agreement.id == TherapyAppointment.agreement_id)
        .where(
            TherapyAppointment.cancelled_at.is_(None),
            TherapyAppointment.remind_at <= now,
            TherapyAppointment.starts_at > now,
            Agreement.status == ACTIVE,
        )
    )
    for appt, agreement in rows:
        couple = session.get(Couple, agreement.couple_id)
        if couple is None or couple.ended_at is not None:
            continue
        for member in couple.members:
            if member.left_at is not None:
                continue
            user = member.user
            local = appt.starts_at.astimezone(ZoneInfo(user.timezone or "UTC"))
            message = plan_reminder(
                session,
                user,
                kind="therapy_appointment",
                dedupe_key=f"therapy_appointment:{appt.id}:{user.id}",
                due_utc=appt.remind_at,
                context={
                    "name": user.display_name,
                    "starts_at": f"{local:%A %d %B, %H:%M} ({user.timezone})",
                },
                now=now,
                sign_in_target="/therapy",
            )
            written += message is not None
    return written


# --- data export and account deletion (privacy) -----------------------------------------


def _export_agreements(session: Session, user_id: int) -> dict[str, list[dict[str, Any]]]:
    """What a person may take with them (docs/privacy.md): the shared agreements of the
    couple space they are in, with every version and the whole history; the cooldowns
    and the therapy plan; their own cooldown notes and session ratings; the partner's
    rating of a session only once both have rated (as the pages show it); their own
    settings. People are named as the person sees them ("Former partner" for a partner
    who left). The partner's cooldown notes are never included."""
    membership = couples.membership_of(session, user_id)
    couple = membership.couple if membership else None
    names = _names(session, couple, user_id) if couple else {}

    def name(uid: int | None) -> str | None:
        return names.get(uid, couples.FORMER_PARTNER) if uid is not None else None

    tables: dict[str, list[dict[str, Any]]] = {
        "agreements": [],
        "agreement_versions": [],
        "agreement_history": [],
        "cooldowns": [],
        "therapy_sessions": [],
        "therapy_appointments": [],
    }
    if couple is not None:
        rows = list(
            session.scalars(
                select(Agreement)
                .where(Agreement.couple_id == couple.id)
                .order_by(Agreement.created_at, Agreement.id)
            )
        )
        numbers: dict[int, int] = {}
        for a in rows:
            current = _in_force(a) or a.versions[-1]
            tables["agreements"].append(
                {
                    "agreement_id": a.id,
                    "kind": a.kind,
                    "status": a.status,
                    "title": current.title,
                    "created_by": name(a.created_by_id),
                    "created_at": a.created_at,
                    "flagged_for_review": a.flagged_for_review,
                    "flagged_by": name(a.flagged_by_id),
                    "retire_requested_by": name(a.retire_requested_by_id),
                    "retired_at": a.retired_at,
                }
            )
            for v in a.versions:
                numbers[v.id] = v.number
                tables["agreement_versions"].append(
                    {
                        "agreement_id": a.id,
                        "number": v.number,
                        "title": v.title,
                        "body": v.body,
                        "params": dict(v.params or {}),
                        "state": v.state,
                        "proposed_by": name(v.proposed_by_id),
                        "proposed_at": v.proposed_at,
                        "answered_by": name(v.answered_by_id),
                        "answered_at": v.answered_at,
                        "in_force_from": v.in_force_from,
                        "in_force_until": v.in_force_until,
                        "decline_reason": v.decline_reason,
                    }
                )
        ids = [a.id for a in rows]
        tables["agreement_history"] = [
            {
                "agreement_id": e.agreement_id,
                "at": e.at,
                "by": name(e.actor_id),
                "action": e.action,
                "version_number": numbers.get(e.version_id) if e.version_id else None,
                "note": e.note,
            }
            for e in session.scalars(
                select(AgreementEvent)
                .where(AgreementEvent.agreement_id.in_(ids))
                .order_by(AgreementEvent.at, AgreementEvent.id)
            )
        ]
        tables["cooldowns"] = [
            {
                "cooldown_id": c.id,
                "started_by": name(c.started_by_id),
                "started_at": c.started_at,
                "planned_end_at": c.planned_end_at,
                "extended_by": name(c.extended_by_id),
                "extended_at": c.extended_at,
                "ended_by": name(c.ended_by_id),
                "ended_at": c.ended_at,
            }
            for c in session.scalars(
                select(Cooldown)
                .where(Cooldown.couple_id == couple.id)
                .order_by(Cooldown.started_at, Cooldown.id)
            )
        ]
        for agreement_id in [a.id for a in rows if a.kind == "therapy"]:
            for view in reversed(_session_views(session, agreement_id, user_id, names)):
                tables["therapy_sessions"].append(
                    {
                        "agreement_id": agreement_id,
                        "session_id": view.session_id,
                        "held_on": view.held_on,
                        "attendance": view.attendance,
                        "logged_by": view.logged_by,
                        "my_rating": view.my_rating,
                        # Only once both rated, exactly as the therapy page shows it.
                        "partner_rating": view.partner_rating,
                    }
                )
        tables["therapy_appointments"] = [
            {
                "agreement_id": appt.agreement_id,
                "starts_at": appt.starts_at,
                "timezone": appt.timezone,
                "duration_minutes": appt.duration_minutes,
                "location": appt.location,
                "set_by": name(appt.set_by_id),
                "created_at": appt.created_at,
                "cancelled_at": appt.cancelled_at,
            }
            for appt in session.scalars(
                select(TherapyAppointment)
                .where(TherapyAppointment.agreement_id.in_(ids))
                .order_by(TherapyAppointment.starts_at, TherapyAppointment.id)
            )
        ]
    # What I wrote myself, in any couple space: my private cooldown notes, my ratings.
    tables["my_cooldown_notes"] = [
        {"cooldown_id": n.cooldown_id, "note": n.note, "written_at": n.written_at}
        for n in session.scalars(
            select(CooldownNote)
            .where(CooldownNote.author_id == user_id)
            .order_by(CooldownNote.written_at, CooldownNote.id)
        )
    ]
    tables["my_therapy_ratings"] = [
        {
            "session_id": r.session_id,
            "rating": r.rating,
            "meaning": RATINGS.get(r.rating),
            "rated_at": r.rated_at,
        }
        for r in session.scalars(
            select(TherapyRating)
            .where(TherapyRating.user_id == user_id)
            .order_by(TherapyRating.rated_at, TherapyRating.id)
        )
    ]
    tables["settings"] = [{"cooldown_mail": cooldown_mail_enabled(session, user_id)}]
    return tables


def _erase_agreements(session: Session, user_id: int, now: dt.datetime) -> None:
    """Remove what the person wrote for themselves: private cooldown notes, therapy
    session ratings, agreement mail settings, and the free-text reasons they gave in the
    shared history (decline reasons, notes on events). The agreements' words, versions
    and history events stay with the partner, who sees the person as "Former partner"."""
    for statement in (
        delete(CooldownNote).where(CooldownNote.author_id == user_id),
        delete(TherapyRating).where(TherapyRating.user_id == user_id),
        delete(AgreementPreferences).where(AgreementPreferences.user_id == user_id),
        update(AgreementEvent).where(AgreementEvent.actor_id == user_id).values(note=None),
        update(AgreementVersion)
        .where(AgreementVersion.answered_by_id == user_id)
        .values(decline_reason=None),
    ):
        session.execute(statement.execution_options(synchronize_session=False))


register_exporter("agreements", _export_agreements)
register_eraser("agreements", _erase_agreements)
