"""Every check-in page renders (AppTest), and the answer page saves drafts as it goes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from checkins import answers, rounds, survey
from checkins import review as checkin_review
from couples import accounts
from infra.db import utcnow
from tests.factories import make_couple
from tests.test_checkins_service import answer_round, sheet

PAGES = {
    "checkin": "Side by side",
    "checkin_history": "revealed",
    "topics": "Topics",
    "trends": "Satisfaction (0-20)",
}


ROOT = Path(__file__).resolve().parent.parent


def _app(token: str, url_path: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["_tend_session_token"] = token
    at.run()
    # Pages are functions (st.Page(fn, url_path=...)), which switch_page cannot name by
    # file; a real browser picks them by url_path, whose hash is the page's id.
    at._page_hash = calc_hash(url_path)
    return at


@pytest.fixture
def signed_in(tend_env, tx, monkeypatch):  # type: ignore[no-untyped-def]
    import streamlit as st

    from tend import web

    # Under AppTest st.context.cookies is a stand-in object, not a dict; read the token
    # only from session state, as the foundation intends for AppTest.
    monkeypatch.setattr(web, "session_token", lambda: st.session_state.get(web.TEST_TOKEN_KEY))
    now = utcnow()
    with tx() as s:
        _c, a, b = make_couple(s, now=now - dt.timedelta(days=3))
        token_a = accounts.start_session(s, a.id)
    return a, b, token_a, now


@pytest.mark.parametrize("page", PAGES)
def test_each_checkin_page_renders_with_a_revealed_round(signed_in, tx, page) -> None:  # type: ignore[no-untyped-def]
    a, b, token, now = signed_in
    with tx() as s:
        round_id = rounds.start_round_now(s, a.id, now=now - dt.timedelta(days=1)).id
    answer_round(tx, a, b, round_id, now - dt.timedelta(hours=1), sheet(16), sheet(10))
    at = _app(token, page)
    at.run()
    assert not at.exception, at.exception
    text = " ".join(e.value for kind in (at.markdown, at.title, at.subheader) for e in kind)
    assert PAGES[page] in text


def _revealed_round(signed_in, tx) -> int:  # type: ignore[no-untyped-def]
    """A round both answered (16 and 10 points): ready to review."""
    a, b, _token, now = signed_in
    with tx() as s:
        round_id = rounds.start_round_now(s, a.id, now=now - dt.timedelta(days=1)).id
    answer_round(tx, a, b, round_id, now - dt.timedelta(hours=1), sheet(16), sheet(10))
    return round_id


def test_a_reviewed_round_shows_once_under_your_last_check_in(signed_in, tx) -> None:  # type: ignore[no-untyped-def]
    """Marked as reviewed together: nothing is open, so the page offers a new check-in
    and shows the last review once (not also as "ready to review")."""
    _a, b, token, _now = signed_in
    round_id = _revealed_round(signed_in, tx)
    at = _app(token, "checkin")
    at.run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success] == [
        "You have both answered. Sit down together and go through it."
    ]
    at.button(key=f"reviewed_{round_id}").click().run()
    assert not at.exception, at.exception
    # One partner's confirmation is not "together": the review stays, saying so.
    assert any("once" in i.value and "confirms too" in i.value for i in at.info)
    assert f"reviewed_{round_id}" not in [b.key for b in at.button]
    with tx() as s:
        checkin_review.mark_reviewed(s, b.id, round_id)
    at.run()
    assert not at.exception, at.exception
    assert not at.success
    assert "No check-in is open right now." in [m.value for m in at.markdown]
    assert [h.value for h in at.subheader].count("Your last check-in") == 1
    assert [h.value for h in at.subheader].count("Side by side") == 1
    assert any("Reviewed together on" in m.value for m in at.markdown)


def _step(at: AppTest) -> str:
    headings = [h.value for h in at.subheader]
    return headings[0] if headings else ""


def _press(at: AppTest, label: str) -> None:
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, at.exception


def _open_round_page(signed_in, tx):  # type: ignore[no-untyped-def]
    """A round opened now, and A's check-in page drawn once."""
    a, _b, token, now = signed_in
    with tx() as s:
        round_id = rounds.start_round_now(s, a.id, now=now).id
    at = _app(token, "checkin")
    at.run()
    assert not at.exception, at.exception
    return a, round_id, at


def test_the_answer_page_saves_a_draft_on_every_change(signed_in, tx) -> None:  # type: ignore[no-untyped-def]
    from couples.models import User

    with tx() as s:  # half an hour off UTC: a UTC time would show
        s.get(User, signed_in[0].id).timezone = "Asia/Kolkata"
    a, round_id, at = _open_round_page(signed_in, tx)
    zone = ZoneInfo("Asia/Kolkata")
    before = utcnow().astimezone(zone)
    at.radio(key=f"ck_{round_id}_sat_happy").set_value(4).run()
    after = utcnow().astimezone(zone)
    with tx() as s:
        assert answers.my_answers(s, a.id, round_id).values == {"sat_happy": 4}
    # When it was saved, on the person's own clock.
    saved = [c.value for c in at.caption if c.value.startswith("Saved as a draft at")]
    assert saved in (
        [f"Saved as a draft at {before:%H:%M}."],
        [f"Saved as a draft at {after:%H:%M}."],
    )
    _press(at, "Next")
    _press(at, "Next")
    at.text_area(key=f"ck_{round_id}_went_well").input("Pancakes on Sunday").run()
    with tx() as s:
        stored = answers.my_answers(s, a.id, round_id)
    assert stored.values == {"sat_happy": 4} and stored.texts == {"went_well": "Pancakes on Sunday"}


def test_the_check_in_goes_step_by_step_back_and_forward(signed_in, tx) -> None:  # type: ignore[no-untyped-def]
    """Four steps (no agreements, no own questions); Back shows what was saved; a step
    that cannot be saved keeps what was typed and does not move on; submitting too
    early says what is missing and offers the way back to it; another device (a new
    session) opens where the sheet was left."""
    a, round_id, at = _open_round_page(signed_in, tx)
    assert _step(at) == "How are we doing?"
    assert at.get("progress")[0].proto.text == "Step 1 of 4"
    assert not [b for b in at.button if b.label == "Back"]
    at.radio(key=f"ck_{round_id}_sat_happy").set_value(4).run()
    _press(at, "Next")
    assert _step(at) == "Our future"
    assert at.get("progress")[0].proto.text == "Step 2 of 4"
    at.radio(key=f"ck_{round_id}_certainty").set_value(5).run()
    _press(at, "Back")
    assert _step(at) == "How are we doing?"
    assert at.radio(key=f"ck_{round_id}_sat_happy").value == 4
    _press(at, "Next")
    assert at.radio(key=f"ck_{round_id}_certainty").value == 5
    _press(at, "Next")
    assert _step(at) == "In my own words"

    # A NUL character cannot be saved: the message, the text kept, the step kept.
    typed = "Pancakes\x00 on Sunday"
    at.text_area(key=f"ck_{round_id}_went_well").input(typed).run()
    assert any("NUL" in e.value for e in at.error)
    _press(at, "Next")
    assert _step(at) == "In my own words"
    assert at.text_area(key=f"ck_{round_id}_went_well").value == typed
    assert any("Fix what is marked above" in e.value for e in at.error)
    at.text_area(key=f"ck_{round_id}_went_well").input("Pancakes on Sunday").run()
    _press(at, "Next")
    assert _step(at) == "Just for you"
    assert at.get("progress")[0].proto.text == "Step 4 of 4"
    assert not [b for b in at.button if b.label == "Next"]

    # Three of four feelings are unanswered: submitting says so and offers the way back.
    _press(at, "Submit my answers")
    assert any("Please answer" in e.value for e in at.error)
    assert [b.label for b in at.button if b.label.startswith("Go to")] == [
        "Go to How are we doing?"
    ]
    _press(at, "Go to How are we doing?")
    assert _step(at) == "How are we doing?"

    # Another device: a new session, nothing in it but the sign-in.
    with tx() as s:
        other_device = accounts.start_session(s, a.id)
    again = _app(other_device, "checkin")
    again.run()
    assert not again.exception, again.exception
    assert _step(again) == "How are we doing?"
    assert again.radio(key=f"ck_{round_id}_sat_happy").value == 4
    _press(again, "Next")
    _press(again, "Next")
    assert again.text_area(key=f"ck_{round_id}_went_well").value == "Pancakes on Sunday"


def test_trends_charts_carry_their_spec_and_rows(signed_in, tx) -> None:  # type: ignore[no-untyped-def]
    """The specs are built once per process: every run still sends each chart's spec
    with its own rows (both partners' totals on the satisfaction chart)."""
    import json

    import pyarrow as pa

    a, b, token, now = signed_in
    with tx() as s:
        round_id = rounds.start_round_now(s, a.id, now=now - dt.timedelta(days=1)).id
    answer_round(tx, a, b, round_id, now - dt.timedelta(hours=1), sheet(16), sheet(10))
    at = _app(token, "trends")
    for _ in range(2):  # the second run reuses the cached specs
        at.run()
        assert not at.exception, at.exception
        charts = at.get("vega_lite_chart")
        assert charts
        first = charts[0].proto
        spec = json.loads(first.spec)
        assert spec["encoding"]["y"]["field"] == "total"
        rows = pa.ipc.open_stream(first.data.data).read_all().to_pylist()
        assert sorted(r["total"] for r in rows) == [10, 16]


def test_trends_draw_one_chart_at_a_time_the_one_chosen(signed_in, tx) -> None:  # type: ignore[no-untyped-def]
    """Six charts drawn at once cost a browser as much as six pages: the page draws the
    chart chosen (satisfaction first), offers only charts with something to show, and
    keeps the choice on reruns and across pages."""
    import json

    a, b, token, now = signed_in
    with tx() as s:
        round_id = rounds.start_round_now(s, a.id, now=now - dt.timedelta(days=1)).id
    answer_round(tx, a, b, round_id, now - dt.timedelta(hours=1), sheet(16), sheet(10))

    def drawn(at: AppTest) -> tuple[str, str]:
        (chart,) = at.get("vega_lite_chart")
        return at.subheader[-1].value, json.loads(chart.proto.spec)["encoding"]["y"]["field"]

    def said(at: AppTest) -> str:
        """The chart's accessible name (checkins.trend_summary)."""
        (chart,) = at.get("vega_lite_chart")
        return chart.proto.alt

    at = _app(token, "trends")
    at.run()
    assert not at.exception, at.exception
    choice = at.radio(key="trends_chart")
    # No agreement to keep, no cooldown ever taken: neither chart is offered.
    assert choice.options == [
        "Satisfaction",
        "Gap between you",
        "Open topics",
        "Check-ins answered",
    ]
    assert drawn(at) == ("Satisfaction (0-20)", "total")
    assert said(at).startswith("Satisfaction, 0 to 20, 1 check-in in ")
    assert f"{b.display_name}: 10 at first, 10 in the latest" in said(at)
    choice.set_value("gaps").run()
    assert drawn(at) == ("Gap between you", "gap")
    assert said(at).endswith(" 6 at first, 6 in the latest, between 6 and 6.")
    at.run()
    assert drawn(at) == ("Gap between you", "gap")
    at._page_hash = calc_hash("checkin_history")
    at.run()
    assert not at.get("vega_lite_chart")
    at._page_hash = calc_hash("trends")
    at.run()
    assert at.radio(key="trends_chart").value == "gaps"
    assert drawn(at) == ("Gap between you", "gap")


def test_trends_show_two_years_first_and_the_range_chosen(signed_in, tx) -> None:  # type: ignore[no-untyped-def]
    """Check-ins 30, 18 and 6 months ago: the charts open on the last two years, and
    the range chosen redraws them with that range's rounds only."""
    import pyarrow as pa
    from dateutil.relativedelta import relativedelta

    a, b, token, now = signed_in
    for months, total in ((30, 4), (18, 12), (6, 20)):
        at_ = now - relativedelta(months=months)
        with tx() as s:
            round_id = rounds.start_round_now(s, a.id, now=at_).id
        answer_round(tx, a, b, round_id, at_, sheet(total), sheet(total))

    def totals(at: AppTest) -> list[int]:
        chart = at.get("vega_lite_chart")[0].proto  # the satisfaction chart
        rows = pa.ipc.open_stream(chart.data.data).read_all().to_pylist()
        return sorted({r["total"] for r in rows})

    at = _app(token, "trends")
    at.run()
    assert not at.exception, at.exception
    show = at.radio(key="trends_range")
    assert show.options == ["Last year", "Last 2 years", "Last 5 years"]
    assert show.value == "Last 2 years" and totals(at) == [12, 20]
    show.set_value("Last 5 years").run()
    assert totals(at) == [4, 12, 20]
    at.radio(key="trends_range").set_value("Last year").run()
    assert totals(at) == [20]
    at.run()  # a rerun keeps the choice
    assert at.radio(key="trends_range").value == "Last year" and totals(at) == [20]
    # Another page and back: the choice is kept.
    at._page_hash = calc_hash("checkin_history")
    at.run()
    assert not at.exception, at.exception
    assert not at.radio  # the trends' radio is gone with its page
    at._page_hash = calc_hash("trends")
    at.run()
    assert at.radio(key="trends_range").value == "Last year" and totals(at) == [20]


def test_the_review_shows_the_words_chosen_with_their_scale(signed_in, tx) -> None:  # type: ignore[no-untyped-def]
    """The words each partner chose ("Very", "Somewhat"), not 4 and 2, not 4 and 2; the scale beside
    them says where each word stands."""
    _a, b, token, _now = signed_in
    _revealed_round(signed_in, tx)
    at = _app(token, "checkin")
    at.run()
    assert not at.exception, at.exception
    text = "\n".join(m.value for m in at.markdown)
    partner = b.display_name
    happy = survey.SATISFACTION[0].prompt
    block = text[text.index(happy) :].split("\n\n")[0]
    assert f"You: **Very** · {partner}: **Mostly**" in block
    assert (
        f"Scale: Not at all · A little · Somewhat · Mostly (*{partner}*) · Very (*you*) · "
        "Completely"
    ) in block
    certainty = text[text.index(survey.CERTAINTY.prompt) :].split("\n\n")[0]
    assert f"You: **Fairly certain** · {partner}: **Fairly certain**" in certainty
    assert f"Fairly certain (*you and {partner}*)" in certainty
    # No bare numbers stand for an answer.
    assert "You: **4**" not in text


def test_history_shows_a_year_then_older_check_ins_on_request(tend_env, tx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Thirteen rounds: the newest twelve, "Showing 12 of 13", and a button that adds
    the older one (kept across a rerun); once all are shown, no button."""
    import streamlit as st

    from checkins.pages import _local
    from tend import web
    from tests.test_checkins_service import full_round

    monkeypatch.setattr(web, "session_token", lambda: st.session_state.get(web.TEST_TOKEN_KEY))
    now = utcnow()
    start = now - dt.timedelta(weeks=14)
    with tx() as s:
        _c, a, b = make_couple(s, now=start - dt.timedelta(days=1))
        token = accounts.start_session(s, a.id)
    opened = [start + dt.timedelta(weeks=k) for k in range(13)]
    for at_ in opened:
        full_round(tx, a, b, at_, sheet(16), sheet(10))
    oldest = _local(opened[0], a.timezone)

    def listed(at: AppTest) -> str:
        return next(m.value for m in at.markdown if "revealed" in m.value)

    at = _app(token, "checkin_history")
    at.run()
    assert not at.exception, at.exception
    assert listed(at).count("revealed") == 12 and oldest not in listed(at)
    assert _local(opened[-1], a.timezone) in listed(at).split("\n")[0]  # newest first
    assert "Showing 12 of 13 check-ins" in [c.value for c in at.caption]
    picked = at.selectbox(key=f"checkin_history_review_{a.id}")
    picked.select_index(3).run()  # a past review picked stays picked
    assert not at.exception, at.exception
    round_picked = at.selectbox(key=f"checkin_history_review_{a.id}").value
    _press(at, "Show older check-ins")
    assert at.selectbox(key=f"checkin_history_review_{a.id}").value == round_picked
    assert len(at.selectbox(key=f"checkin_history_review_{a.id}").options) == 13
    assert listed(at).count("revealed") == 13 and oldest in listed(at)
    assert "Show older check-ins" not in [b.label for b in at.button]
    assert "Showing 13 of 13 check-ins" in [c.value for c in at.caption]
    at.run()  # a rerun keeps what is shown
    assert not at.exception, at.exception
    assert listed(at).count("revealed") == 13
