"""The charter page through the real app for signed-in partners (AppTest): what each
wrote is shown literally and only after both have written, a bad charter keeps what was
typed, the private note shows the support panel to its author only."""

from __future__ import annotations

import datetime as dt

from streamlit.testing.v1 import AppTest

from charter import consent, reflections
from charter.consent import CauseInput
from couples import accounts
from infra.db import transaction
from tests.factories import make_couple
from tests.test_agreements_pages import _open
from tests.test_agreements_pages import _signed_in as _app


def _signed_in(token: str) -> AppTest:
    at = _app(token)
    at.run()  # the navigation is registered by the app's first run
    return at


def _text(at: AppTest) -> str:
    return " ".join(str(e.value) for e in (*at.markdown, *at.caption, *at.info, *at.warning))


def test_the_partners_reflection_shows_only_after_both_wrote_and_literally(
    tend_env, engine
) -> None:
    with transaction(engine) as s:
        _, a, b = make_couple(s)
        reflections.write_reflection(s, a.id, ["trust"], "I *NEVERLISTENED* [here](x)")
        tokens = accounts.start_session(s, a.id), accounts.start_session(s, b.id)
    at_b = _signed_in(tokens[1])
    _open(at_b, "charter")
    assert not at_b.exception
    assert "NEVERLISTENED" not in _text(at_b)
    assert "A has written theirs" in _text(at_b)
    # B writes through the page's form.
    at_b.checkbox(key="refl_money").check()
    at_b.text_area(key="refl_words").input("Money, mostly")
    # By its label: other buttons come first (the phone's "I need a cooldown" at the top).
    save = next(b for b in at_b.button if b.label == "Save my reflection")
    save.click().run()
    assert not at_b.exception
    text = _text(at_b)
    assert r"I \*NEVERLISTENED\* \[here\]\(x\)" in text  # escaped: shown as typed
    assert "Money, mostly" in text and "Trust was broken" in text


def test_a_charter_with_problems_says_so_and_keeps_what_was_typed(tend_env, engine) -> None:
    with transaction(engine) as s:
        _, a, _b = make_couple(s)
        token = accounts.start_session(s, a.id)
    at = _signed_in(token)
    _open(at, "charter")
    at.selectbox(key="ch_v0_c0_choice").select("trust")
    at.text_area(key="ch_v0_c0_what").input("I call when I am late")
    send = next(b for b in at.button if b.label.startswith("Send to"))
    send.click().run()
    assert not at.exception
    assert "how we will both notice" in " ".join(e.value for e in at.error)
    assert at.text_area(key="ch_v0_c0_what").value == "I call when I am late"
    at.text_area(key="ch_v0_c0_notice").input("No waiting up")
    next(b for b in at.button if b.label.startswith("Send to")).click().run()
    assert not at.exception
    assert "Waiting for B" in _text(at)


def test_the_partner_agrees_on_the_page_and_the_root_cause_becomes_a_topic(
    tend_env, engine
) -> None:
    review = dt.date.today() + dt.timedelta(days=60)
    with transaction(engine) as s:
        couple, a, b = make_couple(s)
        consent.propose_charter(s, a.id, [CauseInput("money", what="a", notice="b")], review)
        consent.propose_charter(s, b.id, [CauseInput("money", what="c", notice="d")], review)
        token = accounts.start_session(s, a.id)
    at = _signed_in(token)
    _open(at, "charter")
    at.button(key="charter_agree").click().run()
    assert not at.exception
    assert "In force" in _text(at)
    with transaction(engine) as s:
        assert [c.title for c in consent.root_causes(s, couple.id)] == ["Money"]
    _open(at, "topics")
    assert "Money" in _text(at)


def test_the_private_note_shows_the_support_panel(tend_env, engine) -> None:
    with transaction(engine) as s:
        _, a, _b = make_couple(s)
        token = accounts.start_session(s, a.id)
    at = _signed_in(token)
    _open(at, "charter")
    at.radio(key="charter_afraid").set_value(2)
    next(b for b in at.button if b.label == "Save, just for me").click().run()
    assert not at.exception
    assert any("You deserve to be safe" in h.value for h in at.subheader)
