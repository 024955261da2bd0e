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

from checkins import (
    agenda,
    answers,
    rules,
    solo,
    steps,
    survey,
    talk,
    trend_summary,
    trends,
    warnings,
)
from checkins import history as checkin_history
from checkins import questions as checkin_questions
from checkins import review as checkin_review
from checkins import rounds as checkin_rounds
from checkins import views as checkin_views
from checkins.talk import TalkView
from checkins.views import AdherenceInput, ConcernInput, RoundQuestions, Sheet
from couples import service as couples
from couples.models import User
from infra.db import utcnow
from infra.errors import TendError
from privacy.pages import show_support_panel
from tend import web

NEW_TOPIC = -1
Topics = list[checkin_history.TopicView]


def _local(at: dt.datetime, tz: str) -> str:
    return f"{at.astimezone(ZoneInfo(tz or 'UTC')):%a %d %b %Y, %H:%M}"


# --- this round -----------------------------------------------------------------------------
def checkin_page() -> None:
    user = web.current_user()
    # Drawing the page only reads: without SQLite's write lock, so sessions viewing
    # their check-in at the same moment do not queue behind each other (web_sessions).
    with web.reading() as session:
        membership = couples.membership_of(session, user.id)
        couple = membership.couple if membership else None
        # As couples.partner_of / shown_name, from the membership already loaded.
        other = next((m for m in couple.members if m.user_id != user.id), None) if couple else None
        partner = other.user if other else None
        partner_name = couples.member_name(other, user.id) if other else ""
        status = checkin_rounds.current_status(session, user.id) if couple else None
        review = (
            checkin_review.review(session, user.id, status.round.id)
            if status is not None and status.phase == "review"
            else None
        )
        solo_found = (
            read_solo_note(session, user.id)
            if partner is not None and couple.ended_at is None
            else None
        )
    st.title("Check-in")
    if couple is None or partner is None:
        st.info("Check-ins start once your partner has joined your couple space.")
        st.page_link(web.page("couple"), label="Open your couple space", icon="➡️")
        return
    if couple.ended_at is not None:
        # Read-only: what was revealed, nothing to start, answer or confirm.
        web.read_only_note()
        if review is not None:
            st.subheader("Your last check-in")
            _review(user.id, review, read_only=True)
        return
    solo_note(user, solo_found)
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
    # An essential fact, not a caption: as readable as the rest.
    st.markdown(f"**Answer by {_local(status.round.due_at, user.timezone)}.**")
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
    with web.reading() as session:
        held = checkin_rounds.opening_mail_notes(session, user_id)
    if held:
        # Quiet hours: nothing is delayed silently.
        st.markdown("If you start one now: " + " ".join(web.md(note) for note in held))
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
    with web.reading() as session:
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
    """One step of my sheet: its questions, saved as they are answered, then Back and
    Next (Submit on the last step, the questions just for me, which everyone reaches)."""
    with web.reading() as session:
        questions = checkin_rounds.round_questions(session, user_id, round_id)
        stored = answers.my_answers(session, user_id, round_id)
        where = steps.position(session, user_id, round_id)
        topics = (
            checkin_history.topics(session, user_id) if where.current.key == steps.WORDS else []
        )
        partner = couples.partner_of(session, user_id)
        partner_name = couples.shown_name(session, user_id, partner.id) if partner else ""
        to_answer = (
            [
                step
                for step in steps.steps_with_problems(
                    answers.missing(session, user_id, round_id), where.steps
                )
                if step != where.current
            ]
            if where.next is None and not submitted
            else []
        )
    step = where.current
    with st.container(key=f"ck_step_{step.key}"):
        st.progress(where.number / where.total, text=f"Step {where.number} of {where.total}")
        st.subheader(step.title)
    _focus_step_on_arrival(step.key)
    if st.session_state.pop(UPDATED_ELSEWHERE, None) == step.key:
        st.info(UPDATED_NOTE)
    part = _STEP_FIELDS[step.key](round_id, questions, stored, topics, partner_name or "my partner")
    # Filled after saving: the support panel, for this person only, when it is needed.
    support_slot = st.container()
    # The step as this tab last showed it saved: another device's later save is not
    # overwritten by this one (checkins.steps.save_step).
    base_key = _base_key(round_id, step.key)
    try:
        with web.action() as session:
            outcome = steps.save_step(
                session, user_id, round_id, step.key, part, base=st.session_state.get(base_key)
            )
    except TendError as exc:
        web.show_error(exc, _labels(questions))
        saved = False
    else:
        saved = outcome in (steps.SAVED, steps.UNCHANGED)
        if outcome == steps.NEWER_ELSEWHERE:
            _show_saved_answers(round_id, step.key)
        elif outcome == steps.BOTH_CHANGED:
            _choose_between_devices(user_id, round_id, step.key, part, questions)
        else:
            st.session_state[base_key] = part
        if outcome == steps.SAVED:
            # On the person's own clock, as every time Tend shows.
            zone = ZoneInfo(web.current_user().timezone or "UTC")
            st.caption(f"Saved as a draft at {utcnow().astimezone(zone):%H:%M}.")
        elif outcome == steps.UNCHANGED and not submitted:
            st.caption("Your answers are saved as you go.")
    if step.key == steps.SAFETY and survey.safety_is_concerning(part.values):
        with support_slot:
            show_support_panel(key=f"support_{round_id}")
    if to_answer:
        st.write("Still to answer before you submit:")
        with st.container(horizontal=True):
            for missing in to_answer:
                if st.button(f"Go to {missing.title}", key=f"cknav_to_{round_id}_{missing.key}"):
                    _go(user_id, round_id, missing.key, saved=saved)
    _step_buttons(user_id, round_id, where, saved=saved, submitted=submitted, questions=questions)


def _step_buttons(
    user_id: int,
    round_id: int,
    where: steps.Position,
    *,
    saved: bool,
    submitted: bool,
    questions: RoundQuestions,
) -> None:
    # Keyed by the step they were drawn on: a second press of Next that reaches the
    # server after the first moved on presses a button that is gone, not Next again.
    key = f"{round_id}_{where.current.key}"
    with st.container(horizontal=True):
        back = where.previous is not None and st.button("Back", key=f"cknav_back_{key}")
        forward = where.next is not None and st.button(
            "Next", type="primary", key=f"cknav_next_{key}"
        )
        submit = (
            where.next is None
            and not submitted
            and st.button("Submit my answers", type="primary", key=f"cknav_submit_{key}")
        )
    target = where.previous if back else where.next if forward else None
    if target is not None:
        _go(user_id, round_id, target.key, saved=saved)
    if submit and not saved:
        st.error(FIX_FIRST)
    elif submit:
        try:
            with web.action() as session:
                answers.submit(session, user_id, round_id)
        except TendError as exc:
            web.show_error(exc, _labels(questions))
        else:
            st.rerun()


UPDATED_ELSEWHERE = "ck_updated_elsewhere"
UPDATED_NOTE = "You changed this step on another device: here is what you saved there."


def _base_key(round_id: int, step: str) -> str:
    # Under the fields' prefix: forgotten with them (moving on, or reloaded from saved).
    return _key(round_id, f"base_{step}")


def _forget_fields(round_id: int) -> None:
    """Drop this round's fields from the tab: they are drawn again from what is saved."""
    prefix = _key(round_id, "")
    for name in [k for k in st.session_state if str(k).startswith(prefix)]:
        del st.session_state[name]


def _show_saved_answers(round_id: int, step: str) -> None:
    """This tab was behind: the step as saved on another device, said once."""
    _forget_fields(round_id)
    st.session_state[UPDATED_ELSEWHERE] = step
    st.rerun()


def _choose_between_devices(
    user_id: int, round_id: int, step: str, part: Sheet, questions: RoundQuestions
) -> None:
    """The step was changed here and, differently, on another device since this tab last
    showed it saved: nothing is saved until the person says which to keep."""
    st.warning(
        "You also changed this step on another device, and saved something different "
        "there. Which answers should stay?"
    )
    with st.container(horizontal=True):
        keep = st.button("Keep what is here", key=f"ck_keep_here_{round_id}_{step}")
        show = st.button("Show what I saved there", key=f"ck_show_there_{round_id}_{step}")
    if show:
        _show_saved_answers(round_id, step)
    elif keep:
        try:
            with web.action() as session:
                steps.save_step(session, user_id, round_id, step, part)
        except TendError as exc:
            web.show_error(exc, _labels(questions))
        else:
            st.session_state[_base_key(round_id, step)] = part
            st.rerun()


def _go(user_id: int, round_id: int, step: str, *, saved: bool) -> None:
    """Move to ``step``, unless this step could not be saved: then stay, with what was
    typed still in its fields and the message beside them."""
    if not saved:
        st.error(FIX_FIRST)
        return
    try:
        with web.action() as session:
            steps.move(session, user_id, round_id, step)
    except TendError as exc:
        web.show_error(exc)
        return
    # The next step's fields start from what is saved (on this device or another).
    _forget_fields(round_id)
    st.session_state[ARRIVED] = step
    st.rerun()


ARRIVED = "cknav_arrived"
FIX_FIRST = "Fix what is marked above to move on. What you typed is still here."
FOCUS_JS = """
<script>
(function () {
  var step = document.querySelector(".st-key-ck_step_%s");
  var heading = step && step.querySelector("h3");
  if (!heading) return;
  step.style.scrollMarginTop = "4.5rem";  // clear of the page's fixed header
  step.scrollIntoView({block: "start"});
  heading.setAttribute("tabindex", "-1");
  heading.focus({preventScroll: true});
})();
</script>"""


def _focus_step_on_arrival(step: str) -> None:
    """After Back or Next, bring the new step (its progress and heading) to the top and
    focus its heading: on a phone the buttons are at the bottom of a step, and the next
    step starts at its top."""
    if st.session_state.pop(ARRIVED, None) == step:
        st.html(FOCUS_JS % step, unsafe_allow_javascript=True)


def _feel_fields(
    round_id: int, questions: RoundQuestions, stored: Sheet, topics: Topics, partner_name: str
) -> Sheet:
    for q in survey.SATISFACTION:
        _scale(round_id, q.key, q.prompt, q.options, stored.values.get(q.key))
    return Sheet(
        values={q.key: st.session_state[_key(round_id, q.key)] for q in survey.SATISFACTION}
    )


def _certainty_fields(
    round_id: int, questions: RoundQuestions, stored: Sheet, topics: Topics, partner_name: str
) -> Sheet:
    q = survey.CERTAINTY
    _scale(round_id, q.key, q.prompt, q.options, stored.values.get(q.key))
    return Sheet(values={q.key: st.session_state[_key(round_id, q.key)]})


def _agreement_fields(
    round_id: int, questions: RoundQuestions, stored: Sheet, topics: Topics, partner_name: str
) -> Sheet:
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
    return Sheet(adherence=adherence)


def _word_fields(
    round_id: int, questions: RoundQuestions, stored: Sheet, topics: Topics, partner_name: str
) -> Sheet:
    wkey = _key(round_id, "went_well")
    _default(wkey, stored.texts.get("went_well", ""))
    st.text_area(survey.WENT_WELL.prompt, key=wkey, max_chars=survey.MAX_TEXT)
    st.markdown("**What is on my mind**")
    concerns = _concerns(round_id, stored, topics)
    return Sheet(texts={"went_well": st.session_state[wkey]}, concerns=concerns)


def _own_fields(
    round_id: int, questions: RoundQuestions, stored: Sheet, topics: Topics, partner_name: str
) -> Sheet:
    part = Sheet()
    for cq in questions.custom:
        item = survey.custom_key(cq.id)
        label = web.md(cq.prompt) + (
            " (private: only you see the answer)" if cq.visibility == "private" else ""
        )
        if cq.kind == survey.SCALE:
            _scale(round_id, item, label, survey.CUSTOM_SCALE_OPTIONS, stored.values.get(item))
            part.values[item] = st.session_state[_key(round_id, item)]
        else:
            key = _key(round_id, item)
            _default(key, stored.texts.get(item, ""))
            st.text_area(label, key=key, max_chars=survey.MAX_TEXT)
            part.texts[item] = st.session_state[key]
    return part


def _safety_fields(
    round_id: int, questions: RoundQuestions, stored: Sheet, topics: Topics, partner_name: str
) -> Sheet:
    st.caption(
        "Only you will ever see these answers: not your partner, not a shared chart, not a "
        "mail. Answering them does not show your partner that you have started."
    )
    part = Sheet()
    for q in survey.SAFETY_LANE:
        key = _key(round_id, q.key)
        if q.kind == survey.TEXT:
            _default(key, stored.texts.get(q.key, ""))
            st.text_area(q.prompt, key=key, max_chars=survey.MAX_TEXT, help=q.help or None)
            part.texts[q.key] = st.session_state[key]
        else:
            _scale(round_id, q.key, q.prompt, q.options, stored.values.get(q.key), q.help)
            part.values[q.key] = st.session_state[key]
    return part


_STEP_FIELDS = {
    steps.FEEL: _feel_fields,
    steps.CERTAINTY: _certainty_fields,
    steps.AGREEMENTS: _agreement_fields,
    steps.WORDS: _word_fields,
    steps.OWN: _own_fields,
    steps.SAFETY: _safety_fields,
}


def _labels(questions: checkin_views.RoundQuestions) -> dict[str, str]:
    labels = {q.key: q.prompt for q in questions.built_in}
    labels |= {survey.custom_key(q.id): q.prompt for q in questions.custom}
    labels |= {f"agreement:{a.agreement_id}": a.title for a in questions.agreements}
    return labels


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
def _review(user_id: int, review: checkin_review.Review, *, read_only: bool = False) -> None:
    round_id = review.round.id
    partner = review.partner
    for w in review.warnings:  # first: what ended it last time is back
        _warning(w)
    mine_total, theirs_total = review.mine.satisfaction, review.theirs.satisfaction
    cols = st.columns(2)
    _total(cols[0], "You", mine_total, review.previous_totals["me"])
    _total(cols[1], partner, theirs_total, review.previous_totals["partner"])
    st.markdown(
        "Satisfaction, out of 20. Answers two or more steps apart on their scale are marked ⚠️."
    )

    # Each block is one markdown element (a paragraph per row): a review is drawn on
    # every run of the check-in and history pages, and elements cost more than text.
    # Answers are shown in the words each of you chose, with the scale they were chosen
    # from beside them.
    st.subheader("Side by side")
    st.markdown(
        "\n\n".join(
            f"{'⚠️ ' if row.highlight else ''}**{web.md(row.label)}**  \n"
            f"You: **{_word(row.options, row.mine)}** · "
            f"{web.md(partner)}: **{_word(row.options, row.theirs)}**  \n"
            f"Scale: {_scale_line(row.options, [('you', row.mine), (partner, row.theirs)])}"
            for row in review.scales
        )
    )
    if review.adherence:
        st.subheader("Agreements")
        st.markdown(
            f"How well each agreement was kept, on the scale "
            f"{_scale_line(survey.ADHERENCE_OPTIONS, [])}. ⚠️ marks where one of you "
            "thinks it was kept and the other does not."
        )
        lines = []
        options = survey.ADHERENCE_OPTIONS
        for row in review.adherence:
            mark = "⚠️ " if row.highlight else ""
            whose = "you" if row.about == "you" else web.md(row.about)
            lines.append(
                f"{mark}**{web.md(row.title)}** — kept by {whose}: you say "
                f"**{_word(options, row.by_me)}**, "
                f"{web.md(partner)} says **{_word(options, row.by_partner)}**"
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
    if read_only:
        if review.round.reviewed_at:
            st.markdown(f"Reviewed together on {review.round.reviewed_at:%d %b %Y}.")
        return
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
    _reviewed_together(user_id, review)


def _warning(w: rules.EarlyWarning) -> None:
    st.warning(
        f"**{web.md(w.title)}**  \n{web.md(w.explanation)}  \n*Next step:* {web.md(w.next_step)}"
    )


def _reviewed_together(user_id: int, review: checkin_review.Review) -> None:
    """Reviewed together takes both: each confirms, and it is done when both have."""
    together = checkin_review.reviewed_together(review, user_id)
    partner = web.md(review.partner)
    if together.at is not None:
        st.markdown(f"Reviewed together on {together.at:%d %b %Y}.")
        return
    if together.by_me:
        st.info(
            f"You confirmed that you went through this together. It counts as reviewed "
            f"together once {partner} confirms too."
        )
        return
    if together.by_partner:
        st.info(f"{partner} confirmed that you went through this together.")
    if st.button("We went through it together", key=f"reviewed_{review.round.id}"):
        try:
            with web.action() as session:
                checkin_review.mark_reviewed(session, user_id, review.round.id)
        except TendError as exc:
            web.show_error(exc)
        else:
            st.rerun()


def _word(options: tuple[tuple[int, str], ...], value: int | None) -> str:
    """The words a person chose on a scale ("Very"), or "—" for no answer."""
    if value is None:
        return "—"
    return dict(options).get(value, str(value))


def _scale_line(options: tuple[tuple[int, str], ...], marks: list[tuple[str, int | None]]) -> str:
    """The scale, lowest first, with who chose each step after it: "Not at all ·
    Somewhat (Kestrel) · Very (you) · …". Names are escaped (typed by people)."""
    steps = []
    for value, words in options:
        who = [web.md(name) for name, chosen in marks if chosen == value]
        steps.append(f"{words} (*{' and '.join(who)}*)" if who else words)
    return " · ".join(steps)


def _total(col, who: str, total: int | None, previous: int | None) -> None:  # type: ignore[no-untyped-def]
    delta = None if total is None or previous is None else total - previous
    col.metric(web.md(who), "—" if total is None else f"{total} / 20", delta=delta)


def _settings(user_id: int) -> None:
    with web.reading() as session:
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
HISTORY_PAGE = checkin_history.HISTORY_PAGE
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


def _shown_key(user_id: int) -> str:
    return f"checkin_history_shown_{user_id}"


def _show_older(user_id: int) -> None:
    key = _shown_key(user_id)
    st.session_state[key] = st.session_state.get(key, HISTORY_PAGE) + HISTORY_PAGE


def _history(session: Session, user: User) -> None:
    # The newest year of rounds first; "Show older check-ins" adds a year at a time (kept
    # in the session's state, so a rerun shows as many). Only those rounds are read.
    shown = max(HISTORY_PAGE, int(st.session_state.get(_shown_key(user.id), HISTORY_PAGE)))
    page = checkin_history.history(session, user.id, limit=shown)
    rounds = page.rounds
    names = checkin_history.shown_names(session, user.id)
    read_only = couples.partner_has_left(session, user.id)
    st.title("Check-in history")
    if read_only:
        web.read_only_note()
    if not rounds and read_only:
        st.write("You had no check-ins together.")
        return
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
    if page.total > HISTORY_PAGE:
        st.caption(f"Showing {len(rounds)} of {page.total} check-ins")
    if page.more:
        st.button("Show older check-ins", on_click=_show_older, args=(user.id,))
    if revealed:
        st.divider()
        labels = {r.round_id: when[r.round_id] for r in revealed}
        choice = st.selectbox(
            "Look at a past review",
            list(labels),
            format_func=labels.__getitem__,
            # Keyed: the round picked stays picked when older ones are added.
            key=f"checkin_history_review_{user.id}",
        )
        _review(
            user.id,
            checkin_review.review(session, user.id, choice),
            read_only=read_only,
        )


# --- topics ----------------------------------------------------------------------------------
TOPIC_WORDS = {"open": "Open", "working": "Working on it", "resolved": "Resolved"}


def topics_page() -> None:
    user = web.current_user()
    with web.action() as session:
        topics = checkin_history.topics(session, user.id)
        read_only = couples.partner_has_left(session, user.id)
    st.title("Topics")
    if read_only:
        web.read_only_note()
    st.caption(
        "Concerns from your check-ins become topics once you have both answered. A topic "
        "raised in two of the last three check-ins, or again after it was resolved, is "
        "marked as coming back."
    )
    if not topics:
        st.write(
            "No topics were raised."
            if read_only
            else "No topics yet. A concern either of you raises in a check-in becomes a "
            "topic once you have both answered. You can also add one here."
        )
    for topic in topics:
        with st.container(border=True):
            flag = " 🔁 keeps coming back" if topic.keeps_coming_back else ""
            st.markdown(f"**{web.md(topic.title)}**{flag}")
            if read_only:
                st.markdown(f"Status: {TOPIC_WORDS.get(topic.status, topic.status)}")
            status = (
                topic.status
                if read_only
                else st.selectbox(
                    "Status",
                    list(TOPIC_WORDS),
                    index=list(TOPIC_WORDS).index(topic.status),
                    format_func=TOPIC_WORDS.get,
                    key=f"topic_status_{topic.id}",
                )
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
    if read_only:
        return
    with st.form("new_topic", clear_on_submit=True):
        title = st.text_input("A topic to keep an eye on", max_chars=80)
        if st.form_submit_button("Add topic"):
            _do(lambda s: checkin_history.add_topic(s, user.id, title))


# --- trends ----------------------------------------------------------------------------------
TRENDS_RANGE = "trends_range"
# The range last chosen, kept while the person visits other pages (the radio's own state
# goes when the page does).
TRENDS_CHOSEN = "_tend_trends_range"


def _remember(widget: str, kept: str) -> None:
    """Keep a choice past the page: the widget's own state goes when the page does."""
    st.session_state[kept] = st.session_state[widget]


TRENDS_CHART = "trends_chart"
TRENDS_CHART_CHOSEN = "_tend_trends_chart"  # kept across pages, as the range is
# Each chart: its name in the choice, and its heading.
CHARTS = {
    "satisfaction": ("Satisfaction", "Satisfaction (0-20)"),
    "gaps": ("Gap between you", "Gap between you"),
    "adherence": ("Agreements kept", "Agreements kept (1-5)"),
    "cooldowns": ("Cooldowns", "Cooldowns per month"),
    "open_topics": ("Open topics", "Open topics"),
    "participation": ("Check-ins answered", "Check-ins answered and missed"),
}


def _chart_rows(data: trends.Trends) -> dict[str, list[dict]]:
    """The rows of each chart that has any, in the order the choice offers them."""
    rows = {
        "satisfaction": data.satisfaction,
        "gaps": data.gaps,
        "adherence": data.adherence,
        "cooldowns": data.cooldowns if any(c["count"] for c in data.cooldowns) else [],
        "open_topics": data.open_topics,
        "participation": [
            {"opened_at": r["opened_at"], "what": what, "count": r[what]}
            for r in data.participation
            for what in ("answered", "missed")
        ],
    }
    return {name: chart_rows for name, chart_rows in rows.items() if chart_rows}


def trends_page() -> None:
    user = web.current_user()
    # The range chosen before (the radio below is drawn after the read).
    chosen = st.session_state.get(TRENDS_CHOSEN, trends.DEFAULT_RANGE)
    with web.reading() as session:
        data = trends.trends(session, user.id, months=trends.RANGES.get(chosen))
    st.title("Trends")
    if data.warnings:
        st.subheader("Worth a look")
        for w in data.warnings:
            show_warning(w, user.id, "trends")
    show_talked_about(data.talked_about)
    charts = _chart_rows(data)
    # One chart at a time, chosen here: six drawn at once took a phone's browser as long
    # as six pages of one chart each (docs/performance.md, browser_pages).
    names = list(charts)
    shown_chart = names[0] if names else None
    if len(names) > 1:
        wanted = st.session_state.get(TRENDS_CHART_CHOSEN, names[0])
        shown_chart = st.radio(
            "Chart",
            names,
            index=names.index(wanted if wanted in charts else names[0]),
            format_func=lambda name: CHARTS[name][0],
            key=TRENDS_CHART,
            horizontal=True,
            on_change=_remember,
            args=(TRENDS_CHART, TRENDS_CHART_CHOSEN),
        )
    offered = data.ranges
    if offered:
        # A range no longer offered (the history is shorter): the shortest that holds it all.
        shown = chosen if chosen in offered else offered[-1]
        st.radio(
            "Show",
            offered,
            index=offered.index(shown),
            key=TRENDS_RANGE,
            horizontal=True,
            on_change=_remember,
            args=(TRENDS_RANGE, TRENDS_CHOSEN),
        )
    if not data.satisfaction and offered:
        st.write("No check-in you both answered in this range: choose a longer one.")
    elif not data.satisfaction:
        st.write("Trends appear after your first check-in that you both answered.")
        st.page_link(web.page("checkin"), label="Go to the check-in", icon="➡️")
    if shown_chart in charts:
        st.subheader(CHARTS[shown_chart][1])
        # Its accessible name says what it shows, for someone who cannot see it.
        words = trend_summary.summary(shown_chart, data, user.timezone)
        _chart(shown_chart, charts[shown_chart], words)


# Series colours at 3:1 or more against the page in both themes (white and Streamlit's
# dark #171614; WCAG 1.4.11), told apart by more than hue where it matters (points).
PALETTE = ["#2a6fdb", "#c2551b", "#2e8540", "#8e5bb5", "#a98200", "#0f8b8d", "#c0397a"]
# Axis and legend text at 4.5:1 or more: Streamlit's chart theme greys it to 3.7:1.
CHART_TEXT = {"light": "#3d3b39", "dark": "#d9d6d2"}


def _legend() -> alt.Legend:
    # One entry per line, never cut short: at a phone's width a row of entries ran out
    # of room and the second was cut off.
    return alt.Legend(orient="bottom", direction="vertical", labelLimit=0, title=None)


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
    palette = alt.Scale(range=PALETTE)
    return {
        "satisfaction": alt.Chart()
        .mark_line(point=True)
        .encode(
            x=alt.X("opened_at:T", title=None),
            y=alt.Y("total:Q", scale=alt.Scale(domain=[0, 20]), title="Score"),
            color=alt.Color("user:N", title=None, scale=palette, legend=_legend()),
        )
        .properties(width=width, height=220),
        "gaps": alt.Chart()
        .mark_bar(color=PALETTE[0])
        .encode(x=alt.X("opened_at:T", title=None), y=alt.Y("gap:Q", title="Points apart"))
        .properties(width=width, height=160),
        "adherence": alt.Chart()
        .mark_line(point=True)
        .encode(
            x=alt.X("opened_at:T", title=None),
            y=alt.Y("mean:Q", scale=alt.Scale(domain=[1, 5]), title="Average"),
            color=alt.Color("agreement:N", title=None, scale=palette, legend=_legend()),
        )
        .properties(width=width, height=220),
        "cooldowns": alt.Chart()
        .mark_bar(color=PALETTE[0])
        .encode(
            x=alt.X("month:T", timeUnit="yearmonth", title=None),
            y=alt.Y("count:Q", title="Cooldowns"),
        )
        .properties(width=width, height=160),
        "open_topics": alt.Chart()
        .mark_area(color=PALETTE[0], opacity=0.45, line={"color": PALETTE[0]})
        .encode(x=alt.X("opened_at:T", title=None), y=alt.Y("open:Q", title="Open topics"))
        .properties(width=width, height=160),
        "participation": alt.Chart()
        .mark_bar()
        .encode(
            x=alt.X("opened_at:T", title=None),
            y=alt.Y("count:Q", title="Partners", stack=True),
            color=alt.Color("what:N", title=None, scale=palette, legend=_legend()),
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


def _chart(name: str, rows: list[dict], words: str) -> None:
    # A copy: Streamlit may add to the spec it is given (theme, data), and ours is shared.
    spec = copy.deepcopy(_trend_specs()[name])
    theme = getattr(st.context.theme, "type", None)
    text = CHART_TEXT["dark" if theme == "dark" else "light"]
    spec["config"] = {
        "axis": {"labelColor": text, "titleColor": text},
        "legend": {"labelColor": text, "titleColor": text},
    }
    st.vega_lite_chart(_table(rows), spec, width="stretch", alt=words)


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
SoloNote = tuple[solo.SoloView | None, list[Any]]


def read_solo_note(session: Session, user_id: int) -> SoloNote:
    """What :func:`solo_note` shows, read in the page's own transaction."""
    view = solo.solo_view(session, user_id)
    return view, solo.own_trend(session, user_id) if view else []


def solo_note(user: User, found: SoloNote | None = None) -> None:
    """Shown on the check-in and talk pages to the partner who keeps answering; ``found``
    when the page read it already (:func:`read_solo_note`)."""
    if found is None:
        with web.reading() as session:
            found = read_solo_note(session, user.id)
    view, points = found
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
                # Its accessible name says what it shows, as the trend charts' do.
                alt=trend_summary.own_trend(points, user.timezone),
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
    if view.finished_at is None:
        # Outside the fragment that re-reads every 2 s: an open list or a half-typed day
        # is not redrawn under the person's hands.
        _action_form(view, user.id)


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
        # Kept while it is still to come, so a suggestion that moves on (an hour before
        # 19:00) does not reset what the person is picking; a tab left open overnight
        # gets a new one.
        offered_key = f"_tend_talk_offered_{view.round_id}"
        offered = st.session_state.get(offered_key)
        if offered is None or offered <= utcnow():
            offered = st.session_state[offered_key] = talk.suggested_time(user.timezone)
        with st.form("talk_when"):
            cols = st.columns(2)
            day = cols[0].date_input(
                "Day", value=offered.date(), key="talk_day", format="YYYY-MM-DD"
            )
            time = cols[1].time_input("Time", key="talk_time", value=offered.time())
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
        _actions(view)
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
    if view.at_end and not view.paused_by_cooldown:
        st.write("That was the last item. Finishing marks this check-in as reviewed together.")
        if st.button("Finish the talk", key="talk_finish", type="primary"):
            _call(lambda s: talk.finish(s, user_id, round_id))
    _actions(view)


def _move(user_id: int, round_id: int, seen: int, step: int) -> None:
    _call(
        lambda s: talk.move(s, user_id, round_id, seen_position=seen, step=step),
    )


def _actions(view: TalkView) -> None:
    st.subheader("What we will do")
    if view.actions:
        st.markdown(
            "\n".join(
                f"- {web.md(a.text)} — {web.md(a.owner)}"
                + (f", by {a.due_on:%A %d %B}" if a.due_on else "")
                for a in view.actions
            )
        )
    else:
        st.caption("No action items yet." if view.finished_at is None else "No action items.")


def _action_form(view: TalkView, user_id: int) -> None:
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
