"""“We talked about it”: either partner marks an early warning as talked about, and it stays
away until it gets worse. A mark is kept per warning (``EarlyWarning.key``: the rule, the
partner or agreement it is about) and couple, with the warning's severity at that moment;
the warning comes back when its severity rises above it, or once it has gone away and
returns later at a higher severity. Exported and erased with the check-ins
(checkins/privacy_hooks.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from checkins.models import WarningMark
from checkins.rules import EarlyWarning
from infra.db import utcnow
from infra.errors import NotFound


def marks_of(session: Session, couple_id: int) -> dict[str, tuple[int, dt.datetime]]:
    """warning key -> (the severity it had when it was marked as talked about, when)."""
    return {
        key: (severity, at)
        for key, severity, at in session.execute(
            select(WarningMark.warning_key, WarningMark.severity, WarningMark.marked_at).where(
                WarningMark.couple_id == couple_id
            )
        )
    }


def talked_about(warning: EarlyWarning, marks: dict[str, tuple[int, dt.datetime]]) -> bool:
    """Marked as talked about, no worse since, and the same episode (a warning that went
    away and began again after the mark is new)."""
    mark = marks.get(warning.key)
    if mark is None:
        return False
    severity, at = mark
    return warning.severity <= severity and (warning.since is None or warning.since <= at)


def split(
    warnings: Sequence[EarlyWarning], marks: dict[str, tuple[int, dt.datetime]]
) -> tuple[list[EarlyWarning], list[EarlyWarning]]:
    """(warnings to show, warnings talked about and no worse since)."""
    shown, talked = [], []
    for warning in warnings:
        (talked if talked_about(warning, marks) else shown).append(warning)
    return shown, talked


def mark_talked_about(
    session: Session,
    couple_id: int,
    user_id: int,
    current: Sequence[EarlyWarning],
    key: str,
    *,
    now: dt.datetime | None = None,
) -> EarlyWarning:
    """Mark the warning ``key`` among the couple's ``current`` warnings (the caller has
    authorized the couple and worked them out) as talked about, at its severity now."""
    warning = next((w for w in current if w.key == key), None)
    if warning is None:
        raise NotFound("This warning no longer holds: nothing to mark.")
    now = now or utcnow()
    row = session.scalar(
        select(WarningMark).where(
            WarningMark.couple_id == couple_id, WarningMark.warning_key == key
        )
    )
    if row is None:
        try:
            with session.begin_nested():
                session.add(
                    WarningMark(
                        couple_id=couple_id,
                        warning_key=key,
                        severity=warning.severity,
                        marked_by_id=user_id,
                        marked_at=now,
                    )
                )
            return warning
        except IntegrityError:  # the partner marked it at the same moment
            row = session.scalar(
                select(WarningMark).where(
                    WarningMark.couple_id == couple_id, WarningMark.warning_key == key
                )
            )
            assert row is not None
    row.severity, row.marked_by_id, row.marked_at = warning.severity, user_id, now
    session.flush()
    return warning
