"""A couple space the partner left is read-only, and its pages offer only what can be
done: no cooldown, no propose/flag/retire/answer, no check-in to start or confirm, no
topic or therapy forms. The same pages, while both are there, offer every one of them
(so the test fails if the read-only check stops hiding them, or hides them always)."""

from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from agreements import proposals, therapy
from agreements.templates import TEMPLATES
from checkins import history as checkin_history
from checkins import rounds
from couples import accounts
from couples import service as couples
from infra.db import transaction, utcnow
from tend.web import READ_ONLY_NOTE
from tests.factories import make_couple
from tests.test_agreements_pages import _open, _signed_in
from tests.test_checkins_service import answer_round, sheet

# page -> the actions it offers while both partners are there (button, form button,
# toggle or selectbox labels), all gone once the partner left.
ACTIONS = {
    "agreements": {"Use this", "Start writing"},
    "propose_agreement": {"Propose"},
    "active_agreement": {"Propose the change", "Flag it for the next check-in", "Ask to retire it"},
    "pending_agreement": {"Withdraw my proposal", "Send the new version"},
    "cooldown": {"Email me when my partner starts or ends a cooldown"},
    "therapy": {"Save appointment", "Log session", "Cancel appointment"},
    "checkin": {"We went through it together", "Add"},
    "checkin_history": {"We went through it together", "Add"},
    "topics": {"Add topic", "Status"},
}
# On every page of a signed-in partner: the sidebar's cooldown control.
EVERYWHERE = {"I need a cooldown"}


@pytest.fixture
def space(tend_env, engine):  # type: ignore[no-untyped-def]
    now = utcnow()
    with transaction(engine) as s:
        _c, a, b = make_couple(s, now=now - dt.timedelta(days=30))
        t = TEMPLATES["therapy"]
        therapy_id = proposals.propose_agreement(
            s, a.id, kind="therapy", title=t.title, body=t.body, params=t.params
        ).id
        proposals.accept(s, b.id, therapy_id)
        therapy.set_next_appointment(
            s,
            a.id,
            therapy_id,
            local_start=dt.datetime.combine(dt.date.today() + dt.timedelta(days=9), dt.time(18)),
            timezone="UTC",
            duration_minutes=60,
            location="",
        )
        therapy.log_therapy_session(
            s, a.id, therapy_id, held_on=dt.date.today(), attendance="together"
        )
        c = TEMPLATES["cooldown"]
        pending_id = proposals.propose_agreement(
            s, a.id, kind="cooldown", title=c.title, body=c.body, params=c.params
        ).id
        checkin_history.add_topic(s, a.id, "Money")
        round_id = rounds.start_round_now(s, a.id, now=now - dt.timedelta(days=1)).id
    answer_round(
        lambda: transaction(engine), a, b, round_id, now - dt.timedelta(hours=1), sheet(), sheet()
    )
    with transaction(engine) as s:
        token = accounts.start_session(s, a.id)
    return {
        "engine": engine,
        "a": a,
        "b": b,
        "token": token,
        "therapy": therapy_id,
        "pending": pending_id,
    }


def _offered(at: AppTest) -> set[str]:
    labels = {w.label for kind in ("button", "toggle", "selectbox") for w in at.get(kind)}
    labels |= {w.label for w in at.get("form_submit_button")}
    labels |= {w.proto.label for w in at.get("page_link")}
    return labels


def _visit(space, page: str) -> AppTest:  # type: ignore[no-untyped-def]
    at = _signed_in(space["token"])
    at.run()
    name = page
    if page == "active_agreement":
        name, at.query_params["id"] = "agreement", str(space["therapy"])
    elif page == "pending_agreement":
        name, at.query_params["id"] = "agreement", str(space["pending"])
    elif page == "propose_agreement":
        at.query_params["template"] = "cooldown"
    _open(at, name)
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("page", ACTIONS)
def test_a_space_both_share_offers_its_actions(space, page) -> None:  # type: ignore[no-untyped-def]
    at = _visit(space, page)
    offered = _offered(at)
    assert ACTIONS[page] | EVERYWHERE <= offered, (ACTIONS[page] | EVERYWHERE) - offered
    assert READ_ONLY_NOTE not in [i.value for i in at.info]


@pytest.mark.parametrize("page", ACTIONS)
def test_a_space_the_partner_left_offers_none(space, page) -> None:  # type: ignore[no-untyped-def]
    with transaction(space["engine"]) as s:
        couples.leave_couple(s, space["b"].id)
    at = _visit(space, page)
    offered = _offered(at)
    assert not (ACTIONS[page] | EVERYWHERE) & offered, (ACTIONS[page] | EVERYWHERE) & offered
    assert READ_ONLY_NOTE in [i.value for i in at.info]
