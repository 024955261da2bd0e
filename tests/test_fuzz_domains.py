"""Hostile input through every agreements and check-ins form, by hypothesis, the same way
as tests/test_fuzz.py does for the foundation: control characters, 10,000 characters,
right-to-left text, HTML and script tags, markdown, file paths (one that exists). No
crash (too long or unstorable is refused with a message); what is accepted is stored
exactly as typed (trimmed where documented) and drawn escaped; no mail gains a header or
an attachment."""

from __future__ import annotations

import datetime as dt
import itertools
from email import message_from_bytes, policy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from agreements import cooldowns, proposals, reading
from agreements import therapy as agreement_therapy
from agreements.models import AgreementVersion, CooldownNote, TherapyAppointment
from agreements.templates import TEMPLATES
from checkins import answers, questions, review, rounds, survey
from checkins import history as checkin_history
from checkins.models import ActionItem, Adherence, Concern, CustomQuestion, Topic
from checkins.views import AdherenceInput, ConcernInput, Sheet
from couples import accounts
from infra.db import engine_for, transaction, utcnow
from infra.errors import InvalidInput, TendError
from infra.settings import get_settings
from notifications.models import OutboxMessage
from notifications.rendering import render
from tend import web
from tests.canary import APP, rendered_text
from tests.factories import make_couple
from tests.test_fuzz import EXPECTED_HEADERS, NASTY, OPTIONAL_HEADERS, nasty

FUZZ = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_n = itertools.count()


def assert_mails_are_plain(s, *typed: str) -> None:  # type: ignore[no-untyped-def]
    """Every queued mail renders with exactly Tend's headers; the only attachment a mail
    may carry is Tend's own calendar invitation (round mails), and it holds nothing
    anyone typed."""
    cfg = get_settings()
    for row in s.scalars(select(OutboxMessage)):
        email = render(row, cfg)
        for attachment in email.iter_attachments():
            assert attachment.get_content_type() == "text/calendar", row.kind
            assert attachment.get_filename().endswith(".ics"), row.kind
            content = attachment.get_content()
            content = content.decode() if isinstance(content, bytes) else content
            assert not [t for t in typed if len(t.strip()) > 3 and t.strip() in content]
        parsed = message_from_bytes(bytes(email), policy=policy.default)
        headers = {k.lower() for k in parsed}
        assert EXPECTED_HEADERS <= headers <= EXPECTED_HEADERS | OPTIONAL_HEADERS, row.kind
        assert len(parsed.get_all("To")) == 1
        for value in parsed.values():
            assert "\n" not in str(value) and "\r" not in str(value)


def _couple(tx):  # type: ignore[no-untyped-def]
    i = next(_n)
    with tx() as s:
        _c, a, b = make_couple(s, f"fa{i}@example.org", f"fb{i}@example.org")
        return a.id, b.id


@given(title=nasty, body=nasty, reason=nasty, note=nasty, location=nasty)
@FUZZ
def test_agreement_forms(tx, tend_env, title, body, reason, note, location) -> None:
    a, b = _couple(tx)
    try:
        with tx() as s:
            agreement = proposals.propose_agreement(s, a, kind="custom", title=title, body=body).id
    except InvalidInput:
        agreement = None
    else:
        with tx() as s:
            version = s.get(AgreementVersion, reading.versions(s, b, agreement)[0].version_id)
            assert (version.title, version.body) == (title.strip(), body.strip())
            view = reading.get_agreement(s, b, agreement)
            assert view.latest.title == title.strip() and view.latest.body == body.strip()
        try:
            with tx() as s:
                proposals.decline(s, b, agreement, reason=reason)
            with tx() as s:
                [entry] = [e for e in reading.history(s, a, agreement) if e.action == "declined"]
                assert entry.note == (reason.strip() or None)
        except InvalidInput:
            pass
    with tx() as s:
        cooldown = cooldowns.start_cooldown(s, a).cooldown_id
    try:
        with tx() as s:
            cooldowns.save_cooldown_note(s, a, cooldown, note)
        with tx() as s:
            stored = s.query(CooldownNote).filter_by(author_id=a).one_or_none()
            assert (stored.note if stored else "") == note.strip()
            assert cooldowns.cooldown_log(s, a)[0].my_note == (note.strip() or None)
    except InvalidInput:
        pass
    t = TEMPLATES["therapy"]
    with tx() as s:
        therapy = proposals.propose_agreement(
            s, a, kind="therapy", title=t.title, body=t.body, params=t.params
        ).id
        proposals.accept(s, b, therapy)
    try:
        with tx() as s:
            appt = agreement_therapy.set_next_appointment(
                s,
                a,
                therapy,
                local_start=(utcnow() + dt.timedelta(days=3)).replace(tzinfo=None),
                timezone="UTC",
                location=location,
            ).id
        with tx() as s:
            assert s.get(TherapyAppointment, appt).location == location.strip()
            agreement_therapy.appointment_ics(s, b, appt)
    except InvalidInput:
        pass
    with tx() as s:
        assert_mails_are_plain(s)


@given(went_well=nasty, private=nasty, safety=nasty, comment=nasty, bother=nasty, topic=nasty)
@FUZZ
def test_checkin_answers(tx, tend_env, went_well, private, safety, comment, bother, topic) -> None:
    a, b = _couple(tx)
    with tx() as s:
        cooldown = proposals.propose_agreement(
            s, a, kind="custom", title="Walk", body="We walk."
        ).id
        proposals.accept(s, b, cooldown)
        question = questions.add_question(s, a, "Mine", kind="text", visibility="private").id
        round_id = rounds.start_round_now(s, a).id
    key = survey.custom_key(question)
    sheet = Sheet(
        values={k: 3 for k in survey.SATISFACTION_KEYS} | {"certainty": 3, "safety": 4},
        texts={"went_well": went_well, key: private, "safety_note": safety},
        adherence={cooldown: AdherenceInput(4, 4, comment)},
        concerns=[ConcernInput(bother, "a need", None, topic)],
    )
    try:
        with tx() as s:
            answers.save_answers(s, a, round_id, sheet)
    except InvalidInput as exc:
        # Refused with a message per field, and nothing was half-saved.
        assert exc.fields and all(exc.fields.values())
        with tx() as s:
            assert answers.my_answers(s, a, round_id) == Sheet()
        return
    with tx() as s:
        mine = answers.my_answers(s, a, round_id)
    for item, text in (("went_well", went_well), (key, private), ("safety_note", safety)):
        assert mine.texts.get(item, "") == text.strip(), item
    assert mine.adherence[cooldown].comment == comment.strip()
    if bother.strip():
        [concern] = mine.concerns
        assert (concern.bothering, concern.new_topic) == (bother.strip(), topic.strip())
    with tx() as s:
        answers.submit(s, a, round_id)
    with tx() as s:
        assert_mails_are_plain(s, went_well, private, safety, comment, bother, topic)


@given(title=nasty, prompt=nasty, action=nasty)
@FUZZ
def test_topics_questions_and_action_items(tx, tend_env, title, prompt, action) -> None:
    a, b = _couple(tx)
    try:
        with tx() as s:
            topic = checkin_history.add_topic(s, a, title).id
        with tx() as s:
            assert s.get(Topic, topic).title == " ".join(title.split())
    except InvalidInput:
        pass
    try:
        with tx() as s:
            question = questions.add_question(s, a, prompt).id
        with tx() as s:
            assert s.get(CustomQuestion, question).prompt == " ".join(prompt.split())
    except InvalidInput:
        pass
    with tx() as s:
        round_id = rounds.start_round_now(s, a).id
    for who in (a, b):
        with tx() as s:
            values = {k: 3 for k in survey.SATISFACTION_KEYS} | {"certainty": 3, "safety": 4}
            answers.save_answers(s, who, round_id, Sheet(values=values))
            answers.submit(s, who, round_id)
    try:
        with tx() as s:
            item = review.add_action_item(s, a, round_id, action, None).id
        with tx() as s:
            assert s.get(ActionItem, item).text == action.strip()
    except InvalidInput:
        pass
    with tx() as s:
        assert_mails_are_plain(s)


# --- drawn back on the pages, escaped --------------------------------------------------

page_text = st.one_of(
    st.sampled_from([t for t in NASTY if len(t) <= 200 and t.strip() and "\x00" not in t]),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        min_size=1,
        max_size=40,
    ).filter(lambda t: t.strip()),
)


@given(went_well=page_text, title=page_text, comment=page_text)
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_partner_sees_it_exactly_and_escaped(tend_env, went_well, title, comment) -> None:
    i = next(_n)
    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        _c, a, b = make_couple(s, f"pa{i}@example.org", f"pb{i}@example.org")
        agreement = proposals.propose_agreement(
            s, a.id, kind="custom", title=title, body="We do it."
        ).id
        proposals.accept(s, b.id, agreement)
        round_id = rounds.start_round_now(s, a.id).id
        a_id, b_id, a_name = a.id, b.id, a.display_name
    values = {k: 3 for k in survey.SATISFACTION_KEYS} | {"certainty": 3, "safety": 4}
    for who, text in ((a_id, went_well), (b_id, "fine")):
        with transaction() as s:
            answers.save_answers(
                s,
                who,
                round_id,
                Sheet(
                    values=values,
                    texts={"went_well": text},
                    adherence={agreement: AdherenceInput(4, 4, comment if who == a_id else "")},
                ),
            )
            answers.submit(s, who, round_id)
    with transaction() as s:
        token = accounts.start_session(s, b_id)
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state[web.TEST_TOKEN_KEY] = token
    at.run()
    # Only now: st.Page objects must be made inside a script run (the first one).
    from tend.navigation import PAGES

    at._page_hash = PAGES["checkin"]._script_hash
    at.run()
    assert not at.exception
    sources = [m.value for m in at.markdown]
    # The markdown source is the escaped text: drawn, it reads exactly as written, and
    # no tag or link in it becomes HTML.
    expected = f"**{web.md(a_name)}:** {web.md(went_well.strip())}"
    assert any(expected in src for src in sources), sources
    assert any(web.md(comment.strip()) in src for src in sources)
    assert not any(getattr(m.proto, "allow_html", False) for m in at.markdown)
    at._page_hash = PAGES["agreements"]._script_hash
    at.run()
    assert not at.exception
    assert web.md(title.strip()) in rendered_text(at)


def test_too_long_comments_and_concerns_are_refused_not_cut(tx) -> None:
    a, b = _couple(tx)
    with tx() as s:
        agreement = proposals.propose_agreement(s, a, kind="custom", title="W", body="W").id
        proposals.accept(s, b, agreement)
        round_id = rounds.start_round_now(s, a).id
    long = "x" * (survey.MAX_TEXT + 1)
    for sheet in (
        Sheet(adherence={agreement: AdherenceInput(4, 4, long)}),
        Sheet(concerns=[ConcernInput(long, "")]),
        Sheet(concerns=[ConcernInput("ok", long)]),
    ):
        try:
            with tx() as s:
                answers.save_answers(s, a, round_id, sheet)
        except TendError as exc:
            assert isinstance(exc, InvalidInput)
        else:
            raise AssertionError("a too long text was accepted")
    with tx() as s:
        assert s.query(Adherence).count() == 0 and s.query(Concern).count() == 0
