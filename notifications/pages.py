"""The local Mailbox: what the file-drop transport wrote, for installs without SMTP."""

from __future__ import annotations

import streamlit as st

from couples.settings import get_settings
from notifications.mailbox import dropped_mails, links_in


def mailbox_page() -> None:
    settings = get_settings()
    st.title("Mailbox (local)")
    st.warning(
        "No mail server is configured (TEND_SMTP_HOST is unset), so Tend writes its mails "
        f"to `{settings.mail_dir}` and shows them here. Anyone who can open this Tend can "
        "read them: fine on your own computer, not for a shared server."
    )
    mails = dropped_mails(settings.mail_dir)
    if not mails:
        st.info("No mail yet. Mails appear here a few seconds after Tend sends them.")
        if st.button("Refresh"):
            st.rerun()
        return
    if st.button("Refresh"):
        st.rerun()
    for mail in mails[:50]:
        with st.expander(f"{mail.subject} — to {mail.to}"):
            st.caption(mail.date)
            st.text(mail.text)
            for url in links_in(mail.text, settings.base_url):
                st.link_button("Open the link in this mail", url)
