"""Agreements both partners consent to. CONSENT lives here: an agreement or a change to
it is in force only once the partner accepts the version proposed; proposing,
accepting, declining, countering, withdrawing, retiring (both agree) and flagging for
review. Versions are kept, never overwritten.

User-facing functions take the acting ``user_id`` and resolve the couple from it; an
agreement id of another couple is ``NotFound``, exactly like one that does not exist.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agreements import consent, templates
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
    AgreementVersion,
)
from agreements.views import MAX_BODY, MAX_NOTE, MAX_TITLE, NUL_PROBLEM
from couples import service as couples
from couples.models import Couple, User
from infra.db import utcnow
from infra.errors import InvalidInput, NotAllowed, NotFound
from notifications.outbox import enqueue
from notifications.preferences import after_quiet_hours

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
    return consent.require_partner(session, user_id, "an agreement needs both of you.")


def _clean_words(
    kind: str, title: str, body: str, params: dict[str, Any] | None
) -> tuple[str, str, dict[str, Any]]:
    title = (title or "").strip()
    body = (body or "").strip()
    problems: dict[str, str] = {}
    if not templates.known_kind(kind):
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
    session: Session,
    agreement: Agreement,
    actor: User,
    partner: User,
    key: str,
    what: str,
    now: dt.datetime,
) -> None:
    # Names and ids only: the words of the agreement never travel by mail. Proposed at
    # night, it waits for the end of the partner's quiet hours.
    enqueue(
        session,
        kind="agreement_proposed",
        to_address=partner.email,
        recipient_user_id=partner.id,
        dedupe_key=f"agreement_proposed:{agreement.id}:{key}",
        context={
            "name": partner.display_name,
            "partner": actor.display_name,
            "what": what,
            "agreement_id": agreement.id,
        },
        send_after=after_quiet_hours(session, partner, now),
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
        session, agreement, _user(session, user_id), partner, f"v{version.id}", "new", now
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
    consent.refuse_own_answer(pending.proposed_by_id, user_id, "this")
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
    registered = templates.registered_kind(agreement.kind)
    if registered is not None and registered.accept_problem is not None:
        problem = registered.accept_problem(dict(pending.params or {}), user_id)
        if problem:
            raise NotAllowed(problem)
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
        session, agreement, _user(session, user_id), partner, f"v{version.id}", what, now
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
        session,
        agreement,
        _user(session, user_id),
        partner,
        f"retire:{now:%Y%m%d%H%M%S}",
        "retire",
        now,
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
            context={
                "name": partner.display_name,
                "partner": _user(session, user_id).display_name,
                # For the check when it is due (agreements.reminders): still this flag?
                "agreement_id": agreement.id,
                "flagged_at": now.isoformat(),
            },
            send_after=after_quiet_hours(session, partner, now),
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
