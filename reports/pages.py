"""The report page (/report): propose sharing a report with your therapist, answer your
partner's proposal, follow the link's visits, download the PDF, withdraw."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

import streamlit as st
from sqlalchemy.orm import Session

from couples import service as couples
from reports import content, service
from reports.models import ACTIVE, DECLINED, PENDING, REPLACED, WITHDRAWN
from reports.service import MAX_DAYS, ShareInput, ShareView
from tend import web

LABELS = {
    "contents": "What the report holds",
    "therapist_name": "Therapist's name",
    "therapist_email": "Therapist's email",
    "expires_on": "Last day the link works",
}
LINK_STATES = {
    "live": "The therapist's link works",
    "expired": "The link's last day has passed",
    "revoked": "The link was revoked",
    "none": "No link yet",
    "ended": "Sharing ended",
}
ENDED = {
    DECLINED: "declined",
    WITHDRAWN: "withdrawn",
    REPLACED: "answered with other choices",
}


def _local(moment: dt.datetime, timezone: str) -> str:
    return f"{moment.astimezone(ZoneInfo(timezone)):%-d %b %Y, %H:%M}"


def _act(call: Callable[[Session], object], message: str) -> None:
    web.act(call, message, LABELS)


def _choice_form(form_key: str, user_timezone: str, initial: ShareView | None) -> ShareInput | None:
    """The tick boxes, whom for and until when; returns the choice once submitted."""
    today = web.local_today(user_timezone)
    chosen = set(initial.contents) if initial else set(content.DEFAULT_SECTIONS)
    with st.form(form_key):
        keys = []
        for heading, choices in (
            ("**What the report holds**", content.section_choices()),
            (
                "**Words you wrote yourselves** (only what you both tick)",
                content.free_text_choices(),
            ),
        ):
            st.markdown(heading)
            keys += [
                c.key
                for c in choices
                if st.checkbox(
                    web.md(c.label), value=c.key in chosen, help=c.help, key=f"{form_key}_{c.key}"
                )
            ]
        st.caption(
            "Never included: your private answers, the safety questions, your cooldown notes, "
            "answers before you both answered."
        )
        name = st.text_input(
            LABELS["therapist_name"],
            value=initial.therapist_name if initial else "",
            max_chars=service.MAX_THERAPIST_NAME,
            key=f"{form_key}_name",
        )
        email = st.text_input(
            LABELS["therapist_email"],
            value=initial.therapist_email if initial else "",
            key=f"{form_key}_email",
        )
        expires_on = st.date_input(
            LABELS["expires_on"],
            value=initial.expires_on
            if initial and initial.expires_on > today
            else today + dt.timedelta(days=30),
            min_value=today + dt.timedelta(days=1),
            max_value=today + dt.timedelta(days=MAX_DAYS),
            key=f"{form_key}_expires",
            help=f"At most {MAX_DAYS} days from today. Either of you can end it sooner.",
        )
        submitted = st.form_submit_button(
            "Propose" if initial is None else "Suggest these choices", type="primary"
        )
    if not submitted:
        return None
    return ShareInput(keys, name, email, expires_on if isinstance(expires_on, dt.date) else None)


def _describe(view: ShareView, timezone: str) -> None:
    st.markdown(f"**For:** {web.md(view.therapist_name)} ({web.md(view.therapist_email)})")
    st.markdown(f"**Link works until:** {view.expires_on:%-d %B %Y}")
    st.markdown("**The report holds:**")
    st.markdown("\n".join(f"- {web.md(label)}" for label in view.content_labels))
    st.caption(f"Proposed by {web.md(view.proposed_by)} on {_local(view.proposed_at, timezone)}")


def _visits(view: ShareView, timezone: str) -> None:
    if view.visits:
        st.markdown("**When the therapist's link was opened** (you both see this)")
        st.markdown("\n".join(f"- {_local(at, timezone)}" for at in view.visits))
    else:
        st.caption("The therapist's link has not been opened yet. You both see each visit here.")


def report_page() -> None:
    user = web.current_user()
    st.title("A report for your therapist")
    web.show_flash()
    st.write(
        "Share how things have gone with your couples therapist: scores over time, how your "
        "agreements were kept, warnings and topics. You choose together what it holds; "
        "nothing is shared until you both say yes, and either of you can end it at any time."
    )
    with web.reading() as session:
        couple = couples.couple_of(session, user.id)
        partner = couples.partner_of(session, user.id) if couple else None
        view = service.current_share(session, user.id) if couple else None
        history = service.past_shares(session, user.id) if couple else []
    if couple is None or partner is None:
        st.info(
            "A report needs both of you. Create your couple space and invite your partner first."
        )
        st.page_link(web.page("couple"), label="Open your couple space", icon="➡️")
        return
    timezone = user.timezone
    if view is None or view.state not in (PENDING, ACTIVE):
        st.subheader("Propose a report")
        choice = _choice_form("report_propose", timezone, None)
        if choice is not None:
            _act(
                lambda s: service.propose_share(s, user.id, choice),
                "Proposed. Nothing is shared until your partner says yes.",
            )
    elif view.state == PENDING and view.proposed_by_me:
        st.subheader("Waiting for your partner")
        _describe(view, timezone)
        st.info("Nothing is shared until your partner says yes.")
        if st.button("Withdraw the proposal"):
            _act(lambda s: service.withdraw(s, user.id, view.id), "Proposal withdrawn.")
    elif view.state == PENDING:
        st.subheader(f"{web.md(view.proposed_by)} proposed a report")
        _describe(view, timezone)
        left, right = st.columns(2)
        if left.button("Agree and share", type="primary"):
            _act(
                lambda s: service.accept_share(s, user.id, view.id),
                "Shared. The therapist gets the link by mail.",
            )
        if right.button("Decline"):
            _act(
                lambda s: service.decline_share(s, user.id, view.id),
                "Declined. Nothing was shared.",
            )
        with st.expander("Suggest other choices"):
            choice = _choice_form("report_counter", timezone, view)
            if choice is not None:
                _act(
                    lambda s: service.counter_propose(s, user.id, view.id, choice),
                    "Suggested. Nothing is shared until your partner says yes.",
                )
    else:
        st.subheader("Shared with your therapist")
        _describe(view, timezone)
        st.markdown(f"**{LINK_STATES[view.link]}.**")
        _visits(view, timezone)
        web.post_button(web.REPORT_PDF_PATH, web.REPORT_PDF, "Download the report (PDF)")
        st.divider()
        if st.button("Withdraw consent: the report is no longer shared", type="primary"):
            _act(
                lambda s: service.withdraw(s, user.id, view.id),
                "Consent withdrawn. The therapist's link stopped working.",
            )
        left, right = st.columns(2)
        if view.link == "live" and left.button("Revoke the link"):
            _act(
                lambda s: service.revoke_link(s, user.id, view.id),
                "The link stopped working. You can send a new one.",
            )
        if view.link in ("revoked", "live") and right.button("Send the therapist a new link"):
            _act(
                lambda s: service.send_new_link(s, user.id, view.id),
                "A new link is on its way; the old one stopped working.",
            )
    earlier = [
        h for h in history if view is None or h.id != view.id or h.state not in (PENDING, ACTIVE)
    ]
    if earlier:
        st.subheader("Earlier reports")
        for past in earlier:
            label = ENDED.get(past.state, past.state)
            with st.expander(
                f"For {web.md(past.therapist_name)}, proposed {past.proposed_at:%-d %b %Y}: {label}"
            ):
                if past.ended_by and past.ended_at:
                    st.caption(
                        f"Ended by {web.md(past.ended_by)} on {_local(past.ended_at, timezone)}"
                    )
                _visits(past, timezone)
