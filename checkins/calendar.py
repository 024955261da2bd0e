"""The check-in conversation as a calendar event (.ics), made with icalendar.

TODO(scheduler): the outbox has no attachment mechanism yet. The round_opened mail
should attach ``conversation_ics(...)`` as text/calendar once it has; the context of
that mail already carries ``round_id`` so the renderer can build it at send time.
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
    event.add("dtstamp", dt.datetime.now(dt.UTC))
    calendar.add_component(event)
    return calendar.to_ical()
