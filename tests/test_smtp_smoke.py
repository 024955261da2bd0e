"""What the yagmail-based transport sends arrives intact at a real SMTP server."""

from __future__ import annotations

import email
import email.policy

from aiosmtpd.controller import Controller

from infra.settings import Settings
from notifications.models import OutboxMessage
from notifications.rendering import render
from notifications.transports import SmtpTransport
from tests.browser import free_port


class _Sink:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content))
        return "250 OK"


def test_a_batch_arrives_intact_over_one_connection() -> None:
    sink = _Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = Settings(
            _env_file=None,
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_starttls=False,
            mail_from="Tend <tend@tend.example>",
        )
        transport = SmtpTransport(settings)
        sent = []
        for i in (1, 2, 3):
            row = OutboxMessage(
                id=i,
                kind="invitation",
                dedupe_key=f"inv:{i}",
                to_address=f"p{i}@example.org",
                secret=f"tok{i}",
                context={"inviter": "Ari " + "x" * 1200, "couple": "Us"},
            )
            message = render(row, settings)
            transport.send(message)
            sent.append(message)
        transport.close()
    finally:
        controller.stop()
    assert [(m[0], m[1]) for m in sink.messages] == [
        ("tend@tend.example", [f"p{i}@example.org"]) for i in (1, 2, 3)
    ]
    for (_, _, content), original in zip(sink.messages, sent, strict=True):
        received = email.message_from_bytes(content, policy=email.policy.default)
        assert received["Message-ID"] == original["Message-ID"]
        text = received.get_body(("plain",)).get_content()
        assert "x" * 1200 in text  # a very long line survives the trip
        assert "/join?token=tok" in text
        assert received.get_body(("html",)) is not None
