"""Check-in pages: this round (answer / waiting / review), history, topics, trends.

Thin: widgets in, a service call, results drawn. Answers are saved as a draft on every
change (each widget change reruns the page, which saves what differs), so a refresh or
a closed tab loses nothing. Everything a partner wrote is escaped with ``web.md``.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
from typing import Any
from zoneinfo import ZoneInfo

import altair as alt
import pyarrow as pa
import streamlit as st
from sqlalchemy.orm import Session

from checkins import agenda, answers, rules, solo, survey, talk, trends, warnings
from checkins import history as checkin_history
from checkins import questions as checkin_questions
from checkins import review as checkin_review
from checkins import rounds as checkin_rounds
from checkins import views as checkin_views
from checkins.talk import TalkView
from checkins.views import AdherenceInput, ConcernInput, Sheet
from couples import service as couples
from couples.models import User
from infra.errors import TendError
from privacy.pages import show_support_panel
from tend import web

NEW_TOPIC = -1


def _local(at: dt.datetime, tz: str) -> str:
    return f"{at.astimezone(ZoneInfo(tz or 'UTC')):%a %d %b %Y, %H:%M}"


# --- this round -----------------------------------------------------------------------------
def checkin_page() -> None:
    user = web.current_user()
    with web.action() as session:
        membership = couples.membership_of(session, user.id)
        couple = membership.couple if membership else None
        # As couples.partner_of / shown_name, from the membership already loaded.
        other = next((m for m in couple.members if m.user_id != user.id), None) if couple else None
        partner = other.user if other else None
        partner_name = couples.member_name(other, user.id) if other else ""
        round_ = checkin_rounds.current_round(session, user.id) if couple else None
        status = checkin_rounds.round_status(session, user.id, round_.id) if round_ else None
        # Loaded here, with the round and membership this transaction already holds.
        review = (
            checkin_review.review(session, user.id, round_.id)
            if status is not None and status.phase == "review"
            else None
        )
    st.title("Check-in")
    if couple is None or partner is None:
        st.info("Check-ins start once your partner has joined your couple space.")
        st.page_link(web.page("couple"), label="Open your couple space", icon="➡️")
        return
    solo_note(user)
    if status is None or (review is not None and review.round.reviewed_at is not None):
        # Nothing open: a way to start one, and the last review (once, below).
        _no_open_round(user.id, review)
        return
    if review is not None:
        st.success("You have both answered. Sit down together and go through it.")
        st.page_link(
            web.page("talk"),
            label="Hold your talk, one item at a time",
            icon=":material/record_voice_over:",
        )
        _review(user.id, review)
        return
    if status.phase == "closed":
        _no_open_round(user.id, None)
        return
    _action_items_banner(user.id)
    st.caption(f"Answer by {_local(status.round.due_at, user.timezone)}.")
    if status.phase == "waiting":
        st.info(
            f"Thank you. You have submitted; waiting for your partner, {web.md(partner_name)}, "
            "to answer. You see each other's answers once you have both submitted. You can "
            "still change yours until then."
        )
        with st.expander("Change your answers"):
            _answer_form(user.id, status.round.id, submitted=True)
        return
    partner_note = (
        f"{partner_name} has already answered."
        if status.partner_status == "submitted"
        else f"{partner_name} has not submitted yet."
    )
    st.write(
        "Answer on your own. Your answers are saved as you go. "
        f"{web.md(partner_note)} Neither of you sees the other's answers until both have "
        "submitted; answers marked private are never shown."
    )
    _answer_form(user.id, status.round.id, submitted=False)


def _no_open_round(user_id: int, last: checkin_review.Review | None) -> None:
    st.write("No check-in is open right now.")
    if st.button("Start a check-in now", type="primary"):
        try:
            with web.action() as session:
                checkin_rounds.start_round_now(session, user_id)
        except TendError as exc:
            web.show_error(exc)
        else:
            st.rerun()
    with st.expander("Check-in settings and your own questions"):
        _settings(user_id)
    if last is not None:
        st.divider()
        st.subheader("Your last check-in")
        _review(user_id, last)


def _action_items_banner(user_id: int) -> None:
    with web.action() as session:
        items = checkin_review.open_action_items(session, user_id)
        names = checkin_history.shown_names(session, user_id)
    if not items:
        return
    st.subheader("What you said you would do differently")
    for item in items:
        owner = names.get(item.owner_user_id or 0, "Both of you")
        done = st.checkbox(
            f"{web.md(item.text)} — {web.md(owner)}", value=False, key=f"ai_done_{item.id}"
        )
        if done:
            with web.action() as session:
                checkin_review.set_action_done(session, user_id, item.id, True)
            st.rerun()


def _key(round_id: int, name: str) -> str:
    return f"ck_{round_id}_{name}"


def _default(key: str, value: Any) -> None:
    if key not in st.session_state:
        st.session_state[key] = value


def _scale(round_id: int, item: str, prompt: str, options, value, help_text: str = "") -> None:  # type: ignore[no-untyped-def]
    key = _key(round_id, item)
    _default(key, value)
    st.radio(
        prompt,
        [v for v, _ in options],
        format_func=dict(options).get,
        key=key,
        index=None,
        horizontal=True,
        help=help_text or None,
    )


def _answer_form(user_id: int, round_id: int, *, submitted: bool) -> None:
    with web.action() as session:
        questions = checkin_rounds.round_questions(session, user_id, round_id)
        stored = answers.my_answers(session, user_id, round_id)
        topics = checkin_history.topics(session, user_id)
        partner = couples.partner_of(session, user_id)
        partner_name = couples.shown_name(session, user_id, partner.id) if partner else ""
    partner_name = partner_name or "my partner"

    st.subheader("How are we doing?")
    for q in survey.SATISFACTION:
        _scale(round_id, q.key, q.prompt, q.options, stored.values.get(q.key))
    q = survey.CERTAINTY
    _scale(round_id, q.key, q.prompt, q.options, stored.values.get(q.key))

    if questions.agreements:
        st.subheader("Our agreements")
    adherence: dict[int, AdherenceInput] = {}
    for agreement in questions.agreements:
        rating = stored.adherence.get(agreement.agreement_id, AdherenceInput())
        st.markdown(f"**{web.md(agreement.title)}**")
        aid = agreement.agreement_id
        _scale(
            round_id,
            f"a{aid}_self",
            "How well did I keep it?",
            survey.ADHERENCE_OPTIONS,
            rating.kept_self,
        )
        _scale(
            round_id,
            f"a{aid}_partner",
            f"How well did {web.md(partner_name)} keep it?",
            survey.ADHERENCE_OPTIONS,
            rating.kept_partner,
        )
        ckey = _key(round_id, f"a{aid}_comment")
        _default(ckey, rating.comment)
        st.text_input("Comment (optional)", key=ckey, max_chars=survey.MAX_TEXT)
        adherence[aid] = AdherenceInput(
            st.session_state[_key(round_id, f"a{aid}_self")],
            st.session_state[_key(round_id, f"a{aid}_partner")],
            st.session_state[ckey],
        )

    st.subheader("What went well")
    wkey = _key(round_id, "went_well")
    _default(wkey, stored.texts.get("went_well", ""))
    st.text_area(survey.WENT_WELL.prompt, key=wkey, max_chars=survey.MAX_TEXT)

    st.subheader("What is on my mind")
    concerns = _concerns(round_id, stored, topics)

    texts = {"went_well": st.session_state[wkey]}
    values = {
        key: st.session_state[_key(round_id, key)]
        for key in (*survey.SATISFACTION_KEYS, survey.CERTAINTY.key)
    }
    if questions.custom:
        st.subheader("Our own questions")
    for cq in questions.custom:
        item = survey.custom_key(cq.id)
        label = web.md(cq.prompt) + (
            " (private: only you see the answer)" if cq.visibility == "private" else ""
        )
        if cq.kind == survey.SCALE:
            _scale(round_id, item, label, survey.CUSTOM_SCALE_OPTIONS, stored.values.get(item))
            values[item] = st.session_state[_key(round_id, item)]
        else:
            key = _key(round_id, item)
            _default(key, stored.texts.get(item, ""))
            st.text_area(label, key=key, max_chars=survey.MAX_TEXT)
            texts[item] = st.session_state[key]

    st.subheader("Just for you")
    st.caption(
        "Only you will ever see these answers: not your partner, not a shared chart, not a "
        "mail. Answering them does not show your partner that you have started."
    )
    for q in survey.SAFETY_LANE:
        key = _key(round_id, q.key)
        if q.kind == survey.TEXT:
            _default(key, stored.texts.get(q.key, ""))
            st.text_area(q.prompt, key=key, max_chars=survey.MAX_TEXT, help=q.help or None)
            texts[q.key] = st.session_state[key]
        else:
            _scale(round_id, q.key, q.prompt, q.options, stored.values.get(q.key), q.help)
            values[q.key] = st.session_state[key]
    # Filled after saving: the support panel, for this person only, when it is needed.
    support_slot = st.container()

    sheet = Sheet(values=values, texts=texts, adherence=adherence, concerns=concerns)
    if _differs(sheet, stored):
        try:
            with web.action() as session:
                answers.save_answers(session, user_id, round_id, sheet)
        except TendError as exc:
            web.show_error(exc, _labels(questions))
            if survey.safety_is_concerning(values):
                with support_slot:
                    show_support_panel(key=f"support_{round_id}")
            return
        st.caption(f"Saved as a draft at {dt.datetime.now(dt.UTC):%H:%M} UTC.")
    elif not submitted:
        st.caption("Your answers are saved as you go.")
    if survey.safety_is_concerning(values):
        with support_slot:
            show_support_panel(key=f"support_{round_id}")
    if not submitted and st.button("Submit my answers", type="primary"):
        try:
            with web.action() as session:
                answers.submit(session, user_id, round_id)
        except TendError as exc:
            web.show_error(exc, _labels(questions))
        else:
            st.rerun()


def _labels(questions: checkin_views.RoundQuestions) -> dict[str, str]:
    labels = {q.key: q.prompt for q in questions.built_in}
    labels |= {survey.custom_key(q.id): q.prompt for q in questions.custom}
    labels |= {f"agreement:{a.agreement_id}": a.title for a in questions.agreements}
    return labels


def _normalized(sheet: Sheet) -> tuple:  # type: ignore[type-arg]
    return (
        {k: v for k, v in sheet.values.items() if v is not None},
        {k: v.strip() for k, v in sheet.texts.items() if v and v.strip()},
        {
            k: (v.kept_self, v.kept_partner, (v.comment or "").strip())
            for k, v in sheet.adherence.items()
        },
        [
            (
                c.bothering.strip(),
                c.need.strip(),
                c.topic_id,
                c.new_topic.strip() if c.topic_id is None else "",
            )
            for c in sheet.concerns
            if c.bothering.strip() or c.need.strip()
        ],
    )


def _differs(sheet: Sheet, stored: Sheet) -> bool:
    return _normalized(sheet) != _normalized(stored)


def _concerns(
    round_id: int, stored: Sheet, topics: list[checkin_history.TopicView]
) -> list[ConcernInput]:
    count_key = _key(round_id, "concern_count")
    _default(count_key, max(1, len(stored.concerns)))
    options = [NEW_TOPIC] + [t.id for t in topics]
    titles = {t.id: t.title for t in topics} | {NEW_TOPIC: "A new topic"}
    result = []
    for i in range(st.session_state[count_key]):
        existing = stored.concerns[i] if i < len(stored.concerns) else ConcernInput()
        with st.container(border=True):
            bkey, nkey = _key(round_id, f"c{i}_bother"), _key(round_id, f"c{i}_need")
            tkey, newkey = _key(round_id, f"c{i}_topic"), _key(round_id, f"c{i}_new")
            _default(bkey, existing.bothering)
            _default(nkey, existing.need)
            _default(tkey, existing.topic_id if existing.topic_id in titles else NEW_TOPIC)
            _default(newkey, existing.new_topic)
            st.text_area("What is bothering me", key=bkey, max_chars=survey.MAX_TEXT)
            st.text_area("What I need", key=nkey, max_chars=survey.MAX_TEXT)
            topic = st.selectbox("Topic", options, format_func=titles.get, key=tkey)
            if topic == NEW_TOPIC:
                st.text_input("Name of the new topic (optional)", key=newkey, max_chars=80)
            result.append(
                ConcernInput(
                    st.session_state[bkey],
                    st.session_state[nkey],
                    None if topic == NEW_TOPIC else topic,
                    st.session_state.get(newkey, "") if topic == NEW_TOPIC else "",
                )
            )
    if st.button("Add another concern"):
        st.session_state[count_key] += 1
        st.rerun()
    return result


# --- review -----------------------------------------------------------------------------
def _review(user_id: int, review: checkin_review.Review) -> None:
    round_id = review.round.id
    partner = review.partner
    for w in review.warnings:  # first: what ended it last time is back
        _warning(w)
    mine_total, theirs_total = review.mine.satisfaction, review.theirs.satisfaction
    cols = st.columns(2)
    _total(cols[0], "You", mine_total, review.previous_totals["me"])
    _total(cols[1], partner, theirs_total, review.previous_totals["partner"])
    st.caption("Satisfaction, out of 20. Answers 2 or more points apart are marked ⚠️.")

    # Each block is one markdown element (a paragraph per row): a review is drawn on
    # every run of the check-in and history pages, and elements cost more than text.
    st.subheader("Side by side")
    st.markdown(
        "\n\n".join(
            f"{'⚠️ ' if row.highlight else ''}**{web.md(row.label)}**  \nYou: "
            f"**{_v(row.mine)}** · {web.md(partner)}: **{_v(row.theirs)}**"
            for row in review.scales
        )
    )
    if review.adherence:
        st.subheader("Agreements")
        st.caption("⚠️ marks where one of you thinks it was kept and the other does not.")
        lines = []
        for row in review.adherence:
            mark = "⚠️ " if row.highlight else ""
            whose = "you" if row.about == "you" else web.md(row.about)
            lines.append(
                f"{mark}**{web.md(row.title)}** — kept by {whose}: you say **{_v(row.by_me)}**, "
                f"{web.md(partner)} says **{_v(row.by_partner)}**"
            )
        for aid, title in review.agreement_titles.items():
            for who, sheet in (("You", review.mine), (partner, review.theirs)):
                comment = sheet.adherence.get(aid, AdherenceInput()).comment
                if comment:
                    lines.append(f"*{web.md(who)} on {web.md(title)}:* {web.md(comment)}")
        st.markdown("\n\n".join(lines))

    st.subheader("What went well")
    st.markdown(
        "\n\n".join(
            f"**{web.md(who)}:** {web.md(text) if text else '—'}"
            for who, text in (
                ("You", review.mine.texts.get("went_well")),
                (partner, review.theirs.texts.get("went_well")),
            )
        )
    )
    for q in review.custom_questions:
        if q.kind == survey.TEXT:
            key = survey.custom_key(q.id)
            st.markdown(f"**{web.md(q.prompt)}**")
            for who, sheet in (("You", review.mine), (partner, review.theirs)):
                st.markdown(f"- {web.md(who)}: {web.md(sheet.texts.get(key, '—'))}")

    st.subheader("Topics raised")
    if not review.topics:
        st.write("No concerns this time.")
    else:
        st.markdown(
            "\n\n".join(
                f"**{web.md(title)}** ({web.md(who)}): {web.md(text)}"
                for who, title, text in review.topics
            )
        )

    st.subheader("What we will do differently")
    owners = review.owners
    if review.action_items:
        st.markdown(
            "\n".join(
                f"- {web.md(item.text)} — "
                f"{web.md(owners.get(item.owner_user_id or 0, 'Both of us'))}"
                for item in review.action_items
            )
        )
    with st.form(f"action_{round_id}", clear_on_submit=True):
        text = st.text_input("We will…", key=f"action_text_{round_id}", max_chars=500)
        owner = st.selectbox(
            "Who",
            [0, *owners],
            format_func=lambda o: owners.get(o, "Both of us"),
            key=f"action_owner_{round_id}",
        )
        add = st.form_submit_button("Add")
    if add:
        try:
            with web.action() as session:
                checkin_review.add_action_item(session, user_id, round_id, text, owner or None)
        except TendError as exc:
            web.show_error(exc, {"text": "We will…", "owner": "Who"})
        else:
            st.rerun()
    if review.round.reviewed_at:
        st.caption(f"Reviewed together on {review.round.reviewed_at:%d %b %Y}.")
    elif st.button("Mark as reviewed together", key=f"reviewed_{round_id}"):
        with web.action() as session:
            checkin_review.mark_reviewed(session, user_id, round_id)
        st.rerun()


def _warning(w: rules.EarlyWarning) -> None:
    st.warning(
        f"**{web.md(w.title)}**  \n{web.md(w.explanation)}  \n*Next step:* {web.md(w.next_step)}"
    )


def _v(value: int | None) -> str:
    return "—" if value is None else str(value)


def _total(col, who: str, total: int | None, previous: int | None) -> None:  # type: ignore[no-untyped-def]
    delta = None if total is None or previous is None else total - previous
    col.metric(web.md(who), "—" if total is None else f"{total} / 20", delta=delta)


def _settings(user_id: int) -> None:
    with web.action() as session:
        couple = couples.require_membership(session, user_id).couple
        days = checkin_rounds.due_days_for(session, couple.id)
        own = checkin_questions.questions(session, user_id)
    new_days = st.number_input(
        "Days to answer a check-in",
        min_value=checkin_views.MIN_DUE_DAYS,
        max_value=checkin_views.MAX_DUE_DAYS,
        value=days,
        key="ck_due_days",
    )
    if new_days != days:
        with web.action() as session:
            checkin_rounds.set_due_days(session, user_id, int(new_days))
        st.rerun()
    st.markdown("**Your own questions** (asked in every check-in, after the built-in ones)")
    for index, q in enumerate(own):
        cols = st.columns([6, 1, 1, 2])
        cols[0].write(
            f"{web.md(q.prompt)} ({'1-5' if q.kind == 'scale' else 'written'}, {q.visibility})"
        )
        if index > 0 and cols[1].button("↑", key=f"q_up_{q.id}"):
            _do(lambda s, q=q: checkin_questions.move_question(s, user_id, q.id, -1))
        if index < len(own) - 1 and cols[2].button("↓", key=f"q_down_{q.id}"):
            _do(lambda s, q=q: checkin_questions.move_question(s, user_id, q.id, 1))
        if cols[3].button("Retire", key=f"q_retire_{q.id}"):
            _do(lambda s, q=q: checkin_questions.retire_question(s, user_id, q.id))
    with st.form("add_question", clear_on_submit=True):
        prompt = st.text_input("New question", max_chars=survey.MAX_PROMPT)
        kind = st.radio(
            "Answer",
            ["scale", "text"],
            format_func={"scale": "1 to 5", "text": "In words"}.get,
            horizontal=True,
        )
        visibility = st.radio(
            "Who sees the answers",
            ["revealed", "private"],
            format_func={
                "revealed": "Both of us, after we both answered",
                "private": "Only the one who answers",
            }.get,
        )
        if st.form_submit_button("Add question"):
            try:
                with web.action() as session:
                    checkin_questions.add_question(
                        session, user_id, prompt, kind=kind, visibility=visibility
                    )
            except TendError as exc:
                web.show_error(exc, {"prompt": "New question"})
            else:
                st.rerun()


def _do(fn) -> None:  # type: ignore[no-untyped-def]
    try:
        with web.action() as session:
            fn(session)
    except TendError as exc:
        web.show_error(exc)
    else:
        st.rerun()


# --- history ------------------------------------------------------------------------------
STATUS_WORDS = {
    "pending": "not started",
    "draft": "started",
    "submitted": "answered",
    "missed": "missed",
}


def history_page() -> None:
    user = web.current_user()
    # One read for the list and the past review picked below it (both need the couple).
    with web.reading() as session:
        _history(session, user)


def _history(session: Session, user: User) -> None:
    rounds = checkin_history.history(session, user.id)
    names = checkin_history.shown_names(session, user.id)
    st.title("Check-in history")
    if not rounds:
        st.write(
            "No check-ins yet. The first opens on the day your regular check-in agreement "
            "says, or start one now on the check-in page."
        )
        st.page_link(web.page("checkin"), label="Go to the check-in", icon="➡️")
        return
    revealed = [r for r in rounds if r.revealed]
    when = {r.round_id: _local(r.opened_at, user.timezone) for r in rounds}
    # One markdown element for all rounds, a paragraph each: 120 elements (ten years)
    # cost more to send than to write.
    lines = []
    for r in rounds:
        who = ", ".join(
            f"{names.get(uid, '?')}: {STATUS_WORDS.get(s, s)}" for uid, s in r.statuses.items()
        )
        totals = " · ".join(f"{names.get(uid, '?')} {t}/20" for uid, t in r.totals.items())
        state = (
            "reviewed"
            if r.reviewed
            else "revealed"
            if r.revealed
            else "closed"
            if r.closed
            else "open"
        )
        lines.append(
            f"**{when[r.round_id]}** — {state}  \n{web.md(who)}"
            + (f"  \n{web.md(totals)}" if totals else "")
        )
    st.markdown("\n\n".join(lines))
    if revealed:
        st.divider()
        labels = {r.round_id: when[r.round_id] for r in revealed}
        choice = st.selectbox(
            "Look at a past review",
            list(labels),
            format_func=labels.__getitem__,
        )
        _review(user.id, checkin_review.review(session, user.id, choice))


# --- topics ----------------------------------------------------------------------------------
TOPIC_WORDS = {"open": "Open", "working": "Working on it", "resolved": "Resolved"}


def topics_page() -> None:
    user = web.current_user()
    with web.action() as session:
        topics = checkin_history.topics(session, user.id)
    st.title("Topics")
    st.caption(
        "Concerns from your check-ins become topics once you have both answered. A topic "
        "raised in two of the last three check-ins, or again after it was resolved, is "
        "marked as coming back."
    )
    if not topics:
        st.write(
            "No topics yet. A concern either of you raises in a check-in becomes a topic "
            "once you have both answered. You can also add one here."
        )
    for topic in topics:
        with st.container(border=True):
            flag = " 🔁 keeps coming back" if topic.keeps_coming_back else ""
            st.markdown(f"**{web.md(topic.title)}**{flag}")
            status = st.selectbox(
                "Status",
                list(TOPIC_WORDS),
                index=list(TOPIC_WORDS).index(topic.status),
                format_func=TOPIC_WORDS.get,
                key=f"topic_status_{topic.id}",
            )
            if status != topic.status:
                _do(
                    lambda s, t=topic, st_=status: checkin_history.set_topic_status(
                        s, user.id, t.id, st_
                    )
                )
            with st.expander(f"History (raised {topic.times_raised}×)"):
                with web.action() as session:
                    _view, entries = checkin_history.topic_history(session, user.id, topic.id)
                for e in entries:
                    what = {"created": "created", "raised": "raised in a check-in"}.get(
                        e.event, f"marked {TOPIC_WORDS.get(e.status or '', e.status)}"
                    )
                    by = f" by {e.by}" if e.by else ""
                    st.markdown(f"- {_local(e.at, user.timezone)}: {web.md(what + by)}")
    with st.form("new_topic", clear_on_submit=True):
        title = st.text_input("A topic to keep an eye on", max_chars=80)
        if st.form_submit_button("Add topic"):
            _do(lambda s: checkin_history.add_topic(s, user.id, title))


# --- trends ----------------------------------------------------------------------------------
def trends_page() -> None:
    user = web.current_user()
    with web.reading() as session:
        data = trends.trends(session, user.id)
    st.title("Trends")
    if data.warnings:
        st.subheader("Worth a look")
        for w in data.warnings:
            show_warning(w, user.id, "trends")
    show_talked_about(data.talked_about)
    if not data.satisfaction:
        st.write("Trends appear after your first check-in that you both answered.")
        st.page_link(web.page("checkin"), label="Go to the check-in", icon="➡️")
    if data.satisfaction:
        st.subheader("Satisfaction (0-20)")
        _chart("satisfaction", data.satisfaction)
    if data.gaps:
        st.subheader("Gap between you")
        _chart("gaps", data.gaps)
    if data.adherence:
        st.subheader("Agreements kept (1-5)")
        _chart("adherence", data.adherence)
    if any(c["count"] for c in data.cooldowns):
        st.subheader("Cooldowns per month")
        _chart("cooldowns", data.cooldowns)
    if data.open_topics:
        st.subheader("Open topics")
        _chart("open_topics", data.open_topics)
    if data.participation:
        st.subheader("Check-ins answered and missed")
        rows = [
            {"opened_at": r["opened_at"], "what": what, "count": r[what]}
            for r in data.participation
            for what in ("answered", "missed")
        ]
        _chart("participation", rows)


def _slug(key: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in key)


def show_warning(w: Any, user_id: int, where: str, *, brief: bool = False) -> None:
    """One early warning: what it is, its evidence (numbers, rounds, events), one next
    step, and "We talked about it" (it stays away until it gets worse)."""
    with st.container(border=True, key=f"warning-{where}-{_slug(w.key)}"):
        st.markdown(f"⚠️ **{web.md(w.title)}**")
        if not brief:
            st.markdown(web.md(w.explanation))
        if w.evidence:
            st.markdown("\n".join(f"- {web.md(line)}" for line in w.evidence))
        st.markdown(f"*Next step:* {web.md(w.next_step)}")
        if st.button(
            "We talked about it",
            key=f"talked-{where}-{_slug(w.key)}",
            help="Hides it for both of you until it gets worse.",
        ):
            _do(lambda s: warnings.mark_talked_about(s, user_id, w.key))


def show_talked_about(talked: list[Any]) -> None:
    if not talked:
        return
    with st.expander(f"You talked about {len(talked)} of them"):
        for w in talked:
            st.markdown(f"- {web.md(w.title)}")
        st.caption("Each comes back here if it gets worse.")


def _trend_charts() -> dict[str, alt.Chart]:
    """The six trend charts, without their rows."""
    width = "container"
    return {
        "satisfaction": alt.Chart()
        .mark_line(point=True)
        .encode(
            x=alt.X("opened_at:T", title=None),
            y=alt.Y("total:Q", scale=alt.Scale(domain=[0, 20]), title="Score"),
            color=alt.Color("user:N", title=None, legend=alt.Legend(orient="bottom")),
        )
        .properties(width=width, height=220),
        "gaps": alt.Chart()
        .mark_bar()
        .encode(x=alt.X("opened_at:T", title=None), y=alt.Y("gap:Q", title="Points apart"))
        .properties(width=width, height=160),
        "adherence": alt.Chart()
        .mark_line(point=True)
        .encode(
            x=alt.X("opened_at:T", title=None),
            y=alt.Y("mean:Q", scale=alt.Scale(domain=[1, 5]), title="Average"),
            color=alt.Color("agreement:N", title=None, legend=alt.Legend(orient="bottom")),
        )
        .properties(width=width, height=220),
        "cooldowns": alt.Chart()
        .mark_bar()
        .encode(
            x=alt.X("month:T", timeUnit="yearmonth", title=None),
            y=alt.Y("count:Q", title="Cooldowns"),
        )
        .properties(width=width, height=160),
        "open_topics": alt.Chart()
        .mark_area(opacity=0.6)
        .encode(x=alt.X("opened_at:T", title=None), y=alt.Y("open:Q", title="Open topics"))
        .properties(width=width, height=160),
        "participation": alt.Chart()
        .mark_bar()
        .encode(
            x=alt.X("opened_at:T", title=None),
            y=alt.Y("count:Q", title="Partners", stack=True),
            color=alt.Color("what:N", title=None, legend=alt.Legend(orient="bottom")),
        )
        .properties(width=width, height=160),
    }


@functools.cache
def _trend_specs() -> dict[str, dict[str, Any]]:
    """The charts' Vega-Lite specs, built and validated by Altair once per process.

    The charts never change, only their rows: ``st.altair_chart`` would validate each
    spec against Vega-Lite's JSON schema and serialize it on every run (pyinstrument:
    about 40% of the trends page at ten years). The rows go in as a frame instead."""
    specs = {}
    for name, chart in _trend_charts().items():
        spec = chart.to_dict()
        spec.pop("data", None)
        spec.pop("datasets", None)
        specs[name] = spec
    return specs


def _chart(name: str, rows: list[dict]) -> None:
    # A copy: Streamlit may add to the spec it is given (theme, data), and ours is shared.
    spec = copy.deepcopy(_trend_specs()[name])
    st.vega_lite_chart(_table(rows), spec, width="stretch")


def _table(rows: list[dict]) -> pa.Table:
    """The chart's rows as an Arrow table, which Streamlit sends as is: moments as Arrow
    timestamps (converted in C; the chart reads them as temporal values), calendar days
    as ISO strings. Not inline ``alt.Data(values=...)``: Altair validates inline values
    row by row against its JSON schema, which made ten years of history several times
    slower to draw; and not a pandas frame, which Streamlit would convert to Arrow
    column by column."""
    columns = {}
    for key in rows[0] if rows else ():
        values = [row[key] for row in rows]
        if isinstance(values[0], dt.date) and not isinstance(values[0], dt.datetime):
            values = [v.isoformat() for v in values]
        columns[key] = pa.array(values)
    return pa.table(columns)


# --- the talk after a check-in, and answering alone (checkins.talk, checkins.solo) ---------
WHO_BOTH = 0


def _call(  # type: ignore[no-untyped-def]
    fn, labels: dict[str, str] | None = None, *, clear: tuple[str, ...] = ()
) -> None:
    """One action; on bad input the message, and the form keeps what was typed (the
    widgets in ``clear`` are emptied only once it worked)."""
    try:
        with web.action() as session:
            fn(session)
    except TendError as exc:
        web.show_error(exc, labels)
        return
    for key in clear:
        st.session_state.pop(key, None)
    # The whole page: a press inside the talk's fragment may come in a full run.
    st.rerun()


# --- a partner who stopped answering ----------------------------------------------------------
def solo_note(user: User) -> None:
    """Shown on the check-in and talk pages to the partner who keeps answering."""
    with web.reading() as session:
        view = solo.solo_view(session, user.id)
        points = solo.own_trend(session, user.id) if view else []
    if view is None:
        return
    name = web.md(view.partner_name)
    with st.container(border=True, key="solo_note"):
        st.markdown(
            f"**{name} has not answered the last two check-ins.** That happens: life gets "
            "full, or a check-in can feel heavy. You can keep answering for yourself. What "
            f"you write stays yours: {name} sees it only in a round you both answer."
        )
        if view.raise_requested:
            st.caption("It is on the agenda of your next talk.")
        elif st.button("Raise it at our next talk", key="solo_raise"):
            _call(lambda s: solo.raise_at_next_talk(s, user.id))
        if points:
            st.caption("Your own satisfaction over time (out of 20), from your answers only:")
            st.line_chart(
                {"When": [p.opened_at for p in points], "You": [p.total for p in points]},
                x="When",
                y="You",
                height=160,
            )


# --- the talk ---------------------------------------------------------------------------------
def talk_page() -> None:
    user = web.current_user()
    st.title("Our talk")
    solo_note(user)
    with web.reading() as session:
        round_id = web.query_id("round") or talk.talk_round_id(session, user.id)
        try:
            view = talk.talk_view(session, user.id, round_id) if round_id else None
        except TendError as exc:
            web.show_error(exc)
            return
    if view is None:
        st.info(
            "The talk opens once you have both answered a check-in. Tend then lays out what "
            "to talk about, one item at a time."
        )
        st.page_link(web.page("checkin"), label="Open the check-in", icon="➡️")
        return
    st.caption(
        "Go through it together, on one screen or each on your own device: you both see "
        "the same item. A cooldown pauses the talk; you come back to the same item."
    )
    if view.finished_at is None:
        _when(user, view)
    _talk(user.id, user.timezone, view.round_id)


def _when(user: User, view: TalkView) -> None:
    partner = web.md(view.names.get(view.partner_id, "Your partner"))
    with st.expander("When to talk", expanded=view.proposed_for is None or not view.agreed):
        if view.proposed_for is not None:
            at = _local(view.proposed_for, user.timezone)
            if view.agreed:
                st.success(f"Agreed: {at}. It is in both your calendars.")
            elif view.proposed_by_me:
                st.info(f"You proposed {at}; waiting for {partner} to accept.")
            else:
                st.info(f"{partner} proposes {at}.")
                if st.button("Accept this time", key="talk_accept"):
                    _call(lambda s: talk.accept_time(s, user.id, view.round_id))
        zone = ZoneInfo(user.timezone or "UTC")
        with st.form("talk_when"):
            cols = st.columns(2)
            day = cols[0].date_input("Day", key="talk_day", format="YYYY-MM-DD")
            time = cols[1].time_input("Time", key="talk_time", value=dt.time(19, 0))
            propose = st.form_submit_button("Propose this time")
        if propose and not (day and time):
            st.error("Pick a day and a time.")
        elif propose:
            when = dt.datetime.combine(day, time, tzinfo=zone)  # type: ignore[arg-type]
            _call(lambda s: talk.propose_time(s, user.id, view.round_id, when), {"when": "When"})


@st.fragment(run_every=dt.timedelta(seconds=2))
def _talk(user_id: int, timezone: str, round_id: int) -> None:
    with web.reading() as session:
        view = talk.talk_view(session, user_id, round_id)
    if view.finished_at is not None:
        st.success(f"You finished this talk on {_local(view.finished_at, timezone)}.")
        _actions(view, user_id, editable=False)
        return
    item = view.current
    with st.container(border=True, key="talk_item"):
        st.caption(
            f"Item {view.position + 1} of {len(view.items)} · "
            f"{agenda.SECTION_TITLES.get(item.section, '')}"
        )
        st.subheader(web.md(item.title))
        if item.first:
            st.warning("What ended it last time is back. Take it first, and take it slowly.")
        lines = [
            f"**{web.md(view.names.get(who, 'Former partner'))}:** {web.md(text)}"
            if who is not None
            else web.md(text)
            for who, text in item.lines
        ]
        if lines:
            st.markdown("\n\n".join(lines))
        partner_note = view.partner_notes.get(item.key)
        if partner_note:
            partner = web.md(view.names.get(view.partner_id, "Your partner"))
            st.markdown(f"*{partner}'s note:* {web.md(partner_note)}")
        with st.form(f"talk_note_{round_id}_{item.key}"):
            note = st.text_area(
                "Your note on this item",
                value=view.my_notes.get(item.key, ""),
                key=f"talk_note_text_{round_id}_{item.key}",
                max_chars=talk.MAX_NOTE,
            )
            save = st.form_submit_button("Save note")
        if save:
            _call(
                lambda s: talk.save_note(s, user_id, round_id, item.key, note),
                {"note": "Your note on this item"},
            )
    if view.paused_by_cooldown:
        st.warning(talk.PAUSED, icon=":material/pause_circle:")
    else:
        cols = st.columns(3)
        if view.position > 0 and cols[0].button("Back", key="talk_back"):
            _move(user_id, round_id, view.position, -1)
        if not view.at_end and cols[1].button("Next", key="talk_next", type="primary"):
            _move(user_id, round_id, view.position, 1)
        if cols[2].button("I need a cooldown", key="talk_cooldown", icon=":material/pause_circle:"):
            _call(lambda s: talk.agreements_port.start_cooldown(s, user_id))
    _actions(view, user_id, editable=True)
    if view.at_end and not view.paused_by_cooldown:
        st.divider()
        st.write("That was the last item. Finishing marks this check-in as reviewed together.")
        if st.button("Finish the talk", key="talk_finish", type="primary"):
            _call(lambda s: talk.finish(s, user_id, round_id))


def _move(user_id: int, round_id: int, seen: int, step: int) -> None:
    _call(
        lambda s: talk.move(s, user_id, round_id, seen_position=seen, step=step),
    )


def _actions(view: TalkView, user_id: int, *, editable: bool) -> None:
    st.subheader("What we will do")
    if view.actions:
        st.markdown(
            "\n".join(
                f"- {web.md(a.text)} — {web.md(a.owner)}"
                + (f", by {a.due_on:%A %d %B}" if a.due_on else "")
                for a in view.actions
            )
        )
    elif not editable:
        st.caption("No action items this time.")
    if not editable:
        return
    owners = {WHO_BOTH: "Both of us", user_id: "Me", view.partner_id: view.names[view.partner_id]}
    keys = tuple(f"talk_action_{part}_{view.round_id}" for part in ("text", "owner", "due"))
    with st.form(f"talk_action_{view.round_id}"):
        text = st.text_input("We will…", key=keys[0], max_chars=500)
        cols = st.columns(2)
        owner = cols[0].selectbox("Who", list(owners), format_func=owners.get, key=keys[1])
        due = cols[1].date_input("By when", value=None, key=keys[2], format="YYYY-MM-DD")
        add = st.form_submit_button("Add")
    if add:
        _call(
            lambda s: talk.add_action(s, user_id, view.round_id, text, owner or None, due),
            {"text": "We will…", "owner": "Who", "due_on": "By when"},
            clear=keys,
        )
