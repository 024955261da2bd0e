"""Small helpers shared by the Streamlit pages: who is signed in, one transaction per
action, showing errors next to the fields that caused them, leaving for a route."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode

import streamlit as st
from sqlalchemy.orm import Session

from couples import accounts, clients
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


def _text(value: object) -> str | None:
    # Outside a browser (AppTest) the context holds placeholder objects, not strings.
    return value if isinstance(value, str) and value else None


def client_address() -> str:
    """The client's address; X-Forwarded-For counts only from TEND_TRUSTED_PROXIES."""
    from couples.settings import get_settings

    # Several X-Forwarded-For headers read as one list, in order.
    values = st.context.headers.get_all("X-Forwarded-For")
    forwarded = (
        ", ".join(v for v in values if isinstance(v, str)) if isinstance(values, list) else ""
    )
    return clients.client_address(
        _text(st.context.ip_address), forwarded or None, get_settings().trusted_proxy_networks
    )


def client_id() -> str:
    """This browser's sign-in throttling key: its device cookie, else its address."""
    device = _text(st.context.cookies.get(clients.DEVICE_COOKIE))
    return clients.device_key(device, "" if device else client_address())


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
        lines = [f"**{labels.get(name, name)}:** {msg}" for name, msg in exc.fields.items()]
        st.error("  \n".join(lines))
    else:
        st.error(str(exc))


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
    """Escape user-written text for st.markdown, so it shows exactly as typed."""
    return text.translate(_MARKDOWN_ESCAPES)


def page(name: str):  # type: ignore[no-untyped-def]
    from tend.navigation import PAGES

    return PAGES[name]


def mailbox_hint() -> None:
    from couples.settings import get_settings

    if get_settings().uses_file_drop:
        st.info("No mail server is configured, so Tend keeps its mails in the local Mailbox page.")
        st.page_link(page("mailbox"), label="Open the Mailbox", icon=":material/mail:")
