"""Agreements' part of data export and account deletion (docs/privacy.md), registered
with privacy at import (listed in tend/registry.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from agreements.cooldown_returns import OUTCOMES
from agreements.cooldowns import cooldown_mail_enabled
from agreements.models import (
    Agreement,
    AgreementEvent,
    AgreementPreferences,
    AgreementVersion,
    Cooldown,
    CooldownNote,
    CooldownReturn,
    TherapyAppointment,
    TherapyRating,
)
from agreements.proposals import _in_force, _names
from agreements.therapy import RATINGS, _session_views
from couples import service as couples
from privacy.erase import register_eraser
from privacy.export import register_exporter

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
                "extensions": c.extensions,
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
    tables["my_cooldown_returns"] = [
        {"cooldown_id": r.cooldown_id, "outcome": OUTCOMES.get(r.outcome, r.outcome), "at": r.at}
        for r in session.scalars(
            select(CooldownReturn)
            .where(CooldownReturn.user_id == user_id)
            .order_by(CooldownReturn.at, CooldownReturn.id)
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
    """Remove what the person wrote for themselves: private cooldown notes, how they
    recorded coming back after cooldowns, therapy session ratings, agreement mail
    settings, and the free-text reasons they gave in the shared history (decline
    reasons, notes on events). The agreements' words, versions and history events stay
    with the partner, who sees the person as "Former partner"."""
    for statement in (
        delete(CooldownNote).where(CooldownNote.author_id == user_id),
        delete(CooldownReturn).where(CooldownReturn.user_id == user_id),
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
