"""Hostile input through every foundation form, by hypothesis: control characters,
10,000 characters, right-to-left text, HTML and script tags, markdown, file paths
(including one that exists: yagmail would attach it). No crash; what is accepted is
stored exactly as typed (trimmed where documented) and shown back escaped; no mail gains
an attachment or a header."""

from __future__ import annotations

import itertools
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from couples import accounts
from couples import service as couples
from couples.models import Couple, PendingRegistration, User
from infra.db import engine_for, transaction
from infra.errors import TendError
from infra.settings import get_settings
from notifications.models import OutboxMessage
from notifications.rendering import render
from privacy import erase
from tend import web
from tests.canary import APP
from tests.factories import make_couple, make_user

NASTY = [
    "\x00",
    "a\x07b\x1b[31m",
    "name\r\nBcc: victim@example.org",
    "x\nSubject: injected",
    "x" * 10_000,
    "مرحبا بالعالم",
    "\u202eevil.exe\u202c",
    "שלום עולם",
    "<script>alert(1)</script>",
    "<b>bold</b><img src=x onerror=alert(1)>",
    "**bold** _it_ [link](http://evil.example) # heading",
    "{{ 7*7 }} {% raw %}",
    "/etc/passwd",
    "C:\\Windows\\win.ini",
    "../../../etc/shadow",
    str(Path(__file__).resolve()),
    "   padded   ",
    "",
]
nasty = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=60),
    st.tuples(st.sampled_from(NASTY), st.text(max_size=20)).map("".join),
)
FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
EXPECTED_HEADERS = {
    "subject",
    "from",
    "to",
    "date",
    "message-id",
    "auto-submitted",
    "mime-version",
    "content-type",
}
# Prompts carry one-click unsubscribe headers; mails someone asked for do not need them.
OPTIONAL_HEADERS = {"list-unsubscribe", "list-unsubscribe-post"}
_n = itertools.count()


def unique_email() -> str:
    return f"p{next(_n)}@example.org"


def assert_mails_are_plain(s) -> None:  # type: ignore[no-untyped-def]
    """Every queued mail renders with exactly Tend's headers and no attachment."""
    cfg = get_settings()
    for row in s.scalars(select(OutboxMessage)):
        email = render(row, cfg)
        assert not list(email.iter_attachments()), row.kind
        parsed = message_from_bytes(bytes(email), policy=policy.default)
        headers = {k.lower() for k in parsed}
        assert EXPECTED_HEADERS <= headers <= EXPECTED_HEADERS | OPTIONAL_HEADERS, row.kind
        assert len(parsed.get_all("To")) == 1
        for value in parsed.values():
            assert "\n" not in str(value) and "\r" not in str(value)


@given(name=nasty, email=nasty, password=nasty)
@FUZZ
def test_register(tx, tend_env, name: str, email: str, password: str) -> None:
    for address in (email, unique_email()):
        reg = accounts.Registration(address, name, password, "UTC")
        try:
            with tx() as s:
                accounts.register(s, reg)
        except TendError:
            continue
        with tx() as s:
            pending = s.scalars(
                select(PendingRegistration).order_by(PendingRegistration.id.desc())
            ).first()
            assert pending.display_name == name.strip()
            assert_mails_are_plain(s)


@given(name=nasty, couple_name=nasty, invitee=nasty)
@FUZZ
def test_profile_couple_and_invitation(tx, tend_env, name, couple_name, invitee) -> None:
    with tx() as s:
        user = make_user(s, unique_email())
    try:
        with tx() as s:
            accounts.update_profile(s, user.id, display_name=name, timezone="UTC")
        with tx() as s:
            assert s.get(User, user.id).display_name == name.strip()
    except TendError:
        pass
    try:
        with tx() as s:
            couples.create_couple(s, user.id, name=couple_name, reunited_on=None)
        with tx() as s:
            assert couples.couple_of(s, user.id).name == couple_name.strip()
    except TendError:
        return
    try:
        with tx() as s:
            couples.invite_partner(s, user.id, invitee)
    except TendError:
        pass
    with tx() as s:
        assert_mails_are_plain(s)


@given(email=nasty, password=nasty)
@FUZZ
def test_sign_in_reset_password_and_delete(tx, tend_env, email, password) -> None:
    with tx() as s:
        user = make_user(s, unique_email())
    with tx() as s:
        result = accounts.sign_in(s, email, password, client=unique_email())
        assert result.user is None
        accounts.request_password_reset(s, email)
    for action in (
        lambda s: accounts.change_password(s, user.id, password, password),
        lambda s: erase.delete_account(s, user.id, password),
    ):
        with pytest.raises(TendError), tx() as s:
            action(s)
    with tx() as s:
        assert s.get(User, user.id).email == user.email
        assert_mails_are_plain(s)


# --- through the pages -----------------------------------------------------------------

page_text = st.one_of(
    st.sampled_from([t for t in NASTY if len(t) <= 100 and t.strip()]),
    st.text(min_size=1, max_size=40).filter(lambda t: t.strip()),
)


def _go(at: AppTest, name: str) -> AppTest:
    from tend.navigation import PAGES

    at._page_hash = PAGES[name]._script_hash
    return at.run()


@given(name=page_text, couple_name=page_text)
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_pages_store_and_show_back_exactly(tend_env, name: str, couple_name: str) -> None:
    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        user = make_user(s, unique_email())
        token = accounts.start_session(s, user.id)
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state[web.TEST_TOKEN_KEY] = token
    at.run()
    _go(at, "account")
    at.text_input(key="acct_name").input(name)
    at.button(key="FormSubmitter:profile-Save").click().run()
    assert not at.exception
    with transaction() as s:
        stored = s.get(User, user.id).display_name
    if at.error:
        # Refused with a message, and what was typed is still in the field.
        assert stored != name.strip() or stored == user.display_name
        assert at.text_input(key="acct_name").value == name
    else:
        assert stored == name.strip()
        home = _go(at, "home")
        # The markdown source is the escaped name: drawn, it reads exactly as typed.
        assert home.title[0].value == f"Hi {web.md(stored)}"
    _go(at, "couple")
    at.text_input(key="couple_name").input(couple_name)
    at.button(key="FormSubmitter:create_couple-Create").click().run()
    assert not at.exception
    with transaction() as s:
        couple = s.scalar(
            select(Couple).join(Couple.members).where(Couple.members.any(user_id=user.id))
        )
    if couple is not None:
        assert couple.name == couple_name.strip()
        assert _go(at, "couple").title[0].value == web.md(couple.name)
    else:
        assert at.error and at.text_input(key="couple_name").value == couple_name


def test_markdown_escaping_leaves_no_special_character_bare() -> None:
    for text in NASTY:
        escaped = web.md(text)
        bare = [
            ch
            for i, ch in enumerate(escaped)
            if ch in web.MARKDOWN_SPECIALS and (i == 0 or escaped[i - 1] != "\\")
        ]
        # Every special is preceded by a backslash (a backslash escapes itself).
        assert escaped.replace("\\\\", "").count("\\") >= len(
            [c for c in text if c in web.MARKDOWN_SPECIALS and c != "\\"]
        )
        assert not [c for c in bare if c != "\\"]


def test_registered_and_unknown_addresses_get_identical_pages(tend_env) -> None:
    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        make_couple(s)
    from tests.canary import rendered_text

    def submit(page: str, fields: dict[str, str], button: str) -> str:
        at = AppTest.from_file(APP, default_timeout=30).run()
        _go(at, page)
        for key, value in fields.items():
            at.text_input(key=key).input(value)
        at.button(key=button).click().run()
        assert not at.exception
        return rendered_text(at)

    for page, fields, button in [
        (
            "sign_in",
            {"signin_email": "{}", "signin_password": "not the password"},
            "FormSubmitter:sign_in-Sign in",
        ),
        (
            "register",
            {"reg_name": "Someone", "reg_email": "{}", "reg_password": "a long enough secret"},
            "FormSubmitter:register-Create account",
        ),
        ("reset_password", {"reset_email": "{}"}, "FormSubmitter:reset_request-Send me a link"),
    ]:
        known = submit(page, {k: v.format("a@example.org") for k, v in fields.items()}, button)
        unknown = submit(page, {k: v.format("zz@example.org") for k, v in fields.items()}, button)

        # The address is shown as typed (escaped in the Markdown source, as drawn besides).
        def blank(text: str, address: str) -> str:
            return text.replace(web.md(address), "X").replace(address, "X")

        assert blank(known, "a@example.org") == blank(unknown, "zz@example.org"), page
