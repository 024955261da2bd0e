"""One-click unsubscribe (RFC 8058), mail sign-in links, and the Notifications page."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, select
from starlette.requests import Request

from couples import accounts
from infra.db import utcnow
from notifications.dispatch import dispatch_pending
from notifications.models import SKIPPED, MailOptOut, NotificationPreference, OutboxMessage
from notifications.outbox import enqueue
from notifications.preferences import read_unsubscribe_token, unsubscribe_token
from tend import routes
from tests.factories import make_user


def request(path: str, method: str, query: str = "", body: bytes = b"") -> Request:
    async def receive():  # type: ignore[no-untyped-def]
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(
        {
            "type": "http",
            "method": method,
            "path": path,
            "query_string": query.encode(),
            "headers": [(b"content-type", b"application/x-www-form-urlencoded")],
        },
        receive,
    )


def test_one_click_post_turns_that_prompt_off_and_get_does_not(
    engine: Engine, tx, tend_env, test_prompt, smtp_sink, smtp_settings
) -> None:
    with tx() as s:
        user = make_user(s, "sam@example.org")
        enqueue(
            s,
            kind=test_prompt,
            to_address=user.email,
            recipient_user_id=user.id,
            dedupe_key="one",
            context={"name": "Sam", "couple": "Us"},
            send_after=utcnow(),
        )
    dispatch_pending(engine, settings=smtp_settings)
    [mail] = smtp_sink.messages()
    url = str(mail.message["List-Unsubscribe"]).strip("<>")
    query = url.split("?", 1)[1]

    page = routes.unsubscribe(request("/unsubscribe", "GET", query))
    assert page.status_code == 200 and b'method="post"' in page.body
    with tx() as s:
        assert s.get(NotificationPreference, user.id) is None  # a GET changes nothing

    done = routes.unsubscribe(request("/unsubscribe", "POST", query, b"List-Unsubscribe=One-Click"))
    assert done.status_code == 200 and b"Test reminders" in done.body
    again = routes.unsubscribe(
        request("/unsubscribe", "POST", query, b"List-Unsubscribe=One-Click")
    )
    assert again.status_code == 200  # twice is harmless
    with tx() as s:
        prefs = s.get(NotificationPreference, user.id)
        assert prefs is not None and prefs.disabled_kinds == [test_prompt] and not prefs.paused
        enqueue(
            s,
            kind=test_prompt,
            to_address=user.email,
            recipient_user_id=user.id,
            dedupe_key="two",
            context={"name": "Sam", "couple": "Us"},
            send_after=utcnow(),
        )
    assert len(dispatch_pending(engine, settings=smtp_settings).skipped) == 1
    assert len(smtp_sink.messages()) == 1


def test_an_address_without_account_can_stop_invitations(
    engine: Engine, tx, tend_env, smtp_sink, smtp_settings
) -> None:
    token = unsubscribe_token("New@Example.org", "invitation", None, smtp_settings)
    done = routes.unsubscribe(request("/unsubscribe", "POST", f"token={token}"))
    assert done.status_code == 200
    with tx() as s:
        assert s.scalar(select(MailOptOut.kind).where(MailOptOut.address == "new@example.org"))
        enqueue(
            s,
            kind="invitation",
            to_address="new@example.org",
            dedupe_key="inv",
            context={"inviter": "Sam", "couple": "Us"},
            secret="t",
            send_after=utcnow(),
        )
        enqueue(
            s,
            kind="password_reset",
            to_address="new@example.org",
            dedupe_key="reset",
            context={"name": "New"},
            secret="t",
            send_after=utcnow(),
        )
    report = dispatch_pending(engine, settings=smtp_settings)
    assert len(report.skipped) == 1 and len(report.sent) == 1  # a reset always arrives
    with tx() as s:
        skipped = s.scalar(select(OutboxMessage).where(OutboxMessage.status == SKIPPED))
        assert skipped is not None and skipped.kind == "invitation"


def test_a_forged_or_damaged_token_changes_nothing(tx, tend_env) -> None:
    with tx() as s:
        user = make_user(s, "sam@example.org")
    genuine = unsubscribe_token(user.email, "test_prompt", user.id)
    assert read_unsubscribe_token(genuine) is not None
    forged = genuine[:-3] + ("AAA" if not genuine.endswith("AAA") else "BBB")
    for token in (forged, "", "garbage"):
        response = routes.unsubscribe(request("/unsubscribe", "POST", f"token={token}"))
        assert response.status_code == 400
    with tx() as s:
        assert s.get(NotificationPreference, user.id) is None
        assert s.scalar(select(MailOptOut)) is None


def test_mail_sign_in_links_are_single_use_and_expired_ones_ask_to_sign_in(
    tx, tend_env, now
) -> None:
    with tx() as s:
        user = make_user(s, "sam@example.org")
        token = accounts.issue_sign_in_link(s, user.id, "/checkin")
        expired = accounts.issue_sign_in_link(
            s, user.id, "/checkin", now=utcnow() - accounts.SIGN_IN_LINK_LIFETIME - dt.timedelta(1)
        )
    first = routes.sign_in_link(request("/auth/link", "GET", f"token={token}"))
    assert first.status_code == 303 and first.headers["location"] == "/checkin"
    assert "tend_session=" in first.headers["set-cookie"]
    # Used or expired: no sign-in, but still the page the mail meant, which asks to
    # sign in first (tend.web.current_user) and then shows it.
    second = routes.sign_in_link(request("/auth/link", "GET", f"token={token}"))
    assert second.headers["location"] == "/checkin" and "set-cookie" not in second.headers
    late = routes.sign_in_link(request("/auth/link", "GET", f"token={expired}"))
    assert late.headers["location"] == "/checkin" and "set-cookie" not in late.headers
    unknown = routes.sign_in_link(request("/auth/link", "GET", "token=garbage"))
    assert unknown.headers["location"] == "/sign_in" and "set-cookie" not in unknown.headers


def _notifications_script() -> None:
    # from_function has no real st.context.cookies: resolve the session from state.
    import streamlit as st

    from couples import accounts
    from infra.db import transaction
    from notifications.pages import notifications_page
    from tend import web

    with transaction() as session:
        user = accounts.resolve_session(session, st.session_state[web.TEST_TOKEN_KEY])
        session.expunge(user)
    st.session_state[web.USER_KEY] = user
    notifications_page()


def test_the_notifications_page_saves_preferences(tx, tend_env, test_prompt) -> None:
    from streamlit.testing.v1 import AppTest

    with tx() as s:
        user = make_user(s, "sam@example.org", timezone="Europe/Berlin")
        session_token = accounts.start_session(s, user.id)
    at = AppTest.from_function(_notifications_script, default_timeout=30)
    at.session_state["_tend_session_token"] = session_token
    at.run()
    assert not at.exception
    assert "Europe/Berlin" in at.markdown[0].value
    at.checkbox(key="pref_test_prompt").uncheck()
    at.selectbox[0].select(9)  # preferred hour
    at.selectbox[1].select("—")  # quiet from: none ...
    at.button[0].click().run()
    # ... without "quiet until" is refused, with the field named.
    assert "Quiet until" in at.error[0].value
    with tx() as s:
        assert s.get(NotificationPreference, user.id) is None
    at.selectbox[2].select("—")
    at.button[0].click().run()
    assert at.success and not at.error
    with tx() as s:
        prefs = s.get(NotificationPreference, user.id)
        assert prefs is not None
        assert prefs.disabled_kinds == ["test_prompt"] and prefs.preferred_hour == 9
        assert prefs.quiet_start is None and prefs.quiet_end is None and not prefs.paused


def test_the_notifications_page_lists_reminders_under_headings_in_a_rounds_order(
    tx, tend_env
) -> None:
    """Under headings in the order a couple meets them (check-ins first), each in the order
    its capability registered it: not one alphabetical list of fifteen."""
    from streamlit.testing.v1 import AppTest

    from notifications import preferences

    groups = preferences.prompt_kinds_by_group()
    assert [g for g, _ in groups] == list(preferences.PROMPT_GROUPS)
    listed = [kind for _, kinds in groups for kind, _ in kinds]
    assert sorted(listed) == sorted(preferences.PROMPT_KINDS)  # each once
    checkins = [kind for kind, _ in groups[0][1]]
    assert checkins[:5] == [
        "round_opened",
        "nudge",
        "round_closing",
        "partner_answered",
        "ready_to_review",
    ]
    assert {kind for kind, _ in dict(groups)["Cooldowns"]} == {
        "cooldown_started",
        "cooldown_extended",
        "cooldown_ended",
    }
    with pytest.raises(ValueError, match="unknown group"):
        preferences.register_prompt_kind("typo_kind", "A typo", group="Checkins")
    assert "typo_kind" not in preferences.PROMPT_KINDS

    with tx() as s:
        user = make_user(s, "sam@example.org")
        session_token = accounts.start_session(s, user.id)
    at = AppTest.from_function(_notifications_script, default_timeout=30)
    at.session_state["_tend_session_token"] = session_token
    at.run()
    assert not at.exception
    assert [c.value for c in at.caption] == list(preferences.PROMPT_GROUPS)
    assert [c.label for c in at.checkbox] == [label for _, kinds in groups for _, label in kinds]
