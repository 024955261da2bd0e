"""The mail tables' part of data export and account deletion: reminder preferences and
one-click opt-outs. Here, above accounts, because it reads the person's address, and
the mail machinery sits below accounts. Registered at import (listed in tend/registry.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from couples.accounts import get_user
from notifications.models import MailOptOut, NotificationPreference
from notifications.preferences import kind_label, preferences_for
from privacy.erase import register_eraser
from privacy.export import register_exporter


def _export_notifications(session: Session, user_id: int) -> dict[str, list[dict[str, Any]]]:
    """My reminder settings (the defaults if I never changed them) and the one-click
    unsubscribes recorded for my address. Never the partner's settings."""
    user = get_user(session, user_id)
    prefs = preferences_for(session, user_id)
    return {
        "preferences": [
            {
                "reminders_paused_at": prefs.paused_at,
                "switched_off": sorted(prefs.disabled_kinds or []),
                "preferred_hour": prefs.preferred_hour,
                "quiet_start": prefs.quiet_start,
                "quiet_end": prefs.quiet_end,
                "updated_at": prefs.updated_at,
            }
        ],
        "mail_opt_outs": [
            {"kind": o.kind, "what": kind_label(o.kind), "created_at": o.created_at}
            for o in session.scalars(
                select(MailOptOut)
                .where(func.lower(MailOptOut.address) == user.email.lower())
                .order_by(MailOptOut.created_at, MailOptOut.id)
            )
        ],
    }


def _erase_notifications(session: Session, user_id: int, now: dt.datetime) -> None:
    """My settings go, and so do the unsubscribes recorded for my address (they hold
    the address itself). The foundation removes the mails to me (the outbox rows)."""
    email = get_user(session, user_id).email.lower()
    session.execute(
        delete(MailOptOut)
        .where(func.lower(MailOptOut.address) == email)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(NotificationPreference)
        .where(NotificationPreference.user_id == user_id)
        .execution_options(synchronize_session=False)
    )


register_exporter("notifications", _export_notifications)
register_eraser("notifications", _erase_notifications)
