"""How a rendered email leaves: SMTP through yagmail, or a file drop for local installs."""

from __future__ import annotations

import contextlib
import os
import smtplib
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import parseaddr
from pathlib import Path
from typing import Protocol

import yagmail

from couples.settings import Settings


def wire_bytes(email: EmailMessage) -> bytes:
    """The message as SMTP wants it: CRLF line endings. smtplib sends bytes unchanged, so
    bare LFs would arrive as one endless line."""
    return email.as_bytes(policy=SMTP_POLICY)


class TransportError(Exception):
    """A send failed. ``permanent`` says whether retrying could help."""

    def __init__(self, message: str, *, permanent: bool):
        super().__init__(message)
        self.permanent = permanent


class TransportUnavailable(TransportError):
    """The server could not be reached or did not answer before a message was handed
    over: nothing was sent, so the message is not charged an attempt."""

    def __init__(self, message: str):
        super().__init__(message, permanent=False)


class Transport(Protocol):
    def send(self, email: EmailMessage) -> None: ...

    def close(self) -> None: ...


class FileDropTransport:
    """Writes each message to MAIL_DIR as an .eml file named after its Message-ID, so a
    resent message replaces its own file instead of appearing twice."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def send(self, email: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = "".join(ch if ch.isalnum() or ch in ".-" else "_" for ch in email["Message-ID"])
        final = self.directory / f"{name}.eml"
        tmp = final.with_suffix(".tmp")
        tmp.write_bytes(bytes(email))
        os.replace(tmp, final)

    def close(self) -> None:
        pass


class SmtpTransport:
    """One SMTP connection (opened and logged in by yagmail) reused for a batch.

    yagmail's own send() reconnects for every message, treats a dropped connection as
    a silent False after sleeping, and builds the MIME parts itself; Tend builds the
    message and hands yagmail's connection the finished bytes instead.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self._client: yagmail.SMTP | None = None
        self.envelope_from = parseaddr(settings.mail_from)[1]

    def _connect(self) -> yagmail.SMTP:
        if self._client is None:
            s = self.settings
            client = yagmail.SMTP(
                user=s.smtp_user or self.envelope_from,
                password=s.smtp_password or "",  # never None: None would ask the keyring
                host=s.smtp_host,
                port=s.smtp_port,
                smtp_starttls=s.smtp_starttls and not s.smtp_ssl,
                smtp_ssl=s.smtp_ssl,
                smtp_skip_login=not s.smtp_user,
                soft_email_validation=False,
                timeout=s.smtp_timeout,
            )
            try:
                client.login()
            except smtplib.SMTPAuthenticationError as exc:
                client.close()
                raise TransportUnavailable(f"SMTP login refused: {exc}") from exc
            except (OSError, smtplib.SMTPException) as exc:
                with contextlib.suppress(Exception):
                    client.close()
                raise TransportUnavailable(
                    f"cannot reach SMTP server {s.smtp_host}:{s.smtp_port}: {exc!r}"
                ) from exc
            self._client = client
        return self._client

    def send(self, email: EmailMessage) -> None:
        recipient = parseaddr(email["To"])[1]
        if "@" not in recipient:
            raise TransportError(f"not an email address: {email['To']!r}", permanent=True)
        client = self._connect()
        try:
            refused = client.smtp.sendmail(self.envelope_from, [recipient], wire_bytes(email))
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise TransportError(f"{code} {reply!r}", permanent=code >= 500) from exc
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code in (421,) or exc.smtp_code < 500:
                self._drop()
            raise TransportError(
                f"{exc.smtp_code} {exc.smtp_error!r}", permanent=exc.smtp_code >= 500
            ) from exc
        except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise TransportError(f"connection failed: {exc!r}", permanent=False) from exc
        if refused:
            code, reply = next(iter(refused.values()))
            raise TransportError(f"{code} {reply!r}", permanent=code >= 500)

    def _drop(self) -> None:
        if self._client is not None:
            # The connection is already broken; closing it is best effort.
            with contextlib.suppress(Exception):
                self._client.smtp.close()
            self._client = None

    def close(self) -> None:
        if self._client is not None:
            # QUIT on a server that stopped answering must not turn a finished pass
            # into an error.
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None


def transport_for(settings: Settings) -> Transport:
    if settings.uses_file_drop:
        return FileDropTransport(settings.mail_dir)
    return SmtpTransport(settings)
