"""The check-in conversation and the talk as calendar events (.ics), made with icalendar.

The round_opened mail carries the conversation, the talk_scheduled mail the talk's agreed
time: ``checkins.planners`` registers :func:`attachments_for` and
:func:`talk_attachments_for` with ``notifications.rendering.register_attachments``. Built
from the row's context only (ids, couple name, time), so a retry attaches the same file.
"""

from __future__ import annotations

import datetime as dt
import functools
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


# kind -> (uid prefix, summary, what to do, page): the events Tend puts in calendars.
EVENTS = {
    "checkin": (
        "checkin",
        "Check-in conversation",
        "Go through your check-in answers together",
        "/checkin",
    ),
    "talk": (
        "talk",
        "Our talk after the check-in",
        "Go through the agenda together, one item at a time",
        "/talk",
    ),
}


def event_ics(
    kind: str, ident: int, *, couple_name: str, starts_at: dt.datetime, base_url: str, domain: str
) -> bytes:
    """One of :data:`EVENTS` for one round (checkin) or talk (talk)."""
    prefix, summary, what, page = EVENTS[kind]
    return _event_ics(
        uid=f"{prefix}-{ident}@{domain}",
        summary=f"{summary} ({couple_name})",
        description=f"{what}: {base_url}{page}",
        starts_at=starts_at,
    )


def conversation_ics(*, round_id: int, **kw) -> bytes:  # type: ignore[no-untyped-def]
    """Talking the check-in through together, when answers are due."""
    return event_ics("checkin", round_id, **kw)


def _attachment(  # type: ignore[no-untyped-def, type-arg]
    context: dict, settings, *, id_key: str, at_key: str, kind: str, filename: str
) -> list:
    """An .ics attachment from the row's context, or none when the context lacks the id
    or the time (a sample, an older row): rendering it must not fail."""
    from notifications import rendering

    if id_key not in context or at_key not in context:
        return []
    data = event_ics(
        kind,
        int(context[id_key]),
        couple_name=str(context.get("couple", "")),
        starts_at=dt.datetime.fromisoformat(context[at_key]),
        base_url=settings.base_url,
        domain=parseaddr(settings.mail_from)[1].rpartition("@")[2] or "tend.local",
    )
    return [rendering.Attachment(filename, data, "text/calendar")]  # type: ignore[attr-defined]


# The rendering hooks: the round_opened mail's .ics (when answers are due) and the
# talk_scheduled mail's (the time both agreed).
attachments_for = functools.partial(
    _attachment,
    id_key="round_id",
    at_key="conversation_at",
    kind="checkin",
    filename="check-in.ics",
)
talk_attachments_for = functools.partial(
    _attachment, id_key="talk_id", at_key="talk_at", kind="talk", filename="talk.ics"
)
