"""Turning an outbox row into an email: one subject/text/HTML template set per kind."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from couples.db import utcnow
from couples.settings import Settings
from notifications.models import OutboxMessage

TEMPLATE_DIR = Path(__file__).with_name("templates")
TEMPLATE_PARTS = ("subject.txt", "body.txt", "body.html")


def _link(path: str, **params: str) -> Callable[[Settings, str | None], str]:
    """A link builder: base URL + path, with the row's secret as ``token`` if it has one."""

    def build(settings: Settings, secret: str | None) -> str:
        query = dict(params)
        if secret:
            query["token"] = secret
        return settings.base_url + path + ("?" + urlencode(query) if query else "")

    return build


# Every kind of mail Tend sends, and where its link leads. A test checks that each
# kind has all three templates and renders.
KINDS: dict[str, Callable[[Settings, str | None], str]] = {
    "confirm_email": _link("/auth/confirm"),
    "account_exists": _link("/sign_in"),
    "password_reset": _link("/reset_password"),
    "invitation": _link("/join"),
    "invitation_renewal_requested": _link("/couple"),
    "test": _link("/"),
    "agreement_proposed": _link("/agreements"),
    "agreement_flagged": _link("/agreements"),
    "cooldown_started": _link("/cooldown"),
    "cooldown_extended": _link("/cooldown"),
    "cooldown_ended": _link("/cooldown"),
    "therapy_appointment": _link("/therapy"),
    # Check-in prompts: never any answer content, only names and dates.
    "round_opened": _link("/checkin"),
    "partner_answered": _link("/checkin"),
    "ready_to_review": _link("/checkin"),
    "round_closing": _link("/checkin"),
    "nudge": _link("/checkin"),
}


def register_kind(kind: str, link: Callable[[Settings, str | None], str]) -> None:
    KINDS[kind] = link


_env = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=False,
)


def _one_line(value: str) -> str:
    # Anything that ends up in a header must not be able to start a new header.
    return " ".join(value.replace("\r", " ").replace("\n", " ").split())


def message_id_for(message: OutboxMessage, settings: Settings) -> str:
    """Derived from the row, so a retry carries the same Message-ID and a rare resend
    after a crash is recognisable as the same message."""
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "tend.local"
    digest = hashlib.sha256(message.dedupe_key.encode()).hexdigest()[:16]
    return f"<tend.{message.id}.{digest}@{domain}>"


def render_parts(kind: str, context: dict[str, Any]) -> tuple[str, str, str]:
    subject, text, html = (
        _env.get_template(f"{kind}/{part}").render(**context) for part in TEMPLATE_PARTS
    )
    return _one_line(subject), text, html


def render(message: OutboxMessage, settings: Settings) -> EmailMessage:
    link = KINDS[message.kind](settings, message.secret)
    context = {**message.context, "link": link, "base_url": settings.base_url}
    subject, text, html = render_parts(message.kind, context)
    email = EmailMessage()
    email["Subject"] = subject
    email["From"] = _one_line(settings.mail_from)
    email["To"] = _one_line(message.to_address)
    email["Date"] = format_datetime(utcnow())
    email["Message-ID"] = message_id_for(message, settings)
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(text)
    email.add_alternative(html, subtype="html")
    return email
