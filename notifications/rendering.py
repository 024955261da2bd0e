"""Turning an outbox row into an email: one subject/text/HTML template set per kind."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from infra.db import utcnow
from infra.settings import Settings
from notifications.models import OutboxMessage
from notifications.transports import MAIL_POLICY

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
    # The talk after a check-in and a partner who stopped answering (checkins.talk, .solo).
    "talk_scheduled": _link("/talk"),
    "action_item_due": _link("/talk"),
    "answering_paused": _link("/checkin"),
    # The charter's review day (charter.review): names and the date, never its words.
    "charter_review_due": _link("/charter"),
}


def register_kind(kind: str, link: Callable[[Settings, str | None], str] | None = None) -> None:
    """Add a kind of mail. Its templates live in notifications/templates/<kind>/ (or a
    directory added with add_template_dir). Without ``link``, the link goes to the
    start page (a reminder planned with a sign-in target links there instead)."""
    KINDS[kind] = link or _link("/")


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes
    mime_type: str  # e.g. "text/calendar"


# kind -> builder of attachments (an .ics invitation) from the row's context. Pure: the
# context carries what the builder needs (ids, times, time zone), so rendering needs no
# database and a retry attaches the same file.
AttachmentBuilder = Callable[[dict[str, Any], Settings], list[Attachment]]
ATTACHMENTS: dict[str, AttachmentBuilder] = {}


def register_attachments(kind: str, builder: AttachmentBuilder) -> None:
    ATTACHMENTS[kind] = builder


def add_template_dir(path: Path) -> None:
    """Another folder of <kind>/ template sets (a capability's own, or a test's)."""
    if str(path) not in _loader.searchpath:
        _loader.searchpath.append(str(path))


_loader = FileSystemLoader([TEMPLATE_DIR])
_env = Environment(
    loader=_loader,
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=False,
)


def env() -> Environment:
    """The templates' environment (every kind's folder, the layout, the grouped mail)."""
    return _env


def one_line(value: str) -> str:
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
    return one_line(subject), text, html


def unsubscribe_url(message: OutboxMessage, settings: Settings) -> str:
    from notifications.preferences import unsubscribe_token

    token = unsubscribe_token(message.to_address, message.kind, message.recipient_user_id, settings)
    return f"{settings.base_url}/unsubscribe?{urlencode({'token': token})}"


def link_for(message: OutboxMessage, settings: Settings, secret: str | None) -> str:
    """The mail's main link. A reminder planned with a sign-in target links to
    /auth/link with a single-use token (issued at send time), or to the page itself
    when there is no token (the page then asks the reader to sign in)."""
    target = message.context.get("sign_in_target")
    if target:
        if secret:
            return f"{settings.base_url}/auth/link?{urlencode({'token': secret})}"
        return settings.base_url + target
    return KINDS[message.kind](settings, secret if secret is not None else message.secret)


def render(
    message: OutboxMessage, settings: Settings, *, secret: str | None = None
) -> EmailMessage:
    """The finished email for a row. ``secret`` overrides the row's stored secret (a
    sign-in link token issued just now for this send)."""
    if message.kind not in KINDS:
        raise KeyError(f"no templates registered for kind {message.kind!r}")
    link = link_for(message, settings, secret)
    unsubscribe = unsubscribe_url(message, settings)
    context = {
        **message.context,
        "link": link,
        "base_url": settings.base_url,
        "unsubscribe_link": unsubscribe,
    }
    subject, text, html = render_parts(message.kind, context)
    # Every mail says how to stop this kind of mail, without signing in.
    text = text.rstrip("\n") + f"\n\n--\nStop mails like this one: {unsubscribe}\n"
    email = envelope(
        message, settings, subject=subject, text=text, html=html, unsubscribe=unsubscribe
    )
    attach(email, message, settings)
    return email


def envelope(
    message: OutboxMessage,
    settings: Settings,
    *,
    subject: str,
    text: str,
    html: str,
    unsubscribe: str | None,
) -> EmailMessage:
    """The email for a row (or a group led by it): headers, text and HTML. With
    ``unsubscribe``, the one-click List-Unsubscribe headers name it."""
    email = EmailMessage(policy=MAIL_POLICY)
    email["Subject"] = one_line(subject)
    email["From"] = one_line(settings.mail_from)
    email["To"] = one_line(message.to_address)
    email["Date"] = format_datetime(utcnow())
    email["Message-ID"] = message_id_for(message, settings)
    email["Auto-Submitted"] = "auto-generated"
    if unsubscribe is not None:
        # RFC 8058 one-click: mail clients POST "List-Unsubscribe=One-Click" to this URL.
        # MAIL_POLICY writes it as it is: an encoded-word here is invisible to clients.
        email["List-Unsubscribe"] = f"<{unsubscribe}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email.set_content(text)
    email.add_alternative(html, subtype="html")
    return email


def attach(email: EmailMessage, message: OutboxMessage, settings: Settings) -> None:
    """The row's attachments (an .ics), if its kind registered a builder."""
    builder = ATTACHMENTS.get(message.kind)
    for attachment in builder(dict(message.context), settings) if builder else []:
        maintype, _, subtype = attachment.mime_type.partition("/")
        email.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
