"""dispatch: 1,000 mails to a local aiosmtpd server.

Tend's SMTP transport (yagmail's connection, reused for the batch) against the floor,
raw smtplib sending the same bytes over one connection. Also reported: yagmail's
default of a new connection and login per message, the peer a user would write.
"""

from __future__ import annotations

import smtplib
import socket
from email.message import EmailMessage

import yagmail
from aiosmtpd.controller import Controller

from benchmarks.common import Result, interleaved_medians, median_seconds
from infra.settings import Settings
from notifications.models import OutboxMessage
from notifications.rendering import render
from notifications.transports import SmtpTransport, wire_bytes

COUNT = 1000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Counter:
    def __init__(self) -> None:
        self.received = 0

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.received += 1
        return "250 OK"


def _messages(settings: Settings, count: int) -> list[EmailMessage]:
    rows = [
        OutboxMessage(
            id=i,
            kind="test",
            dedupe_key=f"bench:{i}",
            to_address=f"r{i}@example.org",
            context={},
            secret=None,
        )
        for i in range(1, count + 1)
    ]
    return [render(row, settings) for row in rows]


def run(count: int = COUNT, repeat: int = 7) -> Result:
    handler = _Counter()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = Settings(
            _env_file=None,
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_starttls=False,
            mail_from="Tend <tend@bench.example>",
        )
        messages = _messages(settings, count)

        def raw() -> None:
            # The floor: the same EmailMessage objects, serialised and sent over one
            # plain smtplib connection with no error handling or bookkeeping.
            with smtplib.SMTP("127.0.0.1", port, timeout=20) as smtp:
                for message in messages:
                    smtp.sendmail("tend@bench.example", [message["To"]], wire_bytes(message))

        def tend() -> None:
            transport = SmtpTransport(settings)
            try:
                for message in messages:
                    transport.send(message)
            finally:
                transport.close()

        few = messages[: max(1, count // 10)]

        def yagmail_per_message() -> None:
            # yagmail's send() logs in again for every message; a tenth of the batch,
            # scaled up, keeps the benchmark short.
            client = yagmail.SMTP(
                user="tend@bench.example",
                host="127.0.0.1",
                port=port,
                smtp_starttls=False,
                smtp_ssl=False,
                smtp_skip_login=True,
                soft_email_validation=False,
            )
            for message in few:
                client.send(
                    to=message["To"],
                    subject=message["Subject"],
                    contents=message.get_body(("plain",)).get_content(),
                    prettify_html=False,
                )
                client.close()

        medians = interleaved_medians({"raw": raw, "tend": tend}, repeat=repeat)
        raw_s, tend_s = medians["raw"], medians["tend"]
        yag_s = median_seconds(yagmail_per_message, repeat=max(1, repeat // 2)) * (count / len(few))
    finally:
        controller.stop()
    return Result(
        name="dispatch",
        ratio=tend_s / raw_s,
        goal=1.4,
        detail={
            "messages": count,
            "raw_smtplib_s": round(raw_s, 4),
            "tend_transport_s": round(tend_s, 4),
            "yagmail_per_message_s": round(yag_s, 4),
            "yagmail_per_message_over_tend": round(yag_s / tend_s, 2),
            "server_received": handler.received,
        },
    )
