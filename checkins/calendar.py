"""The check-in conversation and the talk as calendar events (.ics), made with icalendar.

The round_opened mail carries the conversation, the talk_scheduled mail the talk's agreed
time: ``checkins.planners`` registers :func:`attachments_for` and
:func:`talk_attachments_for` with ``notifications.rendering.register_attachments``. Built
from the row's context only (ids, couple name, time), so a retry attaches the same file.
"""

from __future__ import annotations

import datetime as dt
from email.utils import parseaddr

from icalendar import Calendar, Event

CONVERSATION_LENGTH = dt.timedelta(hours=1)


def _event_ics(*, uid: str, summary: str, description: str, starts_at: dt.datetime) -> bytes:
    """One event. Names and times only; stable per uid, so a re-sent invitation updates
    the same calendar entry."""
    calendar = Calendar()
    calendar.add("prodid", "-//Tend//check-ins//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", uid)
    event.add("summary", summary)
    event.add("description", description)
    event.add("dtstart", starts_at.astimezone(dt.UTC))
    event.add("dtend", starts_at.astimezone(dt.UTC) + CONVERSATION_LENGTH)
    # Fixed (not "now"), so the same event always gives the same file.
    event.add("dtstamp", starts_at.astimezone(dt.UTC))
    calendar.add_component(event)
    return calendar.to_ical()


def conversation_ics(
    *, round_id: int, couple_name: str, starts_at: dt.datetime, base_url: str, domain: str
) -> bytes:
    """Talking the check-in through together, when answers are due."""
    return _event_ics(
        uid=f"checkin-{round_id}@{domain}",
        summary=f"Check-in conversation ({couple_name})",
        description=f"Go through your check-in answers together: {base_url}/checkin",
        starts_at=starts_at,
    )


def talk_ics(
    *, talk_id: int, couple_name: str, starts_at: dt.datetime, base_url: str, domain: str
) -> bytes:
    """The talk after a check-in, at the time both agreed."""
    return _event_ics(
        uid=f"talk-{talk_id}@{domain}",
        summary=f"Our talk after the check-in ({couple_name})",
        description=f"Go through the agenda together, one item at a time: {base_url}/talk",
        starts_at=starts_at,
    )


def _domain(settings) -> str:  # type: ignore[no-untyped-def]
    return parseaddr(settings.mail_from)[1].rpartition("@")[2] or "tend.local"


def attachments_for(context: dict, settings) -> list:  # type: ignore[no-untyped-def, type-arg]
    """The rendering hook: the round_opened mail's .ics."""
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
        domain=_domain(settings),
    )
    return [rendering.Attachment("check-in.ics", data, "text/calendar")]  # type: ignore[attr-defined]


def talk_attachments_for(context: dict, settings) -> list:  # type: ignore[no-untyped-def, type-arg]
    """The rendering hook: the talk_scheduled mail's .ics."""
    from notifications import rendering

    if "talk_id" not in context or "talk_at" not in context:
        return []
    data = talk_ics(
        talk_id=int(context["talk_id"]),
        couple_name=str(context.get("couple", "")),
        starts_at=dt.datetime.fromisoformat(context["talk_at"]),
        base_url=settings.base_url,
        domain=_domain(settings),
    )
    return [rendering.Attachment("talk.ics", data, "text/calendar")]  # type: ignore[attr-defined]
