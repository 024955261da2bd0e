"""The charter page (/charter): what ended it last time (each partner's own, revealed
when both have written), the charter both agree to, the dealbreakers, and a note just
for you. Thin: widgets in, a service call, results drawn; typed text through web.md.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import streamlit as st

from charter import consent, reflections, safety, words
from charter import warnings as charter_warnings
from charter.consent import CauseInput, CharterView, CharterWords
from couples import service as couples
from couples.models import User
from infra.errors import TendError
from privacy.pages import dealbreakers_section, show_support_panel
from tend import web

CHOICES = ["", *words.CAUSES, words.OWN]
CHOICE_WORDS = {"": "—", **words.CAUSES, words.OWN: "In our own words"}
LABELS = {
    "causes": "What ended it",
    "words": "In my own words",
    "root_causes": "Root causes",
    "review_on": "Review the charter together on",
    "afraid": "Just for you",
    "note": "A note for yourself",
}
for _i in range(words.MAX_CAUSES):
    LABELS |= {
        f"cause{_i}": f"Root cause {_i + 1}",
        f"cause{_i}.what": f"Root cause {_i + 1}: what I will do",
        f"cause{_i}.notice": f"Root cause {_i + 1}: how we will both notice",
    }


def charter_page() -> None:
    user = web.current_user()
    with web.action() as session:
        membership = couples.membership_of(session, user.id)
        if membership is not None:
            status = reflections.status(session, user.id)
            mine = reflections.my_reflection(session, user.id)
            theirs = reflections.partner_reflection(session, user.id)
            view = consent.charter_view(session, user.id)
            warnings = charter_warnings.latest_charter_warnings(session, user.id)
        note = safety.my_safety_note(session, user.id)
    st.title("Our charter")
    if membership is None:
        st.info("The charter is written in your couple space. Create it, or join your partner.")
        st.page_link(web.page("couple"), label="Open your couple space", icon="➡️")
        _just_for_you(user, note)
        return
    for w in warnings:  # first: what ended it last time is back
        st.warning(
            f"**{web.md(w.title)}**  \n{web.md(w.explanation)}  \n*Next step:* "
            f"{web.md(w.next_step)}"
        )
    web.show_flash()
    st.write(
        "Couples who get back together and never name what split them up tend to meet "
        "it again. Here each of you says what you think ended it last time, and together "
        "you name the one to three root causes you will work on, with what each of you "
        "will change."
    )
    st.subheader("What ended it last time")
    reflection_form(user, status, mine, theirs)
    st.subheader("What we will work on")
    _charter(user, status.partner_name, view)
    st.subheader("Dealbreakers")
    st.write(
        "Some things are not root causes to work on in a charter. Advice for couples who "
        "reunite treats these as dealbreakers that call for a therapist, not another try:"
    )
    dealbreakers_section()
    st.page_link(web.page("get_help"), label="When to get help", icon=":material/support:")
    _just_for_you(user, note)


# --- reflections ------------------------------------------------------------------------
def reflection_form(
    user: User,
    status: reflections.ReflectionStatus,
    mine: reflections.ReflectionView | None,
    theirs: reflections.ReflectionView | None,
) -> None:
    """Mine to write until both have written; then both, side by side (also the guided
    start's charter step)."""
    partner = status.partner_name or "your partner"
    if status.revealed and mine is not None and theirs is not None:
        st.caption("You have both written yours: here they are, side by side.")
        cols = st.columns(2)
        for col, reflection in zip(cols, (mine, theirs), strict=True):
            with col.container(border=True):
                st.markdown(f"**{web.md(reflection.who)}**")
                if reflection.cause_titles:
                    st.markdown("\n".join(f"- {t}" for t in reflection.cause_titles))
                if reflection.words:
                    st.markdown(web.md(reflection.words))
        return
    st.caption(
        f"Only you see what you write here until {web.md(partner)} has written theirs too; "
        "then you both see both. You can change yours until then. If there was abuse or "
        "fear, do not write it here: use **Just for you** at the bottom of this page."
    )
    if status.partner_written:
        st.info(f"{web.md(partner)} has written theirs. You see it once you have written yours.")
    elif mine is not None:
        st.info(f"Saved. {web.md(partner)} has not written theirs yet.")
    chosen = set(mine.causes) if mine else set()
    with st.form("reflection"):
        st.markdown("**As I see it, what ended it last time:**")
        picked = [
            key
            for key, title in words.CAUSES.items()
            if st.checkbox(title, value=key in chosen, key=f"refl_{key}")
        ]
        text = st.text_area(
            "In my own words",
            value=mine.words if mine else "",
            max_chars=words.MAX_WORDS,
            key="refl_words",
        )
        submitted = st.form_submit_button("Save my reflection", type="primary")
    if submitted:
        try:
            with web.action() as session:
                reflections.write_reflection(session, user.id, picked, text)
        except TendError as exc:
            web.show_error(exc, LABELS)
        else:
            web.flash("Your reflection is saved.")
            st.rerun()


# --- the charter ------------------------------------------------------------------------
def _draw_words(charter: CharterWords, timezone: str) -> None:
    with st.container(border=True):
        for cause in charter.root_causes:
            st.markdown(f"**{web.md(cause.title)}**")
            lines = [
                f"- **{web.md(c.who)}** will: {web.md(c.what)}  \n  *We will both notice:* "
                f"{web.md(c.notice)}"
                for c in cause.commitments
            ]
            st.markdown("\n".join(lines) or "- (nobody has committed to a change yet)")
        if charter.review_on:
            st.markdown(f"We review this charter together on **{charter.review_on:%d %B %Y}**.")
        caption = f"Version {charter.number}, proposed by {web.md(charter.proposed_by)} on "
        caption += f"{charter.proposed_at.astimezone(ZoneInfo(timezone or 'UTC')):%d %b %Y}"
        if charter.in_force_from:
            caption += (
                f"; agreed {charter.in_force_from.astimezone(ZoneInfo(timezone or 'UTC')):%d %b %Y}"
            )
        st.caption(caption)


def _charter(user: User, partner_name: str, view: CharterView) -> None:
    if not partner_name:
        st.info("The charter needs both of you: invite your partner first.")
        return
    partner = web.md(partner_name)
    if view.in_force is not None:
        st.markdown("**In force: you both said yes to it.**")
        _draw_words(view.in_force, user.timezone)
        if view.review_due:
            st.info(
                "Your review day has come: it is time to review the charter together. "
                "Read it side by side and say how each change is going. "
                + (
                    "A change to it is proposed below and waits for an answer."
                    if view.pending is not None
                    else "To change what no longer fits, and set the next review day, use "
                    "**Change the charter** below (it counts once you both say yes)."
                )
            )
    elif view.pending is None:
        st.caption(
            "Nothing agreed yet. Propose the charter below; it counts once you both said yes "
            "to the same words."
        )
    needs_my_words = False
    if view.pending is not None:
        st.markdown("**Proposed**" + (" (a change)" if view.in_force else ""))
        _draw_words(view.pending, user.timezone)
        if view.awaiting_me and view.pending.has_commitment_of(user.id):
            cols = st.columns(2)
            if cols[0].button("Agree to this charter", type="primary", key="charter_agree"):
                _do(
                    lambda s: consent.agree(s, user.id), "You both agreed: the charter is in force."
                )
            with cols[1].popover("Decline"):
                reason = st.text_input("Why (optional)", key="charter_decline_reason")
                if st.button("Decline this version", key="charter_decline"):
                    _do(lambda s: consent.decline(s, user.id, reason=reason), "Declined.")
        elif view.awaiting_me:
            needs_my_words = True
            st.info(
                f"{partner} proposed this. Add what you will do below and send it back; "
                f"{partner} then says yes to the charter with both of you in it."
            )
        elif view.awaiting_partner:
            st.caption(f"Waiting for {partner}'s answer.")
            if st.button("Take it back", key="charter_withdraw"):
                _do(lambda s: consent.withdraw(s, user.id), "Taken back.")
    label = (
        "Answer with my changes"
        if view.awaiting_me
        else "Change the charter"
        if view.latest is not None
        else "Propose the charter"
    )
    with st.expander(label, expanded=view.latest is None or needs_my_words):
        _charter_form(user, partner_name, view)


def _slot_defaults(user: User, view: CharterView) -> list[tuple[str, str, str, str]]:
    latest = view.latest
    slots: list[tuple[str, str, str, str]] = []
    for cause in latest.root_causes if latest else ():
        mine = next((c for c in cause.commitments if c.mine), None)
        choice = cause.key if cause.key in words.CAUSES else words.OWN
        own = cause.title if choice == words.OWN else ""
        slots.append((choice, own, mine.what if mine else "", mine.notice if mine else ""))
    return slots + [("", "", "", "")] * (words.MAX_CAUSES - len(slots))


def _charter_form(user: User, partner_name: str, view: CharterView) -> None:
    latest = view.latest
    version = latest.number if latest else 0
    defaults = _slot_defaults(user, view)
    today = web.local_today(user.timezone)
    with st.form(f"charter_v{version}"):
        st.caption(
            "One to three root causes you will work on together, and for each what you "
            f"will do and how you will both notice. {web.md(partner_name)} writes their "
            "own changes; theirs stay as they wrote them."
        )
        causes = []
        for i, (choice, own, what, notice) in enumerate(defaults):
            key = f"ch_v{version}_c{i}"
            with st.container(border=True):
                picked = st.selectbox(
                    f"Root cause {i + 1}",
                    CHOICES,
                    index=CHOICES.index(choice),
                    format_func=CHOICE_WORDS.get,
                    key=f"{key}_choice",
                )
                own_title = st.text_input(
                    "Its name, in our own words (for “In our own words”)",
                    value=own,
                    max_chars=words.MAX_TITLE,
                    key=f"{key}_own",
                )
                theirs = [
                    c
                    for c in (
                        latest.root_causes[i].commitments
                        if latest and i < len(latest.root_causes)
                        else ()
                    )
                    if not c.mine
                ]
                for c in theirs:
                    st.caption(
                        f"{web.md(c.who)} will: {web.md(c.what)} · we will both notice: "
                        f"{web.md(c.notice)}"
                    )
                what_text = st.text_area(
                    "What I will do", value=what, max_chars=words.MAX_COMMITMENT, key=f"{key}_what"
                )
                notice_text = st.text_area(
                    "How we will both notice",
                    value=notice,
                    max_chars=words.MAX_COMMITMENT,
                    key=f"{key}_notice",
                )
            causes.append(CauseInput(picked or "", own_title, what_text, notice_text))
        review_default = (
            latest.review_on
            if latest and latest.review_on and latest.review_on > today
            else today + dt.timedelta(days=91)
        )
        review_on = st.date_input(
            "Review the charter together on",
            value=review_default,
            min_value=today + dt.timedelta(days=1),
            key=f"ch_v{version}_review",
        )
        sent = st.form_submit_button(f"Send to {web.md(partner_name)}", type="primary")
    if sent:
        _do(
            lambda s: consent.propose_charter(
                s, user.id, causes, review_on if isinstance(review_on, dt.date) else None
            ),
            f"Sent. {partner_name} answers it on this page.",
        )


def _do(call, message: str) -> None:  # type: ignore[no-untyped-def]
    web.act(call, message, LABELS)


# --- just for you -----------------------------------------------------------------------
def _just_for_you(user: User, note: safety.SafetyNoteView | None) -> None:
    st.subheader("Just for you")
    st.caption(
        "What you write here is never part of the charter: your partner never sees it, "
        "and it is never in a mail, a warning or your partner's data."
    )
    with st.form("charter_safety"):
        afraid = st.radio(
            words.SAFETY_QUESTION,
            list(words.SAFETY_OPTIONS),
            index=list(words.SAFETY_OPTIONS).index(note.afraid) if note and note.afraid else None,
            format_func=words.SAFETY_OPTIONS.get,
            horizontal=True,
            key="charter_afraid",
        )
        text = st.text_area(
            "A note for yourself (only you will ever see it)",
            value=note.note if note else "",
            max_chars=words.MAX_NOTE,
            key="charter_note",
        )
        saved = st.form_submit_button("Save, just for me")
    if saved:
        try:
            with web.action() as session:
                note = safety.save_safety_note(session, user.id, afraid, text)
        except TendError as exc:
            web.show_error(exc, LABELS)
        else:
            st.success("Saved, just for you.")
    if note is not None and note.concerning:
        show_support_panel(key="charter_support")
