"""Account and couple-space pages. Thin: read widgets, call a service, draw the result."""

from __future__ import annotations

import datetime as dt
from zoneinfo import available_timezones

import streamlit as st

from couples import accounts
from couples import service as couples
from infra.errors import TendError
from privacy.pages import data_and_safety_sections
from privacy.pause import is_paused
from tend import web

REGISTER_LABELS = {
    "email": "Email",
    "display_name": "Your name",
    "password": "Password",
    "timezone": "Time zone",
}
TIMEZONES = sorted(available_timezones())
PASSWORD_HELP = "At least 8 characters, and not easy to guess: a phrase of a few words works well."


def _timezone_select(label: str, key: str, current: str) -> str:
    index = TIMEZONES.index(current) if current in TIMEZONES else TIMEZONES.index("UTC")
    return st.selectbox(label, TIMEZONES, index=index, key=key)


def sign_in_page() -> None:
    st.title("Sign in")
    sign_in_form()


def sign_in_form(next_path: str = "/") -> None:
    """The sign-in form; after signing in the browser lands on ``next_path``."""
    with st.form("sign_in"):
        email = st.text_input("Email", key="signin_email", autocomplete="email")
        password = st.text_input(
            "Password", type="password", key="signin_password", autocomplete="current-password"
        )
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            with web.action() as session:
                result = accounts.sign_in(session, email, password, client=web.client_id())
                ticket = (
                    accounts.issue_session_ticket(session, result.user.id) if result.user else None
                )
        except TendError as exc:
            web.show_error(exc)
        else:
            if ticket is None:
                st.error(result.error)
            else:
                st.session_state.pop("signin_password", None)
                web.go_to("/auth/session", ticket=ticket, next=next_path)
    st.page_link(web.page("register"), label="New here? Create an account")
    st.page_link(web.page("reset_password"), label="Forgot your password?")


def register_page() -> None:
    st.title("Create your account")
    st.write(
        "Tend is a private space for two partners who got back together: your shared "
        "agreements, a regular check-in you each answer privately, and gentle reminders."
    )
    with st.form("register"):
        name = st.text_input("Your name", key="reg_name", max_chars=accounts.MAX_NAME)
        email = st.text_input("Email", key="reg_email", autocomplete="email")
        password = st.text_input(
            "Password",
            type="password",
            key="reg_password",
            help=PASSWORD_HELP,
            autocomplete="new-password",
        )
        timezone = _timezone_select("Time zone", "reg_tz", web.browser_timezone())
        submitted = st.form_submit_button("Create account", type="primary")
    if submitted:
        reg = accounts.Registration(
            email=email, display_name=name, password=password, timezone=timezone
        )
        try:
            with web.action() as session:
                pending_id = accounts.register(session, reg)
        except TendError as exc:
            web.show_error(exc, REGISTER_LABELS)
        else:
            web.remember_registration(pending_id)
            st.success(
                f"Almost there. We sent a link to {web.md(accounts.normalize_email(email))}: open "
                "it to finish creating your account."
            )
            web.mailbox_hint()


def reset_password_page() -> None:
    token = st.query_params.get("token")
    st.title("Reset your password")
    if token:
        with st.form("new_password"):
            password = st.text_input(
                "New password", type="password", key="reset_new", autocomplete="new-password"
            )
            submitted = st.form_submit_button("Set new password", type="primary")
        if submitted:
            try:
                with web.action() as session:
                    user = accounts.reset_password(session, token, password)
                    ticket = accounts.issue_session_ticket(session, user.id)
            except TendError as exc:
                web.show_error(exc, {"password": "New password"})
            else:
                st.success("Your password is changed, and every other sign-in has ended.")
                web.go_to("/auth/session", ticket=ticket)
        return
    with st.form("reset_request"):
        email = st.text_input("Email", key="reset_email", autocomplete="email")
        submitted = st.form_submit_button("Send me a link", type="primary")
    if submitted:
        with web.action() as session:
            accounts.request_password_reset(session, email)
        st.success(
            "If that address has an account, a link to choose a new password is on its way. "
            "It works once and for 2 hours."
        )
        web.mailbox_hint(shown_here=False)


def join_page() -> None:
    """Where an invitation link lands: join as a new or a signed-in partner."""
    token = st.query_params.get("token", "")
    st.title("Join your partner on Tend")
    with web.action() as session:
        view = couples.inspect_invitation(session, token)
    if view.state != "valid":
        st.warning(view.message)
        if view.state in ("expired", "revoked") and st.button("Ask for a new invitation"):
            with web.action() as session:
                couples.ask_for_new_invitation(session, token)
            st.success(f"We let {web.md(view.inviter_name)} know you would like a new link.")
        return
    st.write(
        f"**{web.md(view.inviter_name)}** invited you to share **{web.md(view.couple_name)}**."
    )
    user = st.session_state.get(web.USER_KEY)
    if user is not None:
        with web.reading() as session:
            is_invited = couples.invited_address_matches(session, token, user.id)
        if not is_invited:
            st.warning(couples.WRONG_ACCOUNT)
            return
        if st.button(f"Join as {web.md(user.display_name)}", type="primary"):
            try:
                with web.action() as session:
                    couples.accept_invitation(session, token, user.id)
            except TendError as exc:
                web.show_error(exc)
            else:
                st.success("You joined. Welcome!")
                st.switch_page(web.page("couple"))
        return
    st.write("Create your account to accept. Already have one? Sign in, then open the link again.")
    with st.form("join_register"):
        name = st.text_input("Your name", key="join_name", max_chars=accounts.MAX_NAME)
        email = st.text_input("Email", value=view.email, key="join_email", disabled=True)
        password = st.text_input(
            "Password",
            type="password",
            key="join_password",
            autocomplete="new-password",
            help=PASSWORD_HELP,
        )
        timezone = _timezone_select("Time zone", "join_tz", web.browser_timezone())
        submitted = st.form_submit_button("Create account and join", type="primary")
    if submitted:
        reg = accounts.Registration(
            email=email, display_name=name, password=password, timezone=timezone
        )
        try:
            with web.action() as session:
                user = couples.register_with_invitation(session, token, reg)
                ticket = accounts.issue_session_ticket(session, user.id)
        except TendError as exc:
            web.show_error(exc, REGISTER_LABELS)
        else:
            web.go_to("/auth/session", ticket=ticket, next="/couple")


def couple_page() -> None:
    user = web.current_user()
    with web.action() as session:
        couple = couples.couple_of(session, user.id)
        members = (
            [(couples.member_name(m, user.id), m.user_id == user.id) for m in couple.members]
            if couple
            else []
        )
        invites = couples.invitations(session, user.id) if couple else []
    if couple is None:
        st.title("Create your couple space")
        st.write("Start the space you will share. Then invite your partner by email.")
        create_couple_form(
            user.id,
            key="couple",
            submit="Create",
            done="Your couple space is ready. Next: invite your partner.",
        )
        return

    st.title(web.md(couple.name))
    web.show_flash()
    if couple.reunited_on:
        st.caption(f"Back together since {couple.reunited_on:%d %B %Y}")
    if couple.ended_at:
        # Only this: not when, not why, not whether the account still exists.
        st.info("Your partner left. This space stays here for you to read, but it is frozen.")
    st.subheader("Partners")
    for name, is_me in members:
        st.write(f"- {web.md(name)}{' (you)' if is_me else ''}")
    if len(members) < 2 and not couple.ended_at:
        _invite_section(user.id, invites)
    with st.expander("Leave this couple space"):
        st.write(
            "If you leave, you lose access to this space. Your partner keeps it read-only "
            "and is told only that you left. Coming back takes a new invitation."
        )
        if st.checkbox("I understand", key="leave_confirm") and st.button(
            "Leave", type="secondary"
        ):
            with web.action() as session:
                couples.leave_couple(session, user.id)
            st.rerun()


def create_couple_form(user_id: int, *, key: str, submit: str, done: str, help: str = "") -> None:
    """The form that creates the couple space (couple page and guided start)."""
    with st.form(f"create_{key}"):
        name = st.text_input(
            "Name of your space",
            key=f"{key}_name",
            placeholder="Sam & Alex",
            max_chars=couples.MAX_COUPLE_NAME,
        )
        reunited = st.date_input(
            "When did you get back together?",
            value=None,
            key=f"{key}_reunited",
            max_value=web.local_today(web.current_user().timezone),
            format="YYYY-MM-DD",
            help=help or None,
        )
        submitted = st.form_submit_button(submit, type="primary")
    if submitted:
        try:
            with web.action() as session:
                couples.create_couple(session, user_id, name=name, reunited_on=reunited)
        except TendError as exc:
            web.show_error(exc, {"name": "Name of your space", "reunited_on": "Date"})
        else:
            web.flash(done)
            st.rerun()


def _invite_section(user_id: int, invites: list) -> None:  # type: ignore[type-arg]
    st.subheader("Invite your partner")
    with st.form("invite"):
        email = st.text_input("Your partner's email", key="invite_email", autocomplete="off")
        submitted = st.form_submit_button("Send invitation", type="primary")
    if submitted:
        try:
            with web.action() as session:
                couples.invite_partner(session, user_id, email)
        except TendError as exc:
            web.show_error(exc, {"email": "Your partner's email"})
        else:
            st.success(
                f"Invitation sent to {web.md(accounts.normalize_email(email))}. "
                "It works for 7 days."
            )
            web.mailbox_hint()
            st.rerun()
    if not invites:
        return
    web.mailbox_hint()
    st.write("**Invitations**")
    now = dt.datetime.now(dt.UTC)
    for invite in invites:
        if invite.accepted_at:
            status = "accepted"
        elif invite.revoked_at:
            status = "withdrawn"
        elif invite.expires_at <= now:
            status = "expired"
        else:
            until = _local_time(invite.expires_at, web.current_user().timezone)
            status = f"waiting, valid until {until}"
        cols = st.columns([3, 1, 1])
        cols[0].write(f"{web.md(invite.email)}: {status}")
        if not invite.accepted_at:
            if cols[1].button("Re-send", key=f"resend_{invite.id}"):
                with web.action() as session:
                    couples.resend_invitation(session, user_id, invite.id)
                web.flash(
                    f"Sent again to {web.md(invite.email)}, with a fresh link valid for 7 days."
                )
                st.rerun()
            if (
                not invite.revoked_at
                and invite.expires_at > now
                and cols[2].button("Withdraw", key=f"revoke_{invite.id}")
            ):
                with web.action() as session:
                    couples.revoke_invitation(session, user_id, invite.id)
                web.flash("Invitation withdrawn: its link no longer works.")
                st.rerun()


def account_page() -> None:
    user = web.current_user()
    st.title("Your account")
    st.caption(f"Signed in as {web.md(user.email)}")
    with st.form("profile"):
        name = st.text_input(
            "Your name", value=user.display_name, key="acct_name", max_chars=accounts.MAX_NAME
        )
        timezone = _timezone_select("Time zone", "acct_tz", user.timezone)
        submitted = st.form_submit_button("Save")
    if submitted:
        try:
            with web.action() as session:
                accounts.update_profile(session, user.id, display_name=name, timezone=timezone)
        except TendError as exc:
            web.show_error(exc, REGISTER_LABELS)
        else:
            st.success("Saved.")
            st.rerun()
    st.subheader("Change password")
    with st.form("password"):
        current = st.text_input("Current password", type="password", key="acct_current")
        new = st.text_input(
            "New password", type="password", key="acct_new", autocomplete="new-password"
        )
        changed = st.form_submit_button("Change password")
    if changed:
        try:
            with web.action() as session:
                accounts.change_password(session, user.id, current, new)
                ticket = accounts.issue_session_ticket(session, user.id)
        except TendError as exc:
            web.show_error(exc, {"current": "Current password", "password": "New password"})
        else:
            st.success("Password changed. Every other sign-in has ended.")
            web.go_to("/auth/session", ticket=ticket, next="/account")
    st.subheader("Sign out")
    st.caption("Signs you out on every device and browser where you are signed in.")
    if st.button("Sign out"):
        with web.action() as session:
            # Everywhere, not just here: a sign-in left open on a shared or taken
            # device ends too.
            accounts.end_all_sessions(session, user.id)
        web.post_to("/auth/signed-out", web.SIGN_OUT)
    data_and_safety_sections()


def home_page() -> None:
    """The dashboard: what is next for this person. Never an empty page: every state
    says what to do next."""
    if st.session_state.get(web.USER_KEY) is None:
        sign_in_page()
        return
    from onboarding import service as onboarding

    user = web.current_user()
    # Drawing the home page only reads: one read-only transaction (no write lock) for
    # all it shows, the dashboard included when there is one.
    with web.reading() as session:
        couple = couples.couple_of(session, user.id)
        partner = couples.partner_of(session, user.id)
        paused = is_paused(session, user.id)
        start = onboarding.state(session, user.id)
        board = (
            onboarding.dashboard(session, user.id, start=start)
            if not paused and couple is not None and couple.ended_at is None and partner
            else None
        )
    st.title(f"Hi {web.md(user.display_name)}")
    web.show_flash()
    if paused:
        # The quiet pause hides Tend's prompts; only this person sees that it is on.
        st.caption("Your reminders and prompts are paused. Resume them on your Account page.")
        if couple is not None:
            st.write(f"**{web.md(couple.name)}**")
        return
    if start.active:
        with st.container(border=True):
            st.write(
                f"**Your guided start: step {start.step_number} of {len(onboarding.STEPS)}**, "
                f"{onboarding.STEP_TITLES[start.current or 'next'].lower()}."
            )
            st.page_link(web.page("welcome"), label="Continue the guided start", icon="➡️")
    elif start.resumable:
        st.page_link(web.page("welcome"), label="Resume the guided start", icon="➡️")
    if couple is None:
        st.write("Your first step: create the space you will share, then invite your partner.")
        if not start.active:
            st.page_link(web.page("couple"), label="Create your couple space", icon="➡️")
        return
    if couple.ended_at is not None:
        st.write(f"Your partner left. **{web.md(couple.name)}** stays here for you to read.")
        st.page_link(web.page("checkin_history"), label="Your check-in history", icon="➡️")
        return
    if partner is None:
        with web.reading() as session:
            invites = couples.invitations(session, user.id)
        now = dt.datetime.now(dt.UTC)
        waiting = next(
            (i for i in invites if not i.revoked_at and not i.accepted_at and i.expires_at > now),
            None,
        )
        if waiting is not None:
            st.write(
                f"**{web.md(couple.name)}** is ready, and your invitation to "
                f"**{web.md(waiting.email)}** is on its way (valid until "
                f"{waiting.expires_at:%d %B}). Check-ins start once they have joined."
            )
            link = "Re-send or change the invitation"
        else:
            st.write(f"**{web.md(couple.name)}** is ready. Next: invite your partner.")
            link = "Invite your partner"
        if start.plan and not start.plan_proposed:
            st.write(
                f"Your plan of {len(start.plan)} agreements is proposed to them as soon as "
                "they join."
            )
        st.page_link(web.page("couple"), label=link, icon="➡️")
        return
    assert board is not None
    st.write(f"You and **{web.md(partner.display_name)}** share **{web.md(couple.name)}**.")
    _checkin_card(user, partner.display_name, board)
    if board.charter_step:
        with st.container(border=True):
            st.subheader("Our charter")
            st.write(web.md(board.charter_step))
            st.page_link(web.page("charter"), label="Open your charter", icon="➡️")
    _agreements_card(board)
    _warnings_card(board, user.id)


def _local_time(at: dt.datetime, timezone: str) -> str:
    from zoneinfo import ZoneInfo

    return f"{at.astimezone(ZoneInfo(timezone or 'UTC')):%A %d %B, %H:%M}"


def _checkin_card(user, partner_name: str, board) -> None:  # type: ignore[no-untyped-def]
    with st.container(border=True):
        st.subheader("Check-in")
        phase = board.round_phase
        if phase == "answer":
            due = _local_time(board.round_due_at, user.timezone)
            st.write(f"A check-in is open for you to answer, until {due}.")
            st.page_link(web.page("checkin"), label="Answer the check-in", icon="➡️")
            return
        if phase == "waiting":
            st.write(
                f"You have answered. Waiting for {web.md(partner_name)}; you see each "
                "other's answers once you have both answered."
            )
            st.page_link(web.page("checkin"), label="Look at or change your answers", icon="➡️")
            return
        if phase == "review" and not board.round_reviewed:
            st.write("You have both answered. Sit down together and go through it.")
            st.page_link(web.page("checkin"), label="Review together", icon="➡️")
            return
        if board.next_checkin is not None:
            when, agreed = board.next_checkin
            st.write(
                f"The next check-in opens on {_local_time(when, user.timezone)}"
                + ("." if agreed else ", once you both accepted the regular check-in.")
            )
            st.page_link(web.page("checkin"), label="Or start one now", icon="➡️")
        else:
            st.write(
                "No regular check-in is agreed yet. Propose one, so Tend opens a round and "
                "reminds you both at a time that suits you."
            )
            st.page_link(web.page("agreements"), label="Propose a regular check-in", icon="➡️")


def _agreements_card(board) -> None:  # type: ignore[no-untyped-def]
    with st.container(border=True):
        st.subheader("Agreements")
        if board.awaiting_my_answer:
            n = board.awaiting_my_answer
            st.write(
                f"**{n} agreement{'s' if n != 1 else ''} wait{'s' if n == 1 else ''} for your "
                "answer.** Accept, change or decline."
            )
            st.page_link(web.page("agreements"), label="Answer now", icon="➡️")
        elif board.agreements_in_force:
            n = board.agreements_in_force
            st.write(
                f"{n} agreement{'s' if n != 1 else ''} in force, and nothing waits for your "
                "answer. Something no longer fits? Propose a change."
            )
            st.page_link(web.page("agreements"), label="Your agreements", icon="➡️")
        else:
            st.write(
                "No agreement is in force yet. Start with a regular check-in and a cooldown: "
                "most couples who get back together need both."
            )
            st.page_link(web.page("agreements"), label="Propose an agreement", icon="➡️")


def _warnings_card(board, user_id: int) -> None:  # type: ignore[no-untyped-def]
    from checkins.pages import show_talked_about, show_warning

    with st.container(border=True):
        st.subheader("Worth a look")
        if not board.warnings:
            st.write(
                "No warning signs in your recent check-ins."
                + (
                    f" {board.open_topics} open topic{'s' if board.open_topics != 1 else ''} "
                    "to keep an eye on."
                    if board.open_topics
                    else ""
                )
            )
            show_talked_about(board.talked_about)
            st.page_link(web.page("trends"), label="See your trends", icon="➡️")
            return
        for warning in board.warnings:
            show_warning(warning, user_id, "home", brief=True)
        show_talked_about(board.talked_about)
        st.page_link(web.page("trends"), label="More on the Trends page", icon="➡️")
