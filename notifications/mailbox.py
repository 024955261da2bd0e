"""Reading the file drop back, for the local Mailbox page and for tests."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path


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
