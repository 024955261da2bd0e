"""The report's part of data export and account deletion (docs/privacy.md), registered
with privacy at import (listed in tend/registry.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from couples import service as couples
from couples.models import Membership
from privacy.erase import register_eraser
from privacy.export import register_exporter
from reports.models import OPEN_STATES, WITHDRAWN, ReportShare, ReportVisit


def _export_reports(session: Session, user_id: int) -> dict[str, list[dict[str, Any]]]:
    """The couple's report shares (what both chose, for whom, until when, who said what)
    and every visit to the therapist's link. Never the link itself (only its hash is
    kept, and that is not exported)."""
    couple = couples.couple_of(session, user_id)
    tables: dict[str, list[dict[str, Any]]] = {"report_shares": [], "report_visits": []}
    if couple is None:
        return tables

    def name(uid: int | None) -> str | None:
        return couples.shown_name(session, user_id, uid) if uid is not None else None

    shares = list(
        session.scalars(
            select(ReportShare)
            .where(ReportShare.couple_id == couple.id)
            .order_by(ReportShare.proposed_at, ReportShare.id)
        )
    )
    for share in shares:
        tables["report_shares"].append(
            {
                "share_id": share.id,
                "state": share.state,
                "contents": list(share.contents),
                "therapist_name": share.therapist_name,
                "therapist_email": share.therapist_email,
                "expires_on": share.expires_on,
                "proposed_by": name(share.proposed_by_id),
                "proposed_at": share.proposed_at,
                "answered_by": name(share.answered_by_id),
                "answered_at": share.answered_at,
                "ended_by": name(share.ended_by_id),
                "ended_at": share.ended_at,
                "link_issued_at": share.link_issued_at,
                "link_revoked_at": share.link_revoked_at,
            }
        )
    tables["report_visits"] = [
        {"share_id": share_id, "at": at}
        for share_id, at in session.execute(
            select(ReportVisit.share_id, ReportVisit.at)
            .where(ReportVisit.share_id.in_([s.id for s in shares]))
            .order_by(ReportVisit.at, ReportVisit.id)
        )
    ]
    return tables


def _erase_reports(session: Session, user_id: int, now: dt.datetime) -> None:
    """A deleted account's consent ends: every open share of a couple the person was
    in is withdrawn (the link stops working), and the therapist's address they typed goes.
    The partner keeps the record that a report was shared, and its visit log."""
    their_couples = select(Membership.couple_id).where(Membership.user_id == user_id)
    session.execute(
        update(ReportShare)
        .where(ReportShare.couple_id.in_(their_couples), ReportShare.state.in_(OPEN_STATES))
        .values(state=WITHDRAWN, ended_by_id=user_id, ended_at=now, link_hash=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(ReportShare)
        .where(ReportShare.proposed_by_id == user_id)
        .values(therapist_email="")
        .execution_options(synchronize_session=False)
    )


register_exporter("reports", _export_reports)
register_eraser("reports", _erase_reports)
