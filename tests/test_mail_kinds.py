"""Attachments for mail kinds (the .ics invitations)."""

from __future__ import annotations

from infra.settings import Settings
from notifications.models import OutboxMessage
from notifications.rendering import render

SETTINGS = Settings(base_url="http://tend.test", secret_key="k", mail_from="Tend <tend@tend.test>")
CONTEXT = {"name": "Sam", "inviter": "Kim", "couple": "Kim & Sam"}


def test_a_kind_can_attach_an_ics_invitation(test_prompt) -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    import icalendar

    from notifications import rendering

    def invite(context: dict, settings: Settings) -> list[rendering.Attachment]:  # type: ignore[type-arg]
        calendar = icalendar.Calendar()
        calendar.add("prodid", "-//Tend//EN")
        calendar.add("version", "2.0")
        event = icalendar.Event()
        event.add("uid", f"round-{context['round_id']}@tend.test")
        event.add("summary", "Check-in conversation")
        zone = ZoneInfo(context["tz"])  # the recipient's zone, from the planner
        event.add("dtstart", dt.datetime.fromisoformat(context["starts_at"]).replace(tzinfo=zone))
        event.add("dtstamp", dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        calendar.add_component(event)
        return [rendering.Attachment("check-in.ics", calendar.to_ical(), "text/calendar")]

    rendering.register_attachments(test_prompt, invite)
    try:
        message = OutboxMessage(
            id=8,
            kind=test_prompt,
            to_address="sam@example.org",
            dedupe_key="ics:8",
            context={
                **CONTEXT,
                "round_id": 5,
                "starts_at": "2026-06-01T19:00",
                "tz": "Europe/Berlin",
            },
            secret=None,
            recipient_user_id=3,
        )
        email = render(message, SETTINGS)
    finally:
        rendering.ATTACHMENTS.pop(test_prompt, None)
    [part] = list(email.iter_attachments())
    assert part.get_filename() == "check-in.ics"
    assert part.get_content_type() == "text/calendar"
    parsed = icalendar.Calendar.from_ical(part.get_content())
    [event] = parsed.walk("VEVENT")
    assert event["dtstart"].params["TZID"] == "Europe/Berlin"
    assert event.decoded("dtstart").hour == 19
    assert email.get_body(("plain",)) is not None  # text and HTML bodies still there
