"""Which pages exist, and which a visitor sees: signed out, signed in without a couple,
or signed in as a partner."""

from __future__ import annotations

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from couples import pages as couple_pages
from couples.models import User
from couples.settings import get_settings
from notifications import pages as mail_pages

PAGES: dict[str, StreamlitPage] = {
    "home": st.Page(couple_pages.home_page, title="Home", url_path="home", icon=":material/home:"),
    "couple": st.Page(
        couple_pages.couple_page,
        title="Couple space",
        url_path="couple",
        icon=":material/favorite:",
    ),
    "account": st.Page(
        couple_pages.account_page, title="Account", url_path="account", icon=":material/person:"
    ),
    "sign_in": st.Page(
        couple_pages.sign_in_page, title="Sign in", url_path="sign_in", icon=":material/login:"
    ),
    "register": st.Page(
        couple_pages.register_page,
        title="Register",
        url_path="register",
        icon=":material/person_add:",
    ),
    "reset_password": st.Page(
        couple_pages.reset_password_page,
        title="Reset password",
        url_path="reset_password",
        icon=":material/key:",
    ),
    "join": st.Page(
        couple_pages.join_page,
        title="Join your partner",
        url_path="join",
        icon=":material/group_add:",
    ),
    "notifications": st.Page(
        mail_pages.notifications_page,
        title="Notifications",
        url_path="notifications",
        icon=":material/notifications:",
    ),
    "mailbox": st.Page(
        mail_pages.mailbox_page, title="Mailbox (local)", url_path="mailbox", icon=":material/mail:"
    ),
}


def navigation_for(user: User | None) -> dict[str, list[StreamlitPage]]:
    local_mail = [PAGES["mailbox"]] if get_settings().uses_file_drop else []
    if user is None:
        return {
            "": [PAGES["sign_in"], PAGES["register"], PAGES["reset_password"], PAGES["join"]],
            "Local": local_mail,
        }
    return {
        "": [PAGES["home"], PAGES["couple"], PAGES["join"]],
        "You": [PAGES["account"], PAGES["notifications"], *local_mail],
    }
