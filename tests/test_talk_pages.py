"""The talk page and the answering-alone note (AppTest): they render, a bad note or
action item says why and keeps what was typed, typed text is shown literally."""

from __future__ import annotations

import datetime as dt

from checkins import rounds, solo
from checkins.models import MISSED
from tests.test_checkins_pages import _app, signed_in  # noqa: F401  (the fixture)
from tests.test_checkins_service import answer_round, save_and_submit, sheet


def _revealed(tx, a, b, now) -> int:  # type: ignore[no-untyped-def]
    with tx() as s:
        round_id = rounds.start_round_now(s, a.id, now=now - dt.timedelta(days=1)).id
    theirs = sheet(8)
    theirs.texts["went_well"] = "**bold** ![x](http://evil.example/x.png)"
    answer_round(tx, a, b, round_id, now - dt.timedelta(hours=1), sheet(16), theirs)
    return round_id


def _text(at) -> str:  # type: ignore[no-untyped-def]
    assert not at.exception, at.exception
    kinds = (at.markdown, at.title, at.subheader, at.caption, at.error, at.warning, at.info)
    kinds += (at.success,)
    return " ".join(e.value for kind in kinds for e in kind)


def test_the_talk_page_walks_the_agenda_and_keeps_bad_input(signed_in, tx) -> None:  # noqa: F811
    a, b, token, now = signed_in
    _revealed(tx, a, b, now)
    at = _app(token, "talk")
    at.run()
    assert not at.exception, at.exception
    text = _text(at)
    # Appreciations, then the four satisfaction answers 16/20 and 8/20 apart.
    assert "Item 1 of 5" in text and "What each of you appreciated" in text
    # What the partner typed is shown as typed, never as live Markdown.
    assert r"\*\*bold\*\* \!\[x\]\(http\:" in text
    at.button(key="talk_next").click().run()
    assert "Item 2 of 5" in _text(at)

    note = at.text_area(key=next(k for k in _keys(at) if k.startswith("talk_note_text_")))
    note.input("half a thought\x00")
    at.button(key=next(b.key for b in at.button if b.label == "Save note")).click().run()
    assert "NUL" in _text(at)
    assert at.text_area(key=note.key).value == "half a thought\x00"  # nothing lost

    action = next(t for t in at.text_input if t.label == "We will…")
    action.input("   ")
    at.button(key=next(b.key for b in at.button if b.label == "Add")).click().run()
    assert "Write what you will do differently" in _text(at)

    for _ in range(3):
        at.button(key="talk_next").click().run()
    assert "Item 5 of 5" in _text(at)
    at.button(key="talk_finish").click().run()
    assert "You finished this talk" in _text(at)


def _keys(at) -> list[str]:  # type: ignore[no-untyped-def]
    return [t.key for t in at.text_area]


def test_the_partner_who_keeps_answering_sees_a_blameless_note(signed_in, tx) -> None:  # noqa: F811
    a, _b, token, now = signed_in
    with tx() as s:
        # Backdate the couple's start: two rounds B missed, answered by A alone.
        for weeks in (3, 2):
            opened = now - dt.timedelta(weeks=weeks)
            round_id = rounds.start_round_now(s, a.id, now=opened).id
            save_and_submit(s, a, round_id, sheet(12), opened)
            closed = rounds.close_due_rounds(s, opened + dt.timedelta(days=6))
            assert {p.status for p in closed[0].participations} >= {MISSED}
            solo.notice_after_close(s, closed, opened + dt.timedelta(days=6))
    at = _app(token, "checkin")
    at.run()
    assert not at.exception, at.exception
    text = _text(at)
    assert "has not answered the last two check-ins" in text
    # Their own trend says what it shows to a screen reader (checkins.trend_summary).
    (trend,) = at.get("vega_lite_chart")
    assert trend.proto.alt.startswith("Your own satisfaction, 0 to 20, 2 check-ins ")
    assert trend.proto.alt.endswith(" 12 at first, 12 in the latest, between 12 and 12.")
    at.button(key="solo_raise").click().run()
    assert "on the agenda of your next talk" in _text(at)


def test_the_talk_form_offers_the_next_evening_in_the_persons_own_zone(signed_in, tx) -> None:  # noqa: F811
    """Someone in Auckland is offered their own next 19:00, not the server's date: on the
    server's evening that day is already past for them."""
    from checkins import talk
    from couples.models import User
    from infra.db import utcnow

    a, b, token, now = signed_in
    round_id = _revealed(tx, a, b, now)
    with tx() as s:
        s.get(User, a.id).timezone = "Pacific/Auckland"
    before = talk.suggested_time("Pacific/Auckland", now=utcnow())
    at = _app(token, "talk")
    # A tab left open overnight: what it offered yesterday is past, so it offers anew.
    at.session_state[f"_tend_talk_offered_{round_id}"] = now - dt.timedelta(days=1)
    at.run()
    after = talk.suggested_time("Pacific/Auckland", now=utcnow())
    assert not at.exception, at.exception
    offered = (at.date_input(key="talk_day").value, at.time_input(key="talk_time").value)
    assert offered in {(t.date(), t.time()) for t in (before, after)}
    # Proposing it as offered is accepted (never "a time that is still to come").
    at.button(key=next(b.key for b in at.button if b.label == "Propose this time")).click()
    at.run()
    assert "You proposed" in _text(at)
    assert "still to come" not in _text(at)
