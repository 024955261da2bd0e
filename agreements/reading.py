"""Reading agreements: the list, one agreement with its versions, its history, and the
difference between two versions. Only the acting user's couple's.
"""

from __future__ import annotations

import difflib

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from agreements import templates
from agreements.models import (
    ACTIVE,
    PROPOSED,
    V_PENDING,
    Agreement,
    AgreementEvent,
    AgreementVersion,
)
from agreements.proposals import _in_force, _names, _own_agreement, _pending
from agreements.views import AgreementView, HistoryEntry, VersionView
from couples import service as couples
from infra.errors import NotFound

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


def _awaiting(user_id: int) -> ColumnElement[bool]:
    """SQL: the agreement waits for ``user_id``'s answer (what AgreementView.awaiting_me
    says): a version their partner proposed, or a retirement their partner asked for."""
    pending_from_partner = exists().where(
        AgreementVersion.agreement_id == Agreement.id,
        AgreementVersion.state == V_PENDING,
        AgreementVersion.proposed_by_id != user_id,
    )
    retire_asked_by_partner = and_(
        Agreement.retire_requested_by_id.is_not(None),
        Agreement.retire_requested_by_id != user_id,
    )
    return and_(
        Agreement.status.in_((PROPOSED, ACTIVE)),
        or_(pending_from_partner, retire_asked_by_partner),
    )


def awaiting_my_answer_count(session: Session, user_id: int) -> int:
    """For a badge on the home page and in the menu: how many agreements wait for me."""
    membership = couples.membership_of(session, user_id)
    if membership is None:
        return 0
    # Counted in SQL: the home page asks on every run, and the views would load every
    # version of every agreement.
    return (
        session.scalar(
            select(func.count(Agreement.id)).where(
                Agreement.couple_id == membership.couple_id, _awaiting(user_id)
            )
        )
        or 0
    )


def awaits_answer_of(session: Session, user_id: int, agreement_id: int) -> bool:
    """Whether the agreement still waits for ``user_id``'s answer (for a mail saying so,
    checked again when it is due: the proposal may have been withdrawn or answered)."""
    found = session.scalar(
        select(Agreement.id).where(Agreement.id == agreement_id, _awaiting(user_id))
    )
    return found is not None


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
