"""The private safety lane and the canary test across agreements and check-ins.

A writes unique strings into every private place (a private answer, the safety note with
"not safe" answers, a private cooldown note, answers B cannot see yet); then everything B
can reach is searched: every page rendered as B (the hidden agreement pages too), every
read function of the services as B, B's export, every mail (each outbox row rendered,
and each mail as a real SMTP server received it) and the application log, with
SQLAlchemy's statement logging switched on. Zero hits. And the ORM is watched while B's
pages and export are made: no private or safety answer of A's is even loaded.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, select, update
from streamlit.testing.v1 import AppTest

from agreements import cooldowns, reading, therapy
from checkins import answers, questions, review, rounds, survey, trends, warnings
from checkins import history as checkin_history
from checkins.models import Answer, Participation
from couples import accounts
from infra.db import engine_for, transaction, utcnow
from infra.errors import NotAllowed, NotFound
from notifications.dispatch import dispatch_pending
from notifications.models import OutboxMessage
from tend import web
from tests import privacy_scenario as scenario
from tests.canary import (
    APP,
    assert_canary_unreachable,
    comparable,
    export_text,
    pages_as,
    rendered_text,
)
from tests.factories import make_couple

SUPPORT_HEADING = "You deserve to be safe"


def _tx(tend_env):  # type: ignore[no-untyped-def]
    engine = engine_for(tend_env["TEND_DATABASE_URL"])
    return lambda: transaction(engine)


def _token(user_id: int) -> str:
    with transaction() as s:
        return accounts.start_session(s, user_id)


def _deep_repr(value) -> str:  # type: ignore[no-untyped-def]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return repr({f.name: _deep_repr(getattr(value, f.name)) for f in dataclasses.fields(value)})
    if isinstance(value, list | tuple):
        return repr([_deep_repr(v) for v in value])
    if isinstance(value, dict):
        return repr({k: _deep_repr(v) for k, v in value.items()})
    if hasattr(value, "__table__"):
        return repr({c.name: getattr(value, c.key, None) for c in value.__table__.columns})
    return repr(value)


def _service_reads_as(user_id: int, sc: scenario.Scenario) -> str:
    """Every read function of agreements and check-ins, called as ``user_id`` on every
    record of the couple (refusals included)."""
    with transaction() as s:
        agreement_ids = [v.agreement_id for v in reading.list_agreements(s, user_id)]
    calls = [
        lambda s: rounds.current_round(s, user_id),
        lambda s: checkin_history.history(s, user_id, limit=1000),
        lambda s: checkin_history.topics(s, user_id),
        lambda s: [
            checkin_history.topic_history(s, user_id, t.id)
            for t in checkin_history.topics(s, user_id)
        ],
        lambda s: trends.trends(s, user_id),
        lambda s: warnings.early_warnings(s, user_id),
        lambda s: review.open_action_items(s, user_id),
        lambda s: questions.questions(s, user_id, include_retired=True),
        lambda s: checkin_history.shown_names(s, user_id),
        lambda s: reading.list_agreements(s, user_id),
        lambda s: cooldowns.cooldown_log(s, user_id),
        lambda s: cooldowns.current_cooldown(s, user_id),
        lambda s: therapy.therapy_plans(s, user_id),
        lambda s: cooldowns.cooldowns_per_month(s, user_id),
    ]
    for round_id in (sc.revealed_round, sc.open_round):
        calls += [
            lambda s, r=round_id: rounds.round_status(s, user_id, r),
            lambda s, r=round_id: rounds.round_questions(s, user_id, r),
            lambda s, r=round_id: answers.my_answers(s, user_id, r),
            lambda s, r=round_id: answers.partner_answers(s, user_id, r),
            lambda s, r=round_id: review.review(s, user_id, r),
        ]
    for agreement_id in agreement_ids:
        calls += [
            lambda s, a=agreement_id: reading.get_agreement(s, user_id, a),
            lambda s, a=agreement_id: reading.versions(s, user_id, a),
            lambda s, a=agreement_id: reading.history(s, user_id, a),
        ]
    out = []
    for call in calls:
        with transaction() as s:
            try:
                out.append(_deep_repr(call(s)))
            except (NotAllowed, NotFound) as exc:
                out.append(repr(exc))
    return "\n".join(out)


def _agreement_pages_as(token: str, agreement_ids: list[int]) -> str:
    """The hidden per-agreement pages (reached from the list, not the menu)."""
    from tend.navigation import PAGES

    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state[web.TEST_TOKEN_KEY] = token
    at.run()
    texts = []
    for agreement_id in agreement_ids:
        at.query_params["id"] = str(agreement_id)
        at._page_hash = PAGES["agreement"]._script_hash
        at.run()
        assert not at.exception, at.exception
        texts.append(rendered_text(at))
    return "\n".join(texts)


@contextmanager
def _watch_answers_loaded() -> Iterator[list[tuple[int, str]]]:
    """Record (participation id, visibility) of every answer row the ORM loads."""
    loaded: list[tuple[int, str]] = []

    def on_load(target: Answer, _context) -> None:  # type: ignore[no-untyped-def]
        loaded.append((target.participation_id, target.visibility))

    event.listen(Answer, "load", on_load)
    try:
        yield loaded
    finally:
        event.remove(Answer, "load", on_load)


def test_nothing_a_keeps_to_themselves_reaches_b(tend_env, caplog, smtp_sink, smtp_settings):  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    # Statement logging on, as an operator debugging might: bound values stay hidden.
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    tx = _tx(tend_env)
    sc = scenario.build(tx)
    a_token, b_token = _token(sc.a_id), _token(sc.b_id)

    # A uses Tend too (their page runs are logged), and A, only A, sees the support panel.
    a_pages = pages_as(a_token)
    assert SUPPORT_HEADING in a_pages["This check-in"]
    assert scenario.SECRET_SAFETY_OPEN in a_pages["This check-in"]  # A's own, shown to A
    with transaction() as s:
        agreement_ids = [v.agreement_id for v in reading.list_agreements(s, sc.b_id)]
    _agreement_pages_as(a_token, agreement_ids)

    # Every mail goes out through a real SMTP server.
    report = dispatch_pending(
        engine_for(tend_env["TEND_DATABASE_URL"]),
        settings=smtp_settings,
        now=utcnow() + dt.timedelta(days=30),
    )
    received = smtp_sink.messages()
    # One mail per person and moment: rows sent together share their Message-ID.
    with transaction() as s:
        sent_ids = set(
            s.scalars(select(OutboxMessage.message_id).where(OutboxMessage.id.in_(report.sent)))
        )
    assert report.sent and len(received) == len(sent_ids)
    sink_text = "\n".join(m.raw.decode("latin-1") + "\n" + m.text() for m in received)

    with transaction() as s:
        a_participations = set(
            s.scalars(select(Participation.id).where(Participation.user_id == sc.a_id))
        )
    with _watch_answers_loaded() as loaded:
        b_reads = _service_reads_as(sc.b_id, sc)
        b_agreement_pages = _agreement_pages_as(b_token, agreement_ids)
        assert_canary_unreachable(
            scenario.NEVER_FOR_B,
            viewer_token=b_token,
            viewer_id=sc.b_id,
            log_text=caplog.text,
            extra=[
                ("mail at the SMTP server", sink_text),
                ("B's service reads", b_reads),
                ("B's agreement pages", b_agreement_pages),
            ],
        )
    # No code path that ran for B even loaded a private or safety answer of A's.
    of_a = {visibility for participation, visibility in loaded if participation in a_participations}
    assert of_a <= {survey.REVEALED}, of_a
    assert survey.REVEALED in of_a  # the watch works: B did load A's revealed answers
    # What B may see is found in the very same places: the search is not blind.
    b_pages = pages_as(b_token)
    assert any(scenario.A_REVEALED in text for text in b_pages.values())
    assert scenario.A_REVEALED in export_text(sc.b_id)
    assert scenario.A_DECLINE_REASON in b_agreement_pages
    assert scenario.B_OWN_NOTE in b_pages["Cooldown"]
    assert not any(SUPPORT_HEADING in text for text in b_pages.values())
    # The SQL was logged (so the log search is real), without its values.
    assert "checkin_answers" in caplog.text


def _answer_safety_on_the_page(token: str, round_id: int, note: str) -> AppTest:
    from tend.navigation import PAGES

    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state[web.TEST_TOKEN_KEY] = token
    at.run()
    at._page_hash = PAGES["checkin"]._script_hash
    at.run()
    assert SUPPORT_HEADING not in rendered_text(at)
    # The questions just for me are the check-in's last step.
    while [h.value for h in at.subheader][:1] != ["Just for you"]:
        next(b for b in at.button if b.label == "Next").click().run()
        assert not at.exception, at.exception
    at.radio(key=f"ck_{round_id}_safety").set_value(1).run()
    at.radio(key=f"ck_{round_id}_safety_happened").set_value(1).run()
    at.text_area(key=f"ck_{round_id}_safety_note").input(note).run()
    assert not at.exception
    return at


def test_a_concerning_safety_answer_shows_me_support_and_b_sees_no_difference(tend_env) -> None:
    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        _c, a, b = make_couple(s)
        round_id = rounds.start_round_now(s, a.id).id
        a_id, b_id = a.id, b.id
    a_token, b_token = _token(a_id), _token(b_id)
    before = comparable(pages_as(b_token))
    before_export = export_text(b_id)

    at = _answer_safety_on_the_page(a_token, round_id, "only-for-me-b71c")
    text = rendered_text(at)
    assert SUPPORT_HEADING in text and "1-800-799-7233" in text
    assert "Pause my reminders quietly" in text
    with transaction() as s:
        mine = answers.my_answers(s, a_id, round_id)
        assert mine.values["safety"] == 1 and mine.values["safety_happened"] == 1
        assert mine.texts["safety_note"] == "only-for-me-b71c"
        # Answering only the safety lane does not even show B that A has started.
        assert rounds.round_status(s, b_id, round_id).partner_status == "pending"
    assert comparable(pages_as(b_token)) == before
    assert _without_stamp(export_text(b_id)) == _without_stamp(before_export)

    # A feels safe again: the panel goes away, for A.
    at.radio(key=f"ck_{round_id}_safety").set_value(4).run()
    at.radio(key=f"ck_{round_id}_safety_happened").set_value(3).run()
    assert SUPPORT_HEADING not in rendered_text(at)


def _without_stamp(text: str) -> str:
    import re

    return re.sub(r'"exported_at": "[^"]+"', "", text)


def test_after_the_reveal_a_different_safety_answer_changes_nothing_for_b(tend_env) -> None:
    tx = _tx(tend_env)
    sc = scenario.build(tx)
    # Finish the open round too, so every round is revealed and feeds trends and warnings.
    with tx() as s:
        sheet = scenario._sheet(s, sc.b_id, sc.open_round)
        answers.save_answers(s, sc.b_id, sc.open_round, sheet)
        answers.submit(s, sc.b_id, sc.open_round)
    b_token = _token(sc.b_id)

    def b_view() -> tuple[dict[str, str], str, str]:
        return (
            comparable(pages_as(b_token)),
            _without_stamp(export_text(sc.b_id)),
            _service_reads_as(sc.b_id, sc),
        )

    before = b_view()
    # A's safety answers say the opposite now (locked answers, so straight in the table).
    with transaction() as s:
        mine = select(Participation.id).where(Participation.user_id == sc.a_id)
        s.execute(
            update(Answer)
            .where(Answer.participation_id.in_(mine), Answer.visibility == survey.SAFETY)
            .where(Answer.value_int.is_not(None))
            .values(value_int=4)
        )
        s.execute(
            update(Answer)
            .where(Answer.participation_id.in_(mine), Answer.item == "safety_note")
            .values(value_text="all fine now")
        )
    assert b_view() == before
