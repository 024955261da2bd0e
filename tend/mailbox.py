"""Reading the file drop back, for the local Mailbox page, `tend mailbox` and tests.

Who may read which mail on the Mailbox page (:func:`visible_mails`): only the person it
is for. A signed-in person sees the mails to their own account's address and the
invitations they sent; a browser that just registered an address sees that one
confirmation mail. Nothing else, above all no password reset to a signed-out browser:
asking for a reset must never let the asker read the reset link (account takeover on a
shared computer). The operator reads everything on the machine itself (`tend mailbox`,
or the files). A mail is matched to its outbox row through its Message-ID, so a mail
whose row is gone (an erased account) is shown to no one.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from collections.abc import Collection
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from couples.accounts import confirmation_dedupe_key
from couples.models import Invitation
from notifications.models import OutboxMessage


@dataclass(frozen=True)
class DroppedMail:
    path: Path
    subject: str
    to: str
    date: str
    message_id: str
    text: str
    html: str


def read_mail(path: Path) -> DroppedMail:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    return DroppedMail(
        path=path,
        subject=str(message["Subject"] or ""),
        to=str(message["To"] or ""),
        date=str(message["Date"] or ""),
        message_id=str(message["Message-ID"] or ""),
        text=text_part.get_content() if text_part else "",
        html=html_part.get_content() if html_part else "",
    )


def dropped_mails(directory: Path) -> list[DroppedMail]:
    """Newest first."""
    if not directory.exists():
        return []
    files = sorted(directory.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True)
    return [read_mail(path) for path in files]


def links_in(text: str, base_url: str) -> list[str]:
    """Links to this Tend found in a mail body, in order, without repeats."""
    found = re.findall(r"https?://\S+", text)
    return list(dict.fromkeys(url for url in found if url.startswith(base_url)))


# rendering.message_id_for: <tend.{outbox id}.{sha256(dedupe key)[:16]}@domain>
_MESSAGE_ID = re.compile(r"^<tend\.(\d+)\.([0-9a-f]{16})@[^>]*>$")
_INVITATION_KEY = re.compile(r"^invitation:(\d+):")


@dataclass(frozen=True)
class MailboxReader:
    """Who is looking: the signed-in person (if any) and the registrations this browser
    started (pending registration ids, from accounts.register)."""

    user_id: int | None = None
    email: str | None = None
    registrations: Collection[int] = ()


def _outbox_row(session: Session, mail: DroppedMail) -> OutboxMessage | None:
    match = _MESSAGE_ID.match(mail.message_id.strip())
    if match is None:
        return None
    row = session.get(OutboxMessage, int(match.group(1)))
    if row is None or hashlib.sha256(row.dedupe_key.encode()).hexdigest()[:16] != match.group(2):
        return None
    return row


def may_read(session: Session, row: OutboxMessage, reader: MailboxReader) -> bool:
    if row.kind == "confirm_email":
        keys = {confirmation_dedupe_key(pending) for pending in reader.registrations}
        if row.dedupe_key in keys:
            return True
    if reader.user_id is None or reader.email is None:
        return False
    if row.to_address.strip().lower() == reader.email.lower():
        return True
    invitation = _INVITATION_KEY.match(row.dedupe_key) if row.kind == "invitation" else None
    if invitation is not None:
        inviter = session.scalar(
            select(Invitation.invited_by_id).where(Invitation.id == int(invitation.group(1)))
        )
        return inviter == reader.user_id
    return False


def visible_mails(
    session: Session, directory: Path, reader: MailboxReader, *, limit: int = 50
) -> list[DroppedMail]:
    """The newest mails in the drop that ``reader`` may read (see the module doc)."""
    if reader.user_id is None and not reader.registrations:
        return []
    shown: list[DroppedMail] = []
    for mail in dropped_mails(directory):
        row = _outbox_row(session, mail)
        if row is not None and may_read(session, row, reader):
            shown.append(mail)
            if len(shown) >= limit:
                break
    return shown
