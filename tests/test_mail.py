"""Every kind of mail renders from its three templates and stays safe."""

from __future__ import annotations

import pytest

from infra.settings import Settings
from notifications.models import OutboxMessage
from notifications.rendering import ATTACHMENTS, KINDS, TEMPLATE_DIR, TEMPLATE_PARTS, render
from notifications.scheduler import load_planners
from notifications.transports import FileDropTransport
from tend.mailbox import dropped_mails, read_mail

load_planners()  # every capability's kinds, prompt kinds and attachment builders

SETTINGS = Settings(
    _env_file=None,
    base_url="https://tend.example.org",
    mail_from="Tend <tend@tend.example.org>",
    secret_key="k",
)


def _context_for(kind: str) -> dict[str, object]:
    """A sample value for every variable the kind's templates use (StrictUndefined
    makes a template fail on any variable the sender would not provide)."""
    from jinja2 import meta

    from notifications.rendering import _env

    names: set[str] = set()
    for part in TEMPLATE_PARTS:
        source = (TEMPLATE_DIR / kind / part).read_text()
        names |= meta.find_undeclared_variables(_env.parse(source))
    context: dict[str, object] = {name: f"sample {name}" for name in names - {"link", "base_url"}}
    if kind in ATTACHMENTS:  # the .ics builders read ids and times from the context
        context.update(round_id=7, conversation_at="2026-03-14T18:00:00+00:00")
        context.update(talk_id=7, talk_at="2026-03-14T18:00:00+00:00")
    return context


def _row(kind: str, **overrides: object) -> OutboxMessage:
    values = dict(
        id=7,
        kind=kind,
        dedupe_key=f"{kind}:7",
        to_address="robin@example.org",
        context=_context_for(kind),
        secret="tok123",
        recipient_user_id=3,
    )
    values.update(overrides)
    return OutboxMessage(**values)


def test_every_template_folder_is_a_registered_kind() -> None:
    folders = {p.name for p in TEMPLATE_DIR.iterdir() if p.is_dir()}
    assert folders == set(KINDS)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_has_subject_text_and_html_and_renders(kind: str) -> None:
    for part in TEMPLATE_PARTS:
        assert (TEMPLATE_DIR / kind / part).is_file(), f"{kind}/{part} missing"
    email = render(_row(kind), SETTINGS)
    assert email["Subject"].strip()
    assert "\n" not in email["Subject"]
    text = email.get_body(("plain",)).get_content()
    html = email.get_body(("html",)).get_content()
    assert text.strip() and "<html" in html
    link = KINDS[kind](SETTINGS, "tok123")
    assert link.startswith("https://tend.example.org/")
    assert link in text
    # Only a kind with a registered builder carries an attachment (an .ics), never text.
    attached = [part.get_filename() for part in email.iter_attachments()]
    if kind in ATTACHMENTS:
        assert attached and all(name.endswith(".ics") for name in attached)
    else:
        assert attached == []
    # Every mail can be switched off in one click (RFC 8058) or by its link.
    unsubscribe = str(email["List-Unsubscribe"]).strip("<>")
    assert unsubscribe.startswith("https://tend.example.org/unsubscribe?token=")
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe in text and unsubscribe in html


def test_message_id_is_unique_per_row_and_stable_across_renders() -> None:
    first = render(_row("test"), SETTINGS)["Message-ID"]
    again = render(_row("test"), SETTINGS)["Message-ID"]
    other = render(_row("test", id=8, dedupe_key="test:8"), SETTINGS)["Message-ID"]
    assert first == again != other
    assert first.endswith("@tend.example.org>")


def test_html_escapes_names_and_headers_cannot_be_injected(tmp_path) -> None:
    evil_name = "<script>alert(1)</script>\r\nBcc: victim@example.org"
    row = _row("invitation", context={"inviter": evil_name, "couple": "/etc/passwd"})
    email = render(row, SETTINGS)
    html = email.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert email["Bcc"] is None
    assert "\n" not in email["Subject"] and "\r" not in email["Subject"]
    # A string that names an existing file stays text; nothing gets attached.
    assert list(email.iter_attachments()) == []
    assert "/etc/passwd" in email.get_body(("plain",)).get_content()


def test_file_drop_writes_one_file_per_message_and_a_resend_replaces_it(tmp_path) -> None:
    transport = FileDropTransport(tmp_path)
    email = render(_row("test"), SETTINGS)
    transport.send(email)
    transport.send(email)
    [mail] = dropped_mails(tmp_path)
    assert mail.message_id == email["Message-ID"]
    assert read_mail(mail.path).to == "robin@example.org"
