"""A real SMTP server on loopback (aiosmtpd) that records what it receives and can be
told to misbehave: answer 4xx once, refuse an address with 5xx, hang, answer slowly,
greet and then stall, or be down."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from email.message import EmailMessage

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    envelope_to: list[str]
    message: EmailMessage
    raw: bytes
    at: float = 0.0  # time.time() when the server accepted it (just before its 250)

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def text(self) -> str:
        """Every decoded part, for searching."""
        parts = []
        for part in self.message.walk():
            if part.get_content_maintype() == "text":
                parts.append(part.get_content())
        return "\n".join(parts)


class _Handler:
    def __init__(self, sink: SmtpSink):
        self.sink = sink

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # type: ignore[no-untyped-def]
        with self.sink.lock:
            self.sink.connections += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # type: ignore[no-untyped-def]
        with self.sink.lock:
            self.sink.mail_commands += 1
        # Stalled: the session was greeted and answered EHLO, then nothing more is said
        # until the sink resumes (or the client gives up and the task is cancelled).
        while self.sink.stalled:
            await asyncio.sleep(0.05)
        if self.sink.mail_delay_seconds:
            await asyncio.sleep(self.sink.mail_delay_seconds)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if address.lower() in self.sink.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        if self.sink.hang_seconds:
            await asyncio.sleep(self.sink.hang_seconds)
            return "451 4.4.2 Timed out (the client should be gone by now)"
        with self.sink.lock:
            delay = self.sink.delays.pop(0) if self.sink.delays else self.sink.delay_seconds
            held = self.sink.held_replies > 0
            if held:
                self.sink.held_replies -= 1
            self.sink.answering += 1
        try:
            if delay:
                await asyncio.sleep(delay)
            # Held: no answer until the test releases it, however slow the machine is.
            while held and not self.sink.released.is_set():
                await asyncio.sleep(0.05)
        finally:
            with self.sink.lock:
                self.sink.answering -= 1
        with self.sink.lock:
            if self.sink.replies:
                return self.sink.replies.pop(0)
        raw = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        with self.sink.lock:
            self.sink.received.append(
                Received(list(envelope.rcpt_tos), message, raw, time.time())  # type: ignore[arg-type]
            )
        return "250 Message accepted for delivery"


class SmtpSink:
    def __init__(self) -> None:
        self.port = free_port()
        self.host = "127.0.0.1"
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.connections = 0
        self.replies: list[str] = []  # the next DATA replies, instead of accepting
        self.refuse: set[str] = set()
        self.hang_seconds = 0.0
        self.delay_seconds = 0.0  # a slow but working server (before each 250 to DATA)
        self.delays: list[float] = []  # the next DATA replies' delays, instead of that
        self.mail_delay_seconds = 0.0  # a slow answer to MAIL FROM
        self.mail_commands = 0  # MAIL FROM commands seen: transactions started
        self.answering = 0  # messages received whose 250 is still being delayed
        self.held_replies = 0  # the next DATA replies held back until release()
        self.released = threading.Event()
        self.stalled = False
        self._controller: Controller | None = None
        self._silent: socket.socket | None = None

    # -- control ---------------------------------------------------------------
    def start(self) -> SmtpSink:
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        self.stalled = False
        self.released.set()
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._silent is not None:
            self._silent.close()
            self._silent = None

    def go_down(self) -> None:
        """Nothing listens on the port: connections are refused."""
        self.stop()

    def come_back(self) -> None:
        self.stop()
        self.start()

    def go_silent(self) -> None:
        """Something listens but never says hello: clients time out waiting."""
        self.stop()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(50)  # the kernel completes handshakes; nobody ever answers
        self._silent = sock

    def stall(self) -> None:
        """Greet and answer EHLO, then say nothing more (to MAIL FROM) until resume()."""
        self.stalled = True

    def resume(self) -> None:
        self.stalled = False

    def hold_next(self, count: int = 1) -> None:
        """Hold back the answer to the next ``count`` messages until release(): a send
        that is still going for as long as the test needs, not for some seconds."""
        with self.lock:
            self.held_replies += count
        self.released.clear()

    def release(self) -> None:
        self.released.set()

    def answer_next(self, *replies: str) -> None:
        with self.lock:
            self.replies.extend(replies)

    # -- inspection ----------------------------------------------------------------
    def messages(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def count_by_message_id(self) -> Counter[str]:
        return Counter(r.message_id for r in self.messages())

    def wait_for(self, count: int, timeout: float = 60) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.received) >= count:
                return self.messages()
            time.sleep(0.05)
        raise AssertionError(f"sink has {len(self.received)} messages, expected {count}")
