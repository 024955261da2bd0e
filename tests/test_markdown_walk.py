"""Every page, as each partner and as a stranger, with Markdown in everything anyone can
type: no element may hand that text to Streamlit's Markdown renderer unescaped.

Found by what the pages actually send, not by reading the code: each element's protobuf
is searched in the fields Streamlit draws as Markdown (bodies, labels, help, radio
options), so a place added later is covered without being listed here. The browser test
(tests/test_browser_hardening.py) shows the escaped text reads exactly as typed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from google.protobuf.json_format import MessageToDict
from streamlit.testing.v1 import AppTest

from agreements import cooldowns, proposals
from agreements import therapy as agreement_therapy
from agreements.templates import TEMPLATES
from checkins import answers, questions, review, rounds, survey, talk
from checkins import history as checkin_history
from checkins.views import AdherenceInput, ConcernInput, Sheet
from couples import accounts
from couples import service as couples
from couples.models import Invitation
from infra.db import transaction, utcnow
from infra.tokens import new_token, token_hash
from notifications.dispatch import dispatch_pending
from tend import web
from tests.canary import APP, _walk, rendered_text
from tests.factories import make_couple, make_user

MARKER = "![tend-md]("
ESCAPED = web.md(MARKER)


def typed(tag: str) -> str:
    """What a person might type: a remote image (and, where there is room, a link)."""
    return f"{tag} ![tend-md](https://probe.test/{tag}.png)"


def typed_long(tag: str) -> str:
    return typed(tag) + f" [tend-link](https://probe.test/{tag}) <img src=x>"


# Proto fields Streamlit draws as Markdown. Not: input values and placeholders, st.code,
# st.text, selectbox options (plain text there).
_MARKDOWN_FIELDS = {"body", "label", "help", "caption", "captions"}
_PLAIN_PROTOS = {"Text", "Code"}
_MARKDOWN_OPTIONS = {"Radio", "ButtonGroup"}


def _live(value: Any, field: str, proto: str) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _live(item, key, proto)
    elif isinstance(value, list):
        for item in value:
            yield from _live(item, field, proto)
    elif isinstance(value, str) and MARKER in value:
        markdown = field in _MARKDOWN_FIELDS and proto not in _PLAIN_PROTOS
        if markdown or (field == "options" and proto in _MARKDOWN_OPTIONS):
            yield f"{proto}.{field}: {value!r}"


def live_markdown(at: AppTest) -> list[str]:
    """Every place the last run gave typed text to the Markdown renderer unescaped."""
    found = []
    for node in _walk(at._tree):
        proto = getattr(node, "proto", None)
        if proto is not None:
            found += _live(MessageToDict(proto), "", proto.DESCRIPTOR.name)
    return found


def _build(tx) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    now = utcnow()
    day = dt.timedelta(days=1)
    with tx() as s:
        _, a, b = make_couple(s, "a@example.org", "b@example.org", name=typed("space"))
        a.display_name, b.display_name = typed("Alex"), typed("Blair")
        a_id, b_id = a.id, b.id
    ids = []
    with tx() as s:
        then = now - 30 * day

        def agreed(kind: str, proposer: int, answerer: int, **params: Any) -> int:
            t = TEMPLATES.get(kind)
            agreement = proposals.propose_agreement(
                s,
                proposer,
                kind=kind,
                title=typed_long(f"title-{kind}") if not t else t.title,
                body=typed_long(f"body-{kind}") if not t else t.body,
                params=({**t.params, **params} if t else None),
                now=then,
            )
            proposals.accept(s, answerer, agreement.id, now=then)
            return agreement.id

        flagged = agreed("custom", a_id, b_id)
        changed = agreed("custom", b_id, a_id)
        retiring = agreed("custom", a_id, b_id)
        cooldown = agreed("cooldown", a_id, b_id, during=typed("during"))
        therapy = agreed("therapy", b_id, a_id, therapist=typed("therapist"))
        declined = proposals.propose_agreement(
            s, b_id, kind="custom", title=typed("declined"), body=typed("no"), now=then
        ).id
        proposals.decline(s, a_id, declined, reason=typed_long("reason"), now=then)
        ids += [flagged, changed, retiring, cooldown, therapy, declined]
    with tx() as s:
        later = now - 25 * day
        proposals.flag_for_review(s, b_id, flagged, note=typed("flag"), now=later)
        proposals.propose_change(
            s, a_id, changed, title=typed("changed"), body=typed_long("newbody"), now=later
        )
        proposals.request_retirement(s, a_id, retiring, reason=typed("retire"), now=later)
        started = cooldowns.start_cooldown(s, a_id, now=later).cooldown_id
        cooldowns.save_cooldown_note(s, b_id, started, typed("note"), now=later)
        agreement_therapy.set_next_appointment(
            s,
            a_id,
            therapy,
            local_start=dt.datetime.combine(now.date() + 3 * day, dt.time(18)),
            timezone="UTC",
            location=typed("where"),
        )
        agreement_therapy.log_therapy_session(
            s, a_id, therapy, held_on=(now - 20 * day).date(), attendance="together"
        )
        scale = questions.add_question(s, a_id, typed_long("scale"), kind="scale", now=later)
        text = questions.add_question(s, a_id, typed_long("prompt"), kind="text", now=later)
        checkin_history.add_topic(s, b_id, typed("topic"), now=later)

    def sheet(s, user_id: int, round_id: int, who: str) -> Sheet:  # type: ignore[no-untyped-def]
        values = {k: 3 for k in survey.SATISFACTION_KEYS} | {"certainty": 4, "safety": 4}
        values[survey.custom_key(scale.id)] = 2
        texts = {"went_well": typed(f"well-{who}"), survey.custom_key(text.id): typed(who)}
        result = Sheet(values=values, texts=texts)
        for agreement in rounds.round_questions(s, user_id, round_id).agreements:
            result.adherence[agreement.agreement_id] = AdherenceInput(4, 2, typed(f"c-{who}"))
        result.concerns = [ConcernInput(typed(f"bother-{who}"), "", new_topic=typed(who))]
        return result

    with tx() as s:
        past = rounds.start_round_now(s, a_id, now=now - 10 * day).id
        for user_id, who in ((a_id, "a"), (b_id, "b")):
            answers.save_answers(s, user_id, past, sheet(s, user_id, past, who), now=now - 9 * day)
            answers.submit(s, user_id, past, now=now - 9 * day)
        review.add_action_item(s, a_id, past, typed("action"), b_id, now=now - 9 * day)
        talk.save_note(s, b_id, past, "appreciation", typed("talk-note"), now=now - 9 * day)
    with tx() as s:
        current = rounds.start_round_now(s, a_id, now=now - day).id
        answers.save_answers(s, a_id, current, sheet(s, a_id, current, "a2"), now=now - day)
        answers.submit(s, a_id, current, now=now - day)
    # Someone else's invitation (its mail subject names the inviter), still valid.
    with tx() as s:
        casey = make_user(s, "casey@example.org", typed("Casey"))
        couples.create_couple(s, casey.id, name=typed("other"), reunited_on=None)
        invitation = couples.invite_partner(s, casey.id, "dana@example.org")
        join_token = new_token()
        invitation.token_hash = token_hash(join_token)
        casey_id = casey.id
    dispatch_pending()
    with tx() as s:
        tokens = [accounts.start_session(s, user_id) for user_id in (a_id, b_id)]
        # The inviter reads the invitation they sent in the local Mailbox.
        inviter = accounts.start_session(s, casey_id)
    return {"agreements": ids, "tokens": tokens, "inviter": inviter, "join": join_token}


def _every_page(token: str | None, agreement_ids: list[int]) -> Iterator[tuple[str, AppTest]]:
    at = AppTest.from_file(APP, default_timeout=30)
    if token:
        at.session_state[web.TEST_TOKEN_KEY] = token
    at.run()
    # Only now: st.Page objects must be made inside a script run (the first one).
    from tend.navigation import PAGES, navigation_for

    with transaction() as session:
        user = accounts.resolve_session(session, token) if token else None
    for section in navigation_for(user).values():
        for page in section:
            at._page_hash = page._script_hash
            at.run()
            yield page.title, at
    for agreement_id in agreement_ids:
        at.query_params["id"] = str(agreement_id)
        at._page_hash = PAGES["agreement"]._script_hash
        at.run()
        yield f"agreement {agreement_id}", at


def test_no_page_draws_typed_text_as_markdown(tend_env, tx) -> None:
    built = _build(tx)
    found: dict[str, list[str]] = {}
    shown: set[str] = set()
    for token in [*built["tokens"], built["inviter"], None]:
        ids = built["agreements"] if token in built["tokens"] else []
        for title, at in _every_page(token, ids):
            assert not at.exception, (title, at.exception)
            if ESCAPED in rendered_text(at):
                shown.add(title)
            if live := live_markdown(at):
                found[title] = live
    # The join page, as a stranger and as a signed-in person, and after it expired.
    from tend.navigation import PAGES

    for token in (None, built["tokens"][1]):
        at = AppTest.from_file(APP, default_timeout=30)
        if token:
            at.session_state[web.TEST_TOKEN_KEY] = token
        at.run()
        at.query_params["token"] = built["join"]
        at._page_hash = PAGES["join"]._script_hash
        at.run()
        assert not at.exception
        found.setdefault("join", []).extend(live_markdown(at))
    with tx() as s:
        invitation = s.query(Invitation).filter_by(email="dana@example.org").one()
        invitation.expires_at = utcnow() - dt.timedelta(days=1)
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.query_params["token"] = built["join"]
    at._page_hash = PAGES["join"]._script_hash
    at.run()
    next(b for b in at.button if b.label == "Ask for a new invitation").click().run()
    assert any("We let" in a.value for a in at.success), at.success
    found["join"].extend(live_markdown(at))

    assert {title: live for title, live in found.items() if live} == {}
    # The search looked where typed text is shown (escaped, it reads as typed).
    assert {"Home", "Couple space", "This check-in", "Check-in history", "Topics"} <= shown
    assert "Our talk" in shown
    assert {"Agreements", "Cooldown", "Therapy plan", "Mailbox (local)"} <= shown
    assert {f"agreement {i}" for i in built["agreements"]} <= shown
    assert ESCAPED in "".join(a.value for a in at.success)
