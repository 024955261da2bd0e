"""The guided start (/welcome). Thin: read widgets, call a service, draw the result."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import streamlit as st

from agreements import templates
from charter import pages as charter_pages
from charter import reflections
from checkins import rounds as checkin_rounds
from couples import accounts
from couples import pages as couple_pages
from couples import service as couples
from infra.errors import TendError
from onboarding import service as onboarding
from onboarding.service import STEP_TITLES, STEPS, PlanItem
from tend import web

PLAN_LABELS = {"plan": "Your plan"}
for _kind, _template in templates.TEMPLATES.items():
    PLAN_LABELS |= {
        f"{_kind}.title": f"{_template.title}: title",
        f"{_kind}.body": f"{_template.title}: what you commit to",
        f"{_kind}.minutes": f"{_template.title}: minutes",
        f"{_kind}.local_time": f"{_template.title}: time",
        f"{_kind}.day_of_month": f"{_template.title}: day of the month",
        f"{_kind}.timezone": f"{_template.title}: time zone",
        f"{_kind}.cadence": f"{_template.title}: how often",
        f"{_kind}.frequency": f"{_template.title}: how often",
    }

# What each mail is for, in the order a new couple meets them.
MAILS = [
    ("Invitation", "your partner's link to join (valid 7 days)."),
    ("A new agreement to answer", "your partner gets one for each agreement in your plan."),
    ("Your check-in is open", "to both of you, when a round opens."),
    (
        "A reminder",
        "two days later if you have not answered, and the day before the round closes.",
    ),
    ("Your partner answered", "when they submitted and you have not yet (never their answers)."),
    ("Ready to review together", "when you have both answered."),
    ("Cooldown and therapy", "a cooldown's start and end, a day before a therapy appointment."),
]
# The same, for the partner who joined: no invitation to send, proposals to answer.
JOINED_MAILS = [
    ("A new agreement to answer", "when your partner proposes an agreement or a change."),
    *MAILS[2:],
]


def welcome_page() -> None:
    user = web.current_user()
    with web.action() as session:
        state = onboarding.state(session, user.id)
        joined = None if state.applies else onboarding.joined_start(session, user.id)
    st.title("Welcome to Tend")
    if joined is not None:
        _joined_start(user, joined)
        return
    if not state.applies:
        st.write(
            "Your couple space is already set up. The dashboard shows what to do next: "
            "agreements waiting for your answer, and your next check-in."
        )
        st.page_link(web.page("home"), label="Go to your dashboard", icon="➡️")
        return
    if state.skipped:
        st.info("You skipped the guided start. Pick it up where you left it?")
        if st.button("Resume the guided start", type="primary"):
            with web.action() as session:
                onboarding.resume(session, user.id)
            st.rerun()
        return
    _progress(state)
    web.show_flash()
    step = state.current or "next"
    {
        "space": _space_step,
        "agreements": _agreements_step,
        "invite": _invite_step,
        "charter": _charter_step,
        "next": _next_step,
    }[step](user, state)
    st.divider()
    st.caption(
        "You can leave this guided start at any time and come back: it remembers where "
        "you are. Questions about how Tend works?"
    )
    st.page_link(web.page("help"), label="Help and about Tend", icon=":material/help:")
    if step != "next" and st.button("Skip the guided start", key="onboarding_skip"):
        with web.action() as session:
            onboarding.skip(session, user.id)
        st.switch_page(web.page("home"))


def _joined_start(user: Any, joined: onboarding.JoinedStart) -> None:
    """The partner who joined by invitation: the space is made, and these are theirs."""
    partner = web.md(joined.partner_name)
    st.write(f"{partner} set up your couple space and invited you. What is yours to do:")
    waiting = joined.awaiting_my_answer
    steps = [
        (
            f"**Answer {partner}'s proposals:** {waiting} agreement"
            f"{' waits' if waiting == 1 else 's wait'} for your yes, your changes or your no. "
            "Nothing is in force until you have both said yes."
            if waiting
            else "**Your agreements:** nothing waits for your answer."
        ),
        (
            "**Your side of the charter:** you wrote it."
            if joined.wrote_reflection
            else "**Your side of the charter:** what you think ended it last time, in your "
            f"own words. {partner} does not see it until you both have written yours."
        ),
        "**Your reminders:** which mails you get, and when (quiet hours, a preferred hour).",
    ]
    if joined.next_checkin is not None:
        when, agreed = joined.next_checkin
        local = when.astimezone(ZoneInfo(user.timezone or "UTC"))
        steps.append(
            f"**Your check-ins:** the next opens on **{local:%A %d %B at %H:%M}** "
            f"({web.md(user.timezone)})"
            + ("." if agreed else ", once you have both accepted the regular check-in.")
            + " You each answer on your own; you see each other's answers only when you "
            "have both answered."
        )
    st.markdown("\n".join(f"{n}. {line}" for n, line in enumerate(steps, start=1)))
    if waiting:
        st.page_link(web.page("agreements"), label="Answer the agreements", icon="➡️")
    if not joined.wrote_reflection:
        st.page_link(web.page("charter"), label="Write your side of the charter", icon="➡️")
    st.page_link(web.page("notifications"), label="Choose your reminders", icon="➡️")
    st.write("**Mails you can expect** (names and links only, never what anyone wrote):")
    st.markdown("\n".join(f"- **{name}**: {what}" for name, what in JOINED_MAILS))
    web.mailbox_hint()
    st.page_link(web.page("home"), label="Go to your dashboard", icon="➡️")


def _progress(state: onboarding.OnboardingState) -> None:
    current = state.current or "next"
    st.progress(STEPS.index(current) / len(STEPS))
    marks = []
    for number, step in enumerate(STEPS, start=1):
        mark = "✓" if state.done[step] else ("→" if step == current else "·")
        marks.append(f"{mark} {number}. {STEP_TITLES[step]}")
    st.caption("  ·  ".join(marks))


def _space_step(user: Any, state: onboarding.OnboardingState) -> None:
    st.subheader("1. Your couple space")
    st.write(
        "The space you and your partner will share: your agreements, your check-ins, "
        "and how things go over time. Only the two of you see it."
    )
    couple_pages.create_couple_form(
        user.id,
        key="onb_couple",
        submit="Create our space",
        done="Your couple space is ready.",
        help="Optional. Tend shows how long you have been back together.",
    )


def _params_widgets(kind: str, params: dict[str, Any], user_tz: str) -> dict[str, Any]:
    key = f"onb_{kind}"
    if kind == "regular_checkin":
        cadence = st.selectbox(
            "How often",
            list(templates.CADENCES),
            index=list(templates.CADENCES).index(params.get("cadence", "monthly")),
            format_func=templates.CADENCES.get,
            key=f"{key}_cadence",
        )
        out: dict[str, Any] = {"cadence": cadence}
        if cadence == "monthly":
            out["day_of_month"] = st.number_input(
                "Day of the month", 1, 28, int(params.get("day_of_month", 1)), key=f"{key}_day"
            )
            out["weekday"] = int(params.get("weekday", 6))
        else:
            out["weekday"] = st.selectbox(
                "Day of the week",
                range(7),
                index=int(params.get("weekday", 6)),
                format_func=lambda d: templates.WEEKDAYS[d],
                key=f"{key}_weekday",
            )
            out["day_of_month"] = int(params.get("day_of_month", 1))
        out["local_time"] = st.text_input(
            "Time (HH:MM)", value=str(params.get("local_time", "19:00")), key=f"{key}_time"
        )
        out["timezone"] = params.get("timezone") or user_tz
        st.caption(f"In your time zone, {out['timezone']}.")
        return out
    if kind == "cooldown":
        return {
            "minutes": st.number_input(
                "Minutes",
                templates.COOLDOWN_MIN,
                templates.COOLDOWN_MAX,
                int(params.get("minutes", 5)),
                key=f"{key}_minutes",
            ),
            "during": st.text_input(
                "Meanwhile we each", value=str(params.get("during", "")), key=f"{key}_during"
            ),
        }
    if kind == "therapy":
        frequencies = list(templates.THERAPY_FREQUENCIES)
        return {
            "frequency": st.selectbox(
                "How often",
                frequencies,
                index=frequencies.index(params.get("frequency", "biweekly")),
                format_func=templates.THERAPY_FREQUENCIES.get,
                key=f"{key}_frequency",
            ),
            "therapist": st.text_input(
                "Therapist or practice (optional)",
                value=str(params.get("therapist", "")),
                key=f"{key}_therapist",
            ),
        }
    return {
        name: st.text_input(
            name.replace("_", " ").capitalize(), value=str(value), key=f"{key}_{name}"
        )
        for name, value in params.items()
    }


def _agreements_step(user: Any, state: onboarding.OnboardingState) -> None:
    st.subheader("2. Your plan")
    st.write(
        "Getting back together works best with a plan for what went wrong before. Choose "
        "the agreements you want to propose; adjust the words so they are yours. Your "
        "partner can accept them, change them or decline: nothing counts until you both "
        "say yes."
    )
    items: list[PlanItem] = []
    for kind, template in templates.TEMPLATES.items():
        default = onboarding.template_item(kind, timezone=user.timezone)
        chosen = st.checkbox(
            f"**{template.title}**: {template.summary}",
            value=kind in onboarding.SUGGESTED,
            key=f"onb_pick_{kind}",
        )
        if not chosen:
            continue
        with st.expander(f"Adjust “{template.title}”"):
            title = st.text_input(
                "Title", value=default.title, key=f"onb_{kind}_title", max_chars=200
            )
            body = st.text_area(
                "What we each commit to", value=default.body, key=f"onb_{kind}_body"
            )
            params = _params_widgets(kind, default.params, user.timezone)
            if template.note:
                st.caption(template.note)
        items.append(PlanItem(kind, title, body, params))
    cols = st.columns(2)
    save = cols[0].button(
        f"Save my plan ({len(items)} agreements)", type="primary", key="onb_save_plan"
    )
    later = cols[1].button("Choose agreements later", key="onb_plan_later")
    if save or later:
        try:
            with web.action() as session:
                result = onboarding.save_plan(session, user.id, items if save else [])
        except TendError as exc:
            web.show_error(exc, PLAN_LABELS)
        else:
            if result.plan_proposed:
                web.flash("Your plan is saved and proposed to your partner.")
            elif save:
                web.flash(
                    "Your plan is saved. It is proposed to your partner as soon as they join."
                )
            st.rerun()


def _invite_step(user: Any, state: onboarding.OnboardingState) -> None:
    st.subheader("3. Invite your partner")
    st.write(
        "Tend is for the two of you. Your partner gets an email with a link to create "
        "their own account and join your space; the link works for 7 days."
    )
    with st.form("onboarding_invite"):
        email = st.text_input("Your partner's email", key="onb_invite_email", autocomplete="off")
        submitted = st.form_submit_button("Send invitation", type="primary")
    if submitted:
        try:
            with web.action() as session:
                couples.invite_partner(session, user.id, email)
        except TendError as exc:
            web.show_error(exc, {"email": "Your partner's email"})
        else:
            web.flash(
                f"Invitation sent to {web.md(accounts.normalize_email(email))}. "
                "It works for 7 days."
            )
            st.rerun()


def _charter_step(user: Any, state: onboarding.OnboardingState) -> None:
    st.subheader("4. What ended it last time")
    st.write(
        "Couples who get back together and never name what split them up tend to meet it "
        "again. Write, on your own, what you think ended it last time. Your partner writes "
        "theirs; you each see the other's only once you have both written. Together you "
        "then name the root causes you will work on, in your charter."
    )
    with web.action() as session:
        status = reflections.status(session, user.id)
        mine = reflections.my_reflection(session, user.id)
        theirs = reflections.partner_reflection(session, user.id)
    charter_pages.reflection_form(user, status, mine, theirs)
    if st.button("Later", key="onb_charter_later"):
        with web.action() as session:
            onboarding.skip_charter(session, user.id)
        st.rerun()
    st.caption("Whenever you are ready: the Our charter page keeps it.")


def _next_step(user: Any, state: onboarding.OnboardingState) -> None:
    st.subheader("5. What happens next")
    with web.action() as session:
        partner = couples.partner_of(session, user.id)
        invites = couples.invitations(session, user.id)
        first = onboarding.first_checkin(session, user.id)
        # Someone back on this page months later has had check-ins: the next one, then.
        had_one = checkin_rounds.current_round(session, user.id) is not None
        # Its mails wait for quiet hours: said here, not found out at 07:00.
        held = (
            checkin_rounds.opening_mail_notes(
                session, user.id, opens_at=first[0], include_mine=True
            )
            if first is not None
            else []
        )
    lines = []
    if partner is None:
        waiting = next((i for i in invites if not i.accepted_at and not i.revoked_at), None)
        who = web.md(waiting.email) if waiting else "your partner"
        lines.append(f"**{who}** opens the invitation and creates their account.")
        if state.plan:
            lines.append(
                f"As soon as they join, they find your plan: {len(state.plan)} agreements to "
                "accept, change or decline. Nothing is in force until you both said yes."
            )
    elif state.plan_proposed:
        lines.append(
            f"{web.md(partner.display_name)} has your plan to answer on the Agreements page."
        )
    if first is not None:
        when, agreed = first
        local = when.astimezone(ZoneInfo(user.timezone or "UTC"))
        lines.append(
            f"Your {'next' if had_one else 'first'} check-in opens on "
            f"**{local:%A %d %B at %H:%M}** ({user.timezone})"
            + (
                "."
                if agreed
                else ", once you have both accepted the regular check-in and your partner "
                "has joined."
            )
            + "".join(f" {web.md(note)}" for note in held)
            + " You each answer on your own; you see each other's answers only when you have "
            "both answered. Then you sit down and talk it through."
        )
    else:
        lines.append(
            "Check-ins follow a regular check-in agreement. Until you have one, you can start "
            "a check-in by hand on the check-in page, once your partner has joined."
        )
    st.markdown("\n".join(f"{n}. {line}" for n, line in enumerate(lines, start=1)))
    st.write("**Mails you can expect** (names and links only, never what anyone wrote):")
    st.markdown("\n".join(f"- **{name}**: {what}" for name, what in MAILS))
    st.caption("You choose which reminders you get, and when, on the Notifications page.")
    web.mailbox_hint()
    if state.charter_skipped and st.button(
        "Write what ended it last time now", key="onb_charter_resume"
    ):
        with web.action() as session:
            onboarding.resume_charter(session, user.id)
        st.rerun()
    if st.button("Go to my dashboard", type="primary", key="onb_finish"):
        with web.action() as session:
            onboarding.finish(session, user.id)
        st.switch_page(web.page("home"))
