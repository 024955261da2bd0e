"""The report page through the real app (AppTest): bad input keeps what was typed, the
partner's page asks for consent, typed names show literally, and once both said yes
both see it shared."""

from __future__ import annotations

from sqlalchemy import select

from couples import accounts
from infra.db import transaction
from reports.models import ReportShare
from tests.canary import rendered_text
from tests.factories import make_couple
from tests.test_agreements_pages import _open, _signed_in

NAME = "Dr. *Rivera* <b>x</b>"


def _texts(at) -> str:  # type: ignore[no-untyped-def]
    return rendered_text(at)


def test_propose_answer_and_shared(tend_env, engine) -> None:
    with transaction(engine) as s:
        _, a, b = make_couple(s)
        token_a, token_b = accounts.start_session(s, a.id), accounts.start_session(s, b.id)

    at = _signed_in(token_a)
    at.run()
    _open(at, "report")
    assert not at.exception
    assert "Propose a report" in [h.value for h in at.subheader]
    at.text_input(key="report_propose_email").input("not an address")
    at.button(key="FormSubmitter:report_propose-Propose").click().run()
    errors = " ".join(e.value for e in at.error)
    assert "Whom is the report for?" in errors and "Enter an email address" in errors
    # Nothing lost: what was typed is still there; nothing was proposed.
    assert at.text_input(key="report_propose_email").value == "not an address"
    with transaction(engine) as s:
        assert s.scalars(select(ReportShare)).all() == []

    at.text_input(key="report_propose_name").input(NAME)
    at.text_input(key="report_propose_email").input("rivera@example.org")
    at.button(key="FormSubmitter:report_propose-Propose").click().run()
    assert not at.exception
    assert "Waiting for your partner" in [h.value for h in at.subheader]

    bt = _signed_in(token_b)
    bt.run()
    _open(bt, "report")
    text = _texts(bt)
    assert "A proposed a report" in text
    assert NAME in text  # literally, never as Markdown or HTML
    [agree] = [button for button in bt.button if button.label == "Agree and share"]
    agree.click().run()
    assert not bt.exception
    assert "Shared with your therapist" in [h.value for h in bt.subheader]
    at.run()
    assert "Shared with your therapist" in [h.value for h in at.subheader]
    assert "The therapist's link works" in _texts(at)
