"""Small helpers shared by the Streamlit pages: who is signed in, one transaction per
action, showing errors next to the fields that caused them, leaving for a route."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode

import streamlit as st
from sqlalchemy.orm import Session

from couples import accounts
from couples.db import transaction
from couples.errors import InvalidInput, TendError
from couples.models import User

SESSION_COOKIE = "tend_session"
# AppTest cannot send cookies; tests hand the same token over through session state.
TEST_TOKEN_KEY = "_tend_session_token"
USER_KEY = "_tend_user"
PAGE_PATH_KEY = "_tend_page_path"


def session_token() -> str | None:
    # The test hand-over first: only server code sets it, and under AppTest the cookie
    # mapping is a mock whose every lookup costs more than the rest of the sign-in gate.
    token = st.session_state.get(TEST_TOKEN_KEY)
    if not (isinstance(token, str) and token):
        token = st.context.cookies.get(SESSION_COOKIE)
    # Outside a browser (AppTest) the cookie mapping may hold placeholders.
    return token if isinstance(token, str) and token else None


def resolve_current_user() -> User | None:
    """Called once per run by app.py; pages then read :func:`current_user`."""
    with transaction() as session:
        user = accounts.resolve_session(session, session_token())
        if user is not None:
            session.expunge(user)
    st.session_state[USER_KEY] = user
    return user


def current_user() -> User:
    """The signed-in user; anyone else is asked to sign in and comes back here after."""
    user = st.session_state.get(USER_KEY)
    if user is None:
        from couples.pages import sign_in_form

        st.title("Sign in to continue")
        sign_in_form(next_path=st.session_state.get(PAGE_PATH_KEY, "/"))
        st.stop()
    return user


@contextmanager
def action() -> Iterator[Session]:
    """One transaction for one user action."""
    with transaction() as session:
        yield session


@contextmanager
def reading() -> Iterator[Session]:
    """One transaction that only reads: on SQLite it does not wait for (or hold up) the
    write lock, so drawing a page never queues behind the scheduler."""
    with transaction(immediate=False) as session:
        yield session


def client_id() -> str:
    ip = st.context.ip_address
    # Outside a browser (AppTest) this may be a placeholder object, not an address.
    return ip if isinstance(ip, str) and ip else "unknown"


# Every id column is a 32-bit INTEGER on PostgreSQL; a larger number cannot name a row.
MAX_ID = 2**31 - 1


def query_id(name: str) -> int | None:
    """A positive id from the query string, or None for anything else (missing, not a
    number, too large for the database): the page then says "not found"."""
    raw = st.query_params.get(name, "")
    if not (isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 10):
        return None
    value = int(raw)
    return value if 0 < value <= MAX_ID else None


def browser_timezone(default: str = "UTC") -> str:
    tz = st.context.timezone
    return tz if tz and accounts.timezone_problem(tz) is None else default


FLASH_KEY = "_tend_flash"


def flash(message: str) -> None:
    """A success message that survives the st.rerun() that follows an action."""
    st.session_state[FLASH_KEY] = message


def show_flash() -> None:
    message = st.session_state.pop(FLASH_KEY, None)
    if message:
        st.success(message)


def show_error(exc: TendError, labels: dict[str, str] | None = None) -> None:
    """Show what went wrong; for a form, one line per field, named by its label."""
    if isinstance(exc, InvalidInput):
        labels = labels or {}
        # Labels can be a couple's own question prompts or agreement titles.
        lines = [f"**{md(labels.get(name, name))}:** {md(msg)}" for name, msg in exc.fields.items()]
        st.error("  \n".join(lines))
    else:
        st.error(md(str(exc)))


def go_to(path: str, **params: str) -> None:
    """Send the browser to one of Tend's own routes (they set or clear the cookie)."""
    url = path + ("?" + urlencode(params) if params else "")
    # The URL is built from our own path and URL-safe tokens only; json.dumps quotes it.
    st.html(
        f"<script>window.location.assign({json.dumps(url)})</script>", unsafe_allow_javascript=True
    )
    st.link_button("Continue", url)
    st.stop()


_MARKDOWN_SPECIALS = "\\`*_{}[]<>()#+-.!|~$:"
_MARKDOWN_ESCAPES = str.maketrans({ch: "\\" + ch for ch in _MARKDOWN_SPECIALS})


def md(text: str) -> str:
    """Escape text a person typed so it shows exactly as typed, never as live Markdown
    (a remote image in a name would tell its author when and from where the other reads).

    Needed wherever Streamlit draws Markdown: st.markdown/write/caption, st.title/header/
    subheader, alerts (success/info/warning/error), toasts, every widget label (text,
    radio, checkbox, selectbox, button, page_link, ...), radio options (format_func),
    expander and tab labels, st.metric labels. Not for what Streamlit shows as plain text
    (selectbox/multiselect options, input values and placeholders, st.code, st.text,
    chart labels): there the backslashes would show."""
    return text.translate(_MARKDOWN_ESCAPES)


def page(name: str):  # type: ignore[no-untyped-def]
    from tend.navigation import PAGES

    return PAGES[name]


def mailbox_hint() -> None:
    from couples.settings import get_settings

    if get_settings().uses_file_drop:
        st.info("No mail server is configured, so Tend keeps its mails in the local Mailbox page.")
        st.page_link(page("mailbox"), label="Open the Mailbox", icon=":material/mail:")
