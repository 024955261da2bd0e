"""The check-in conversation as a calendar event (.ics), made with icalendar.

The round_opened mail carries it as an attachment once the scheduler branch's
attachment hook (``notifications.rendering.register_attachments``) is merged:
``checkins.planners`` registers :func:`attachments_for` there. Built from the row's
context only (round id, couple name, time), so a retry attaches the same file.
"""

from __future__ import annotations

import datetime as dt

from icalendar import Calendar, Event

CONVERSATION_LENGTH = dt.timedelta(hours=1)


def conversation_ics(
    *, round_id: int, couple_name: str, starts_at: dt.datetime, base_url: str, domain: str
) -> bytes:
    """One event: talking the check-in through together. Names and times only."""
    calendar = Calendar()
    calendar.add("prodid", "-//Tend//check-ins//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    # Stable per round, so a re-sent invitation updates the same calendar entry.
    event.add("uid", f"checkin-{round_id}@{domain}")
    event.add("summary", f"Check-in conversation ({couple_name})")
    event.add("description", f"Go through your check-in answers together: {base_url}/checkin")
    event.add("dtstart", starts_at.astimezone(dt.UTC))
    event.add("dtend", starts_at.astimezone(dt.UTC) + CONVERSATION_LENGTH)
    # Fixed (not "now"), so the same round always gives the same file.
    event.add("dtstamp", starts_at.astimezone(dt.UTC))
    calendar.add_component(event)
    return calendar.to_ical()


def attachments_for(context: dict, settings) -> list:  # type: ignore[no-untyped-def, type-arg]
    """The rendering hook: the round_opened mail's .ics."""
    from email.utils import parseaddr

    from notifications import rendering

    if "round_id" not in context or "conversation_at" not in context:
        # A mail without a round to invite to (a sample, an older row) carries no .ics;
        # rendering it must not fail, whichever modules happen to be loaded.
        return []
    data = conversation_ics(
        round_id=int(context["round_id"]),
        couple_name=str(context.get("couple", "")),
        starts_at=dt.datetime.fromisoformat(context["conversation_at"]),
        base_url=settings.base_url,
        domain=parseaddr(settings.mail_from)[1].rpartition("@")[2] or "tend.local",
    )
    return [rendering.Attachment("check-in.ics", data, "text/calendar")]  # type: ignore[attr-defined]
