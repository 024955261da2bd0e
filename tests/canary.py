"""The canary check: a unique string written by one partner must not appear anywhere the
other can reach. Reusable: the check-ins tests write a canary into a private and a safety
answer and call :func:`assert_canary_unreachable` as the partner.

What is searched, as the viewer:
- every page in the viewer's navigation, rendered through AppTest (every element's
  full protobuf, so labels, values, help texts and hidden HTML count too);
- the viewer's data export (every file in the zip);
- every mail Tend would send (each outbox row rendered) and every mail already dropped,
  whoever it is addressed to (mail never carries what anyone wrote);
- the application log (pass ``caplog.text``).
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterable, Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from couples import accounts
from infra.db import engine_for, transaction
from infra.settings import get_settings
from notifications.models import OutboxMessage
from notifications.rendering import render
from privacy.export import export_zip
from tend.mailbox import dropped_mails
from tend.web import TEST_TOKEN_KEY

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def _walk(node: Any) -> Iterator[Any]:
    yield node
    children = getattr(node, "children", None) or {}
    for child in children.values():
        yield from _walk(child)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


_MARKDOWN_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def rendered_text(at: AppTest) -> str:
    """Every string the last run sent to the browser (labels, values, help, HTML), each
    also with markdown escapes removed, as a reader would see it."""
    parts: list[str] = []
    for node in _walk(at._tree):
        proto = getattr(node, "proto", None)
        if proto is not None:
            for text in _strings(MessageToDict(proto)):
                parts += [text, _MARKDOWN_ESCAPE.sub(r"\1", text)]
    return "\n".join(parts)


def pages_as(token: str | None) -> dict[str, str]:
    """Render every page the holder of ``token`` can open; title -> rendered text."""
    at = AppTest.from_file(APP, default_timeout=30)
    if token:
        at.session_state[TEST_TOKEN_KEY] = token
    at.run()
    assert not at.exception, at.exception
    # Only now: st.Page objects must be made inside a script run (the first one).
    from tend.navigation import navigation_for

    with transaction() as session:
        user = accounts.resolve_session(session, token) if token else None
    seen = {"(entry)": rendered_text(at)}
    for section in navigation_for(user).values():
        for page in section:
            at._page_hash = page._script_hash
            at.run()
            assert not at.exception, (page.title, at.exception)
            seen[page.title] = rendered_text(at)
    return seen


_RANDOM_IDS = re.compile(r"\b[0-9a-f]{32}\b")


def comparable(pages: dict[str, str]) -> dict[str, str]:
    """Pages with per-run random ids (deferred download ids) blanked, for comparing what
    a person sees before and after their partner did something."""
    return {title: _RANDOM_IDS.sub("<id>", text) for title, text in pages.items()}


def export_text(user_id: int) -> str:
    with transaction() as session:
        data = export_zip(session, user_id)
    with zipfile.ZipFile(BytesIO(data)) as archive:
        return "\n".join(
            archive.read(name).decode("utf-8", "replace") for name in archive.namelist()
        )


def mail_text() -> str:
    """Every outbox row rendered, and every mail in the drop (decoded and raw)."""
    settings = get_settings()
    parts = []
    with transaction(engine_for(settings.database_url)) as session:
        for row in session.scalars(select(OutboxMessage)):
            parts.append(render(row, settings).as_string())
            parts.append(json.dumps(row.context, ensure_ascii=False))
    for mail in dropped_mails(settings.mail_dir):
        parts += [mail.subject, mail.text, mail.html, mail.path.read_bytes().decode("latin-1")]
    return "\n".join(parts)


def assert_canary_unreachable(
    canary: str | Iterable[str],
    *,
    viewer_token: str,
    viewer_id: int,
    log_text: str = "",
    extra: Iterable[tuple[str, str]] = (),
) -> None:
    """Fail, naming the place, if ``canary`` is in anything the viewer can reach.

    Needs the ``tend_env`` fixture (database and mail drop of the test). ``extra`` adds
    (place, text) pairs a feature's own test knows about. Several canaries may be given
    at once (every place is rendered once and searched for each)."""
    canaries = [canary] if isinstance(canary, str) else list(canary)
    places: list[tuple[str, str]] = [
        (f"page {title!r}", text) for title, text in pages_as(viewer_token).items()
    ]
    places.append(("the viewer's export", export_text(viewer_id)))
    places.append(("mail", mail_text()))
    places.append(("the application log", log_text))
    places.extend(extra)
    found = [(c, place) for c in canaries for place, text in places if c in text]
    assert not found, f"canaries reachable (canary, place): {found}"
    # The search itself must be able to find things: the viewer's own email is in
    # their export and on their account page, so an empty search cannot pass silently.
    with transaction() as session:
        own = accounts.get_user(session, viewer_id).email
    assert any(own in text for _, text in places), "the canary search saw nothing"
