"""What agreements ask of the scheduler: the prompts people can switch off, the
planner for the day-before therapy reminder, and the checks that drop a mail gone stale
while it waited for the recipient's morning. Listed in tend/registry.py."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from agreements.cooldowns import cooldown_mail_still_due
from agreements.models import Agreement
from agreements.reading import awaits_answer_of
from agreements.therapy import appointment_still_due, plan_therapy_reminders
from notifications.models import OutboxMessage
from notifications.preferences import context_id, register_prompt_kind, register_still_due
from notifications.scheduler import register_planner

AGREEMENTS = "Agreements and the charter"
register_prompt_kind("agreement_proposed", "An agreement awaits your answer", group=AGREEMENTS)
register_prompt_kind("agreement_flagged", "An agreement was flagged for review", group=AGREEMENTS)
register_prompt_kind("cooldown_started", "Your partner started a cooldown", group="Cooldowns")
register_prompt_kind("cooldown_extended", "Your partner extended a cooldown", group="Cooldowns")
register_prompt_kind("cooldown_ended", "A cooldown ended early", group="Cooldowns")
register_prompt_kind("therapy_appointment", "Therapy appointment tomorrow", group="Therapy")
register_planner("therapy_reminders", plan_therapy_reminders)


def _proposal_still_due(session: Session, message: OutboxMessage, _now: dt.datetime) -> str | None:
    """An "awaits your answer" mail that waited for the morning: not sent once the
    proposal was withdrawn or answered."""
    agreement_id = context_id(message, "agreement_id")
    if agreement_id is None or message.recipient_user_id is None:
        return None
    if awaits_answer_of(session, message.recipient_user_id, agreement_id):
        return None
    return "nothing waits for the recipient's answer any more"


def _flag_still_due(session: Session, message: OutboxMessage, _now: dt.datetime) -> str | None:
    """The mail that the partner flagged an agreement for review, when it waited for the
    morning: not sent once that flag was cleared (a new flag has its own mail)."""
    agreement_id = context_id(message, "agreement_id")
    flagged = message.context.get("flagged_at")
    if agreement_id is None or not isinstance(flagged, str):
        return None
    agreement = session.get(Agreement, agreement_id)
    flagged_at = agreement.flagged_at if agreement is not None else None
    this_flag = dt.datetime.fromisoformat(flagged)
    return "the agreement is no longer flagged" if flagged_at != this_flag else None


register_still_due("agreement_proposed", _proposal_still_due)
register_still_due("agreement_flagged", _flag_still_due)
register_still_due("therapy_appointment", appointment_still_due)
for _kind in ("cooldown_started", "cooldown_extended"):
    register_still_due(_kind, cooldown_mail_still_due)
