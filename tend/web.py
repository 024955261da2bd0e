"""Small helpers shared by the Streamlit pages: who is signed in, one transaction per
action, showing errors next to the fields that caused them, leaving for a route."""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import streamlit as st
from sqlalchemy import event
from sqlalchemy.orm import Session
from streamlit.runtime.scriptrunner import get_script_run_ctx

from couples import accounts, clients
from couples import service as couples
from couples.models import User
from infra.db import transaction, utcnow
from infra.errors import InvalidInput, TendError
from notifications.models import OutboxMessage
from notifications.preferences import unwritten_mail
from tend.csrf import FORM_FIELD, form_token

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
    token = session_token()
    # Read-only first: a page run takes the write lock only when the session is due a
    # write (accounts.read_session).
    with transaction(immediate=False) as session:
        user, due = accounts.read_session(session, token)
        if user is not None:
            session.expunge(user)
    if due:
        with transaction() as session:
            user = accounts.resolve_session(session, token)
            if user is not None:
                session.expunge(user)
    st.session_state[USER_KEY] = user
    return user


READ_ONLY_NOTE = (
    "Your partner left this couple space. It stays here for you to read, but nothing in it "
    "can change now."
)


def read_only_note() -> None:
    """Said once at the top of a page of a frozen couple space (the partner left), whose
    actions the page leaves out: only what can be done is offered."""
    st.info(READ_ONLY_NOTE)


def current_user() -> User:
    """The signed-in user; anyone else is asked to sign in and comes back here after."""
    user = st.session_state.get(USER_KEY)
    if user is None:
        from couples.pages import sign_in_form

        st.title("Sign in to continue")
        sign_in_form(next_path=st.session_state.get(PAGE_PATH_KEY, "/"))
        st.stop()
    return user


def fragment_rerun() -> bool:
    """Whether this run is a fragment's own rerun (the sidebar cooldown control, the
    talk), which runs without app.py and so without :func:`resolve_current_user`."""
    ctx = get_script_run_ctx()
    return ctx is None or bool(ctx.fragment_ids_this_run)


def _require_live_session(session: Session, *, touch: bool) -> None:
    """The person this run draws for must still hold a live session. A fragment (the
    sidebar cooldown control) reruns without app.py, so the user in session state may
    belong to a session that ended on another device since: then the whole app reruns
    and the page asks to sign in. Checked in the transaction that acts, and in a
    fragment's rerun in the transaction that reads; a full run's readings rely on the
    check app.py made at the start of the same run (one session lookup per page run,
    not one per transaction)."""
    user = st.session_state.get(USER_KEY)
    if user is None:
        return
    if not touch and not fragment_rerun():
        return
    current = accounts.resolve_session(session, session_token(), touch=touch)
    if current is None or current.id != user.id:
        st.session_state[USER_KEY] = None
        st.rerun(scope="app")


HELD_MAIL_KEY = "_tend_held_mail"


@contextmanager
def action() -> Iterator[Session]:
    """One transaction for one user action, by a signed-in person only while their
    session is live (else nothing is done and the page asks to sign in).

    Mails the action writes to the partner that wait for their quiet hours are said
    where the person acted (:func:`show_held_mail`): nothing is delayed silently."""
    written: list[OutboxMessage] = []

    def note_mail(_session: Session, instance: object) -> None:
        if isinstance(instance, OutboxMessage):
            written.append(instance)

    with transaction() as session:
        _require_live_session(session, touch=True)
        event.listen(session, "pending_to_persistent", note_mail)
        yield session
        user = st.session_state.get(USER_KEY)
        # Reminders a pause kept from being written are said like written ones.
        planned = [*written, *unwritten_mail(session)]
        notes = (
            couples.held_mail_notes(
                session, user.id, planned, now=utcnow(), viewer_tz=user.timezone
            )
            if planned and user is not None
            else []
        )
    if notes:
        st.session_state[HELD_MAIL_KEY] = notes


def show_held_mail() -> None:
    """Once, on the page drawn after the action: when the partner gets its mail."""
    for note in st.session_state.pop(HELD_MAIL_KEY, []):
        st.info(md(note), icon=":material/schedule:")


@contextmanager
def reading() -> Iterator[Session]:
    """One transaction that only reads: on SQLite it does not wait for (or hold up) the
    write lock, so drawing a page never queues behind the scheduler. The session check
    (in a fragment's rerun only, see :func:`_require_live_session`) writes nothing
    either, so a page that re-reads every few seconds does not keep an idle session
    alive."""
    with transaction(immediate=False) as session:
        _require_live_session(session, touch=False)
        yield session


def _text(value: object) -> str | None:
    # Outside a browser (AppTest) the context holds placeholder objects, not strings.
    return value if isinstance(value, str) and value else None


def client_address() -> str:
    """The client's address; X-Forwarded-For counts only from TEND_TRUSTED_PROXIES."""
    from infra.settings import get_settings

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


def act(
    call: Callable[[Session], object], message: str, labels: dict[str, str] | None = None
) -> None:
    """Run one service call as one action; on success show ``message`` after the rerun,
    else the error next to the form (its fields keep what was typed)."""
    try:
        with action() as session:
            call(session)
    except TendError as exc:
        show_error(exc, labels)
    else:
        flash(message)
        st.rerun()


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


# Tend's routes that act for the signed-in person take a POST with a form token bound
# to the session (tend.csrf), never a GET a link on another site could make.
SIGN_OUT = "sign-out"
EXPORT = "export"
EXPORT_PATH = "/account/export"
REPORT_PDF = "report-pdf"
REPORT_PDF_PATH = "/report/pdf"


def _post_form(path: str, purpose: str, label: str, form_id: str) -> str:
    token = session_token()
    value = form_token(token, purpose) if token else ""
    return (
        f'<form id="{form_id}" method="post" action="{html.escape(path)}">'
        f'<input type="hidden" name="{FORM_FIELD}" value="{value}">'
        f'<button type="submit" class="tend-post-button">{html.escape(label)}</button></form>'
    )


_POST_BUTTON_CSS = """<style>
.tend-post-button { padding: 0.4rem 0.9rem; border-radius: 0.5rem; cursor: pointer;
  border: 1px solid rgba(128, 128, 128, 0.4); background: transparent; color: inherit;
  font: inherit; }
.tend-post-button:hover, .tend-post-button:focus { border-color: #2f4f4f; color: #2f4f4f; }
</style>"""


def post_to(path: str, purpose: str) -> None:
    """Leave for one of Tend's routes by POST (sign-out): the form submits itself; its
    button is there if scripts are off."""
    form_id = f"tend-post-{purpose}"
    st.html(
        _post_form(path, purpose, "Continue", form_id)
        + f"<script>document.getElementById({json.dumps(form_id)}).submit()</script>",
        unsafe_allow_javascript=True,
    )
    st.stop()


def post_button(path: str, purpose: str, label: str) -> None:
    """A button that posts to one of Tend's routes (the export download)."""
    st.html(_POST_BUTTON_CSS + _post_form(path, purpose, label, f"tend-post-{purpose}"))


def go_to(path: str, **params: str) -> None:
    """Send the browser to one of Tend's own routes (they set or clear the cookie)."""
    url = path + ("?" + urlencode(params) if params else "")
    # The URL is built from our own path and URL-safe tokens only; json.dumps quotes it.
    st.html(
        f"<script>window.location.assign({json.dumps(url)})</script>", unsafe_allow_javascript=True
    )
    st.link_button("Continue", url)
    st.stop()


# "@": an address typed or shown never becomes a live mailto link (inside an expander's
# label that link would also be a control inside a control).
MARKDOWN_SPECIALS = "\\`*_{}[]<>()#+-.!|~$:@"
_MARKDOWN_ESCAPES = str.maketrans({ch: "\\" + ch for ch in MARKDOWN_SPECIALS})


def local_today(timezone: str | None) -> dt.date:
    """Today's date on the person's own clock: a form's "today" (a default, a limit) is
    theirs, not the server's, which is a day off for half the world in its evening."""
    return utcnow().astimezone(ZoneInfo(timezone or "UTC")).date()


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


# Pending registrations started in this browser tab: the local Mailbox shows their
# confirmation mails (and nothing else) before the person has an account.
REGISTRATIONS_KEY = "_tend_registrations"


def remember_registration(pending_id: int | None) -> None:
    if pending_id is not None:
        st.session_state[REGISTRATIONS_KEY] = {
            *st.session_state.get(REGISTRATIONS_KEY, ()),
            pending_id,
        }


def mailbox_hint(*, shown_here: bool = True) -> None:
    """Where the mail just sent can be read when there is no mail server. A password
    reset asked for while signed out is not shown in this browser (it could be anyone's
    address): then only the operator reads it, on the server."""
    from infra.settings import get_settings

    if not get_settings().uses_file_drop:
        return
    if not shown_here:
        st.info(
            "No mail server is configured, so Tend keeps its mails on the server. Whoever "
            "runs this Tend finds the link there with `tend mailbox`."
        )
        return
    st.info("No mail server is configured, so Tend keeps its mails in the local Mailbox page.")
    st.page_link(page("mailbox"), label="Open the Mailbox", icon=":material/mail:")
