"""Agreements in force and the check-in schedule they set, for the check-ins and the
scheduler, which already resolved the couple (they take a ``couple_id``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from agreements.models import (
    Agreement,
    AgreementVersion,
)
from agreements.views import AgreementInForce, CheckinSchedule
from infra import bulk
from infra.errors import NotFound

# --- for the check-ins service and the scheduler (couple already resolved) -------------


def agreements_in_force(
    session: Session, couple_id: int, at: dt.datetime
) -> list[AgreementInForce]:
    """The versions both partners had consented to at ``at`` (not yet replaced or retired)."""
    found = agreements_in_force_by_couple(session, [couple_id], at)[couple_id]
    return [agreement for agreement, _since in found]


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
            bulk.among(session, Agreement.couple_id, couple_ids),
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
