"""The pages that show warnings (Trends, Home) draw each warning's evidence and next step,
and "We talked about it" hides it for both until it gets worse (AppTest; the real browser
in tests/test_browser_warnings.py)."""

from __future__ import annotations

import datetime as dt

from checkins import rounds
from tests.test_checkins_pages import _app, signed_in  # noqa: F401
from tests.test_checkins_service import answer_round, sheet


def _staying_low(tx, a, b, now) -> None:  # type: ignore[no-untyped-def]
    """Blair (b) at 10-11 for four rounds after two good ones."""
    for i, total in enumerate((16, 16, 11, 10, 11, 10)):
        at = now - dt.timedelta(days=7 * (6 - i))
        with tx() as s:
            round_id = rounds.start_round_now(s, a.id, now=at).id
        answer_round(tx, a, b, round_id, at + dt.timedelta(hours=1), sheet(16), sheet(total))


def _texts(at) -> str:  # type: ignore[no-untyped-def]
    return " ".join(e.value for e in at.markdown)


def _shown(signed_in, tx, page: str):  # type: ignore[no-untyped-def]  # noqa: F811
    """The page of a couple whose Blair has stayed low, with the warning drawn."""
    a, b, token, now = signed_in
    _staying_low(tx, a, b, now)
    at = _app(token, page)
    at.run()
    assert not at.exception, at.exception
    text = _texts(at)
    assert "has been feeling low about us for a while" in text and "11, 10, 11, 10" in text
    return at


def test_trends_shows_the_evidence_and_talked_about_hides_it(signed_in, tx) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    at = _shown(signed_in, tx, "trends")
    assert "Next step:" in _texts(at)
    [button] = [x for x in at.button if x.key.startswith("talked-trends-staying-low")]
    button.click().run()
    assert not at.exception, at.exception
    shown = [e.value for e in at.markdown if e.value.startswith("⚠️")]
    assert not any("feeling low" in line for line in shown)
    assert not [x for x in at.button if x.key.startswith("talked-trends-staying-low")]
    assert any("You talked about 1" in e.label for e in at.expander)


def test_home_shows_the_warning_with_its_evidence(signed_in, tx) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    at = _shown(signed_in, tx, "home")
    assert [x for x in at.button if x.key.startswith("talked-home-staying-low")]
