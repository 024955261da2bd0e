"""How a rendered email leaves: SMTP through yagmail, or a file drop for local installs."""

from __future__ import annotations

import contextlib
import os
import smtplib
import socket
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import parseaddr
from pathlib import Path
from typing import Protocol

import yagmail

from infra.settings import Settings

# Headers whose value is one or more <URL>s that mail clients parse as written (RFC 2369,
# RFC 8058). The standard policy folds a value longer than 78 characters that has no
# space to break at into RFC 2047 encoded-words, which clients do not decode there, so
# the one-click unsubscribe would be invisible to them.
VERBATIM_HEADERS = frozenset({"list-unsubscribe"})
MAX_HEADER_LINE = 998  # RFC 5322 2.1.1: the hard limit, CRLF not counted


class MailPolicy(EmailPolicy):
    """email.policy.default, except that VERBATIM_HEADERS are written unfolded and
    unencoded (when they are plain ASCII on one line and fit RFC 5322's line limit)."""

    def _verbatim(self, name: str, value: object) -> str | None:
        text = str(value)
        line = f"{name}: {text}"
        if (
            name.lower() in VERBATIM_HEADERS
            and text.isascii()
            and "\r" not in text
            and "\n" not in text
            and len(line) <= MAX_HEADER_LINE
        ):
            return line + self.linesep
        return None

    def fold(self, name: str, value: object) -> str:  # type: ignore[override]
        return self._verbatim(name, value) or super().fold(name, value)

    def fold_binary(self, name: str, value: object) -> bytes:  # type: ignore[override]
        verbatim = self._verbatim(name, value)
        if verbatim is not None:
            return verbatim.encode("ascii")
        return super().fold_binary(name, value)


MAIL_POLICY = MailPolicy()
SMTP_POLICY = MAIL_POLICY.clone(linesep="\r\n")


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


class TransportTimeout(TransportError):
    """The server took longer than TEND_SMTP_TIMEOUT to answer during a send. Whether
    it accepted the message is unknown; several in a row mean the server has stalled."""

    def __init__(self, message: str):
        super().__init__(message, permanent=False)


class Transport(Protocol):
    def send(self, email: EmailMessage) -> None: ...

    def abort(self) -> None:
        """Called from another thread: break off a send in progress (its claim is lost)."""
        ...

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

    def abort(self) -> None:
        pass  # a file write is not worth breaking off

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
            # smtplib turns a timed-out read or write into SMTPServerDisconnected.
            if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
                raise TransportTimeout(f"timed out: {exc!r}") from exc
            raise TransportError(f"connection failed: {exc!r}", permanent=False) from exc
        if refused:
            code, reply = next(iter(refused.values()))
            raise TransportError(f"{code} {reply!r}", permanent=code >= 500)

    def abort(self) -> None:
        client = self._client
        if client is not None:
            # Shutting the socket down wakes the sending thread at once: a message
            # whose final "." has not gone out is then never delivered.
            with contextlib.suppress(Exception):
                client.smtp.sock.shutdown(socket.SHUT_RDWR)

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
