"""Which pages exist, and which a visitor sees in the menu.

Every page is registered for everyone, so a link from a mail (say /couple) always finds
its page; pages that need a signed-in user ask for a sign-in first (tend.web.current_user)
and then come back. The menu (Streamlit's own, one element) shows only what fits the
visitor: every other page is registered as a hidden twin.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import streamlit as st
from streamlit.navigation.page import StreamlitPage
from streamlit.runtime.scriptrunner import get_script_run_ctx

from agreements import pages as agreement_pages
from charter import pages as charter_pages
from checkins import pages as checkin_pages
from couples import pages as couple_pages
from couples.models import User
from infra.settings import get_settings
from notifications import pages as mail_pages
from onboarding import pages as onboarding_pages
from privacy import pages as safety_pages
from reports import pages as report_pages
from tend import web
from tend.a11y import page_aids


def build_pages() -> dict[str, StreamlitPage]:
    """Every page, as new st.Page objects.

    Each session builds its own (session_menu): st.navigation marks the page it returns
    as the one that may run, on the object itself, and the page's run clears the mark.
    Objects shared by all sessions let one session's run clear the mark another
    session's navigation had just set ("This page cannot be called directly"): with a
    few people on the server at once, pages failed at random
    (tests/test_concurrent_sessions.py). A session's runs follow one another, so its
    own objects are safe to reuse.
    """
    return {
        # The default page, served at "/": home when signed in, else the sign-in form. Marked
        # explicitly: the menu (and its first page) changes with the visitor, "/" does not.
        "home": st.Page(couple_pages.home_page, title="Home", icon=":material/home:", default=True),
        "welcome": st.Page(
            onboarding_pages.welcome_page,
            title="Getting started",
            url_path="welcome",
            icon=":material/flag:",
        ),
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
        "checkin": st.Page(
            checkin_pages.checkin_page,
            title="This check-in",
            url_path="checkin",
            icon=":material/forum:",
        ),
        "talk": st.Page(
            checkin_pages.talk_page,
            title="Our talk",
            url_path="talk",
            icon=":material/record_voice_over:",
        ),
        "checkin_history": st.Page(
            checkin_pages.history_page,
            title="Check-in history",
            url_path="checkin_history",
            icon=":material/history:",
        ),
        "topics": st.Page(
            checkin_pages.topics_page, title="Topics", url_path="topics", icon=":material/topic:"
        ),
        "trends": st.Page(
            checkin_pages.trends_page,
            title="Trends",
            url_path="trends",
            icon=":material/monitoring:",
        ),
        "charter": st.Page(
            charter_pages.charter_page,
            title="Our charter",
            url_path="charter",
            icon=":material/history_edu:",
        ),
        "agreements": st.Page(
            agreement_pages.agreements_page,
            title="Agreements",
            url_path="agreements",
            icon=":material/handshake:",
        ),
        "agreement": st.Page(
            agreement_pages.agreement_page,
            title="Agreement",
            url_path="agreement",
            icon=":material/handshake:",
            visibility="hidden",
        ),
        "propose_agreement": st.Page(
            agreement_pages.propose_page,
            title="Propose an agreement",
            url_path="propose",
            icon=":material/edit_note:",
            visibility="hidden",
        ),
        "cooldown": st.Page(
            agreement_pages.cooldown_page,
            title="Cooldown",
            url_path="cooldown",
            icon=":material/pause_circle:",
        ),
        "therapy": st.Page(
            agreement_pages.therapy_page,
            title="Therapy plan",
            url_path="therapy",
            icon=":material/psychology:",
        ),
        "report": st.Page(
            report_pages.report_page,
            title="Therapist report",
            url_path="report",
            icon=":material/description:",
        ),
        "notifications": st.Page(
            mail_pages.notifications_page,
            title="Notifications",
            url_path="notifications",
            icon=":material/notifications:",
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
            mail_pages.mailbox_page,
            title="Mailbox (local)",
            url_path="mailbox",
            icon=":material/mail:",
        ),
    }


class _SharedPages(Mapping[str, StreamlitPage]):
    """The pages' addresses (url paths, script hashes) for links and tests, made on first
    use. Never handed to st.navigation: see build_pages.

    Made lazily, in a script run: an st.Page made outside one (this module imported by a
    test, a tool or the server before any run) is half made, and every link drawn from
    it later failed ("'Page' object has no attribute '_url_path'")."""

    def __init__(self) -> None:
        self._pages: dict[str, StreamlitPage] | None = None

    def made(self) -> dict[str, StreamlitPage]:
        """The pages, made now if this is the first script run to need them."""
        if self._pages is None:
            if get_script_run_ctx(suppress_warning=True) is None:
                raise RuntimeError("Tend's pages are made in a script run: use them in one.")
            self._pages = build_pages()
        return self._pages

    def __getitem__(self, name: str) -> StreamlitPage:
        return self.made()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.made())

    def __len__(self) -> int:
        return len(self.made())


PAGES = _SharedPages()


def navigation_for(
    user: User | None, pages: Mapping[str, StreamlitPage] | None = None
) -> dict[str, list[StreamlitPage]]:
    """The menu: sections of pages for this visitor (of ``pages``, by default PAGES)."""
    p = PAGES if pages is None else pages
    local_mail = [p["mailbox"]] if get_settings().uses_file_drop else []
    # Help is there for everyone, signed in or not: someone may need it before they
    # ever create an account, or after they deleted it.
    help_pages = [p["help"], p["get_help"]]
    if user is None:
        return {
            "": [p["sign_in"], p["register"], p["reset_password"]],
            "Help": help_pages,
            "Local": local_mail,
        }
    return {
        "": [p["home"], p["welcome"], p["couple"]],
        "Check-ins": [
            p["checkin"],
            p["talk"],
            p["checkin_history"],
            p["topics"],
            p["trends"],
        ],
        "Together": [
            p["charter"],
            p["agreements"],
            p["cooldown"],
            p["therapy"],
            p["report"],
        ],
        "You": [p["account"], p["notifications"], *local_mail],
        "Help": help_pages,
    }


def _hidden_twin(page: StreamlitPage) -> StreamlitPage:
    """The same page, reachable by its address but left out of the menu."""
    return st.Page(
        page._page,
        title=page.title,
        icon=page.icon,
        url_path=page._url_path,
        default=page._default,
        visibility="hidden",
    )


def menu_for(user: User | None) -> dict[str, list[StreamlitPage]]:
    """What st.navigation gets, made for this run: the visitor's menu, then every other
    page as a hidden twin."""
    every = build_pages()
    sections = {name: pages for name, pages in navigation_for(user, every).items() if pages}
    shown = {id(page) for pages in sections.values() for page in pages}
    # With a mail server there is no local Mailbox at all: not even at its address.
    absent = set() if get_settings().uses_file_drop else {"mailbox"}
    rest = [
        _hidden_twin(page)
        for key, page in every.items()
        if id(page) not in shown and key not in absent
    ]
    first = next(iter(sections))
    # Unlabelled, and first: the hidden pages add no heading to the menu.
    return {first: [*sections[first], *rest], **{k: v for k, v in sections.items() if k != first}}


MENUS_KEY = "_tend_menus"


def session_menu(user: User | None) -> dict[str, list[StreamlitPage]]:
    """This session's menu for this kind of visitor, built on its first run (building
    ~30 st.Page objects costs a few milliseconds, a tenth of a bare page's run)."""
    menus = st.session_state.setdefault(MENUS_KEY, {})
    kind = (user is None, get_settings().uses_file_drop)
    if kind not in menus:
        menus[kind] = menu_for(user)
    return menus[kind]


def run(user: User | None) -> None:
    """Route the request, draw the menu, run the page."""
    PAGES.made()  # in the first run, so links and tests find them made in a run
    page = st.navigation(session_menu(user), position="sidebar", expanded=True)
    st.session_state["_tend_page_path"] = "/" + page.url_path
    if user is not None:
        # One read for the sidebar control and the phone shortcut.
        cooldown = agreement_pages.cooldown_state()
        with st.sidebar:
            # "I need a cooldown" must be reachable from every page in a tap or two.
            agreement_pages.cooldown_control(cooldown)
    safety_pages.quick_exit()
    page_aids()  # the style and scripts of every page (focus, contrast, press guard)
    if user is not None:
        agreement_pages.cooldown_shortcut(cooldown)
    web.show_held_mail()
    page.run()
