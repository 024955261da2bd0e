"""The agreement pages render through the real app for a signed-in partner (AppTest)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from agreements import cooldowns, proposals
from agreements.templates import TEMPLATES
from couples import accounts
from infra.db import transaction, utcnow
from tests.browser import ROOT
from tests.factories import make_couple


def _signed_in(token: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.session_state["_tend_session_token"] = token
    return at


def _open(at: AppTest, name: str) -> None:
    """Switch to a function page (AppTest.switch_page only resolves page files)."""
    from tend.navigation import PAGES

    url_path = PAGES[name].url_path
    [page_hash] = [
        h for h, info in at._registered_pages.items() if info.get("url_pathname") == url_path
    ]
    at._page_hash = page_hash
    at.run()


@pytest.fixture
def partners(tend_env, engine):  # type: ignore[no-untyped-def]
    with transaction(engine) as s:
        _, a, b = make_couple(s)
        t = TEMPLATES["therapy"]
        agreement_id = proposals.propose_agreement(
            s, a.id, kind="therapy", title=t.title, body=t.body, params=t.params
        ).id
        proposals.accept(s, b.id, agreement_id)
        cooldown = TEMPLATES["cooldown"]
        pending_id = proposals.propose_agreement(
            s,
            a.id,
            kind="cooldown",
            title="Pause *now*",
            body=cooldown.body,
            params=cooldown.params,
        ).id
        cooldowns.start_cooldown(s, a.id)
        return accounts.start_session(s, a.id), accounts.start_session(s, b.id), pending_id


@pytest.mark.parametrize(
    ("page", "query", "expected"),
    [
        ("agreements", {}, "Awaiting your answer"),
        ("agreement", {"id": "PENDING"}, "Awaiting your answer"),
        ("propose_agreement", {"template": "cooldown"}, "Propose: Cooldown"),
        ("propose_agreement", {"template": "regular_checkin"}, "Propose: Regular check-in"),
        ("propose_agreement", {}, "Propose your own agreement"),
        ("cooldown", {}, "Cooldown"),
        ("therapy", {}, "Next appointment"),
        ("agreement", {"id": "999999"}, "does not exist"),
    ],
)
def test_pages_render_for_the_partner(partners, page, query, expected) -> None:  # type: ignore[no-untyped-def]
    _, b_token, pending_id = partners
    at = _signed_in(b_token)
    at.run()
    for name, value in query.items():
        at.query_params[name] = str(pending_id) if value == "PENDING" else value
    _open(at, page)
    assert not at.exception, at.exception
    texts = " ".join(
        [e.value for e in at.title]
        + [e.value for e in at.subheader]
        + [e.value for e in at.warning]
        + [e.value for e in at.markdown]
        + [e.value for e in at.info]
    )
    assert expected in texts


def _therapy_agreed(s, a: int, b: int) -> int:  # type: ignore[no-untyped-def]
    """The therapy agreement, proposed by ``a`` and accepted by ``b``: its id."""
    t = TEMPLATES["therapy"]
    agreement_id = proposals.propose_agreement(
        s, a, kind="therapy", title=t.title, body=t.body, params=t.params
    ).id
    proposals.accept(s, b, agreement_id)
    return agreement_id


def test_a_session_both_rated_shows_the_partners_rating_by_name(tend_env, engine) -> None:
    """Once both rated a therapy session, the page says who said what: "You" and the
    partner's name as typed (a Markdown name stays literal)."""
    from agreements import therapy

    with transaction(engine) as s:
        _, a, b = make_couple(s)
        b.display_name = "Sam *bold*"
        agreement_id = _therapy_agreed(s, a.id, b.id)
        logged = therapy.log_therapy_session(
            s, a.id, agreement_id, held_on=utcnow().date(), attendance="together"
        )
        therapy.rate_therapy_session(s, a.id, logged.id, 3)
        therapy.rate_therapy_session(s, b.id, logged.id, 4)
        token = accounts.start_session(s, a.id)
    at = _signed_in(token)
    at.run()
    _open(at, "therapy")
    assert not at.exception, at.exception
    [line] = [m.value for m in at.markdown if m.value.startswith("Was it useful?")]
    assert line == (
        f"Was it useful? You: {therapy.RATINGS[3]} · Sam \\*bold\\*: {therapy.RATINGS[4]}"
    )


def test_therapy_dates_start_from_the_persons_own_today(tend_env, engine) -> None:
    """ "Today" in the therapy forms is the person's, not the server's: in Auckland's
    morning the server's date is still yesterday, and a session held today could not be
    logged (the date's upper limit was the server's today)."""
    from tend import web

    with transaction(engine) as s:
        _, a, b = make_couple(s)
        a.timezone = "Pacific/Auckland"
        agreement_id = _therapy_agreed(s, a.id, b.id)
        token = accounts.start_session(s, a.id)
    before = web.local_today("Pacific/Auckland")
    at = _signed_in(token)
    at.run()
    _open(at, "therapy")
    after = web.local_today("Pacific/Auckland")
    assert not at.exception, at.exception
    logged = at.date_input(key=f"held_on_{agreement_id}")
    assert logged.value in {before, after} and logged.max in {before, after}
    assert at.date_input(key=f"appt_day_{agreement_id}").value in {before, after}
