"""Which pages exist, and which a visitor sees: signed out, signed in without a couple,
or signed in as a partner."""

from __future__ import annotations

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from couples import pages as couple_pages
from couples.models import User
from couples.settings import get_settings
from notifications import pages as mail_pages
from privacy import pages as safety_pages

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
    "help": st.Page(
        safety_pages.help_page, title="Help and about", url_path="help", icon=":material/help:"
    ),
    "get_help": st.Page(
        safety_pages.get_help_page,
        title="When to get help",
        url_path="get_help",
        icon=":material/support:",
    ),
    "mailbox": st.Page(
        mail_pages.mailbox_page, title="Mailbox (local)", url_path="mailbox", icon=":material/mail:"
    ),
}


def navigation_for(user: User | None) -> dict[str, list[StreamlitPage]]:
    local_mail = [PAGES["mailbox"]] if get_settings().uses_file_drop else []
    # Help is there for everyone, signed in or not: someone may need it before they
    # ever create an account, or after they deleted it.
    help_pages = [PAGES["help"], PAGES["get_help"]]
    if user is None:
        return {
            "": [PAGES["sign_in"], PAGES["register"], PAGES["reset_password"], PAGES["join"]],
            "Help": help_pages,
            "Local": local_mail,
        }
    return {
        "": [PAGES["home"], PAGES["couple"], PAGES["join"]],
        "You": [PAGES["account"], *local_mail],
        "Help": help_pages,
    }
