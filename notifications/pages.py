"""The local Mailbox: what the file-drop transport wrote, for installs without SMTP."""

from __future__ import annotations

import streamlit as st

from infra.errors import TendError
from infra.settings import get_settings
from tend import web
from tend.mailbox import MailboxReader, links_in, visible_mails


def mailbox_page() -> None:
    settings = get_settings()
    if not settings.uses_file_drop:
        # Not registered in SMTP mode (tend.navigation); never shown there either.
        st.title("Not found")
        return
    st.title("Mailbox (local)")
    st.caption(
        "No mail server is configured (TEND_SMTP_HOST is unset), so Tend keeps its mails "
        "on this computer instead of sending them. This page shows you only the mails "
        "meant for you: those to your own address once you are signed in, the invitations "
        "you sent, and the confirmation link of an account you registered in this browser "
        "tab. A password-reset link is shown only to its owner signed in; whoever runs Tend "
        "finds every mail with `tend mailbox` on the server."
    )
    user = st.session_state.get(web.USER_KEY)
    reader = MailboxReader(
        user_id=user.id if user else None,
        email=user.email if user else None,
        registrations=frozenset(st.session_state.get(web.REGISTRATIONS_KEY, ())),
    )
    with web.reading() as session:
        mails = visible_mails(session, settings.mail_dir, reader)
    if st.button("Refresh"):
        st.rerun()
    if not mails:
        st.info("No mail for you yet. Mails appear here a few seconds after Tend sends them.")
        return
    for mail in mails:
        # The label stays plain words: an address in it would be a link inside the
        # expander's own control (axe: nested-interactive).
        with st.expander(web.md(mail.subject)):
            st.text(f"To: {mail.to}")
            st.caption(mail.date)
            st.text(mail.text)
            for url in links_in(mail.text, settings.base_url):
                st.link_button("Open the link in this mail", url)


HOUR_NONE = "—"
HOURS = [HOUR_NONE, *range(24)]
PREF_LABELS = {
    "preferred_hour": "Preferred hour",
    "quiet_start": "Quiet from",
    "quiet_end": "Quiet until",
    "enabled": "Reminders",
}


def _or_none(value: int | None) -> object:
    return HOUR_NONE if value is None else value


def _hour_label(value: object) -> str:
    return value if isinstance(value, str) else f"{value:02d}:00"


def notifications_page() -> None:
    """Which reminders a person gets, and when (in their own time zone)."""
    from notifications import preferences
    from notifications.scheduler import load_planners
    from tend import web

    load_planners()  # so every capability's reminder kinds are listed
    user = web.current_user()
    with web.action() as session:
        prefs = preferences.preferences_for(session, user.id)
        session.expunge_all()
    st.title("Notifications")
    st.write(
        f"Times are in your time zone, **{web.md(user.timezone)}** (change it on the "
        "Account page). Mails never contain what you or your partner wrote."
    )
    with st.form("notification_prefs"):
        paused = st.toggle("Pause all reminders", value=prefs.paused)
        enabled: dict[str, bool] = {}
        groups = preferences.prompt_kinds_by_group()
        if groups:
            st.markdown("**Remind me when…**")
        for group, kinds in groups:
            st.caption(group)
            for kind, label in kinds:
                enabled[kind] = st.checkbox(
                    label, value=kind not in (prefs.disabled_kinds or []), key=f"pref_{kind}"
                )
        preferred = st.selectbox(
            "Preferred hour",
            HOURS,
            index=HOURS.index(
                prefs.preferred_hour if prefs.preferred_hour is not None else HOUR_NONE
            ),
            format_func=_hour_label,
            help="Reminders wait for this hour. — sends them as soon as they are due.",
        )
        left, right = st.columns(2)
        quiet_start = left.selectbox(
            "Quiet from",
            HOURS,
            index=HOURS.index(_or_none(prefs.quiet_start)),
            format_func=_hour_label,
        )
        quiet_end = right.selectbox(
            "Quiet until",
            HOURS,
            index=HOURS.index(_or_none(prefs.quiet_end)),
            format_func=_hour_label,
            help="No reminders in between (for example 22:00 until 07:00).",
        )
        submitted = st.form_submit_button("Save", type="primary")
    if submitted:

        def hour(value: object) -> int | None:
            return None if value == HOUR_NONE else int(value)  # type: ignore[call-overload]

        try:
            with web.action() as session:
                preferences.update_preferences(
                    session,
                    user.id,
                    paused=paused,
                    enabled=enabled,
                    preferred_hour=hour(preferred),
                    quiet_start=hour(quiet_start),
                    quiet_end=hour(quiet_end),
                )
        except TendError as exc:
            web.show_error(exc, PREF_LABELS)
        else:
            st.success("Saved.")
