"""Who may read which mail of the file drop on the local Mailbox page
(tend.mailbox.visible_mails), on both databases, with the real file drop."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from couples import accounts
from infra.settings import get_settings
from notifications.dispatch import dispatch_pending
from notifications.transports import FileDropTransport
from tend.mailbox import MailboxReader, visible_mails
from tests.factories import make_couple


def _subjects_and_to(tx, reader: MailboxReader) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with tx() as s:
        mails = visible_mails(s, get_settings().mail_dir, reader)
    return sorted((mail.subject, mail.to) for mail in mails)


def test_each_reader_sees_only_the_mails_meant_for_them(tx, engine, tend_env) -> None:
    with tx() as s:
        _, a, b = make_couple(s)  # A's invitation to B is mailed
        accounts.request_password_reset(s, "a@example.org")
        pending = accounts.register(
            s,
            accounts.Registration(
                email="new@example.org",
                display_name="New",
                password="a long and fine passphrase",
                timezone="UTC",
            ),
        )
        # The same address registered from another browser: its own, separate mail.
        other_pending = accounts.register(
            s,
            accounts.Registration(
                email="new@example.org",
                display_name="Someone",
                password="another long passphrase",
                timezone="UTC",
            ),
        )
        # Registering a known address mails its owner; the registrant gets no id for it.
        known = accounts.register(
            s,
            accounts.Registration(
                email="b@example.org",
                display_name="Not B",
                password="a long and fine passphrase",
                timezone="UTC",
            ),
        )
        a_reader = MailboxReader(user_id=a.id, email=a.email)
        b_reader = MailboxReader(user_id=b.id, email=b.email)
    assert known is None and pending is not None and other_pending not in (None, pending)
    assert len(dispatch_pending(engine).sent) == 5
    # A mail the outbox never wrote (or whose row was erased) is nobody's.
    stray = EmailMessage()
    stray["Subject"], stray["To"] = "Stray", "a@example.org"
    stray["Message-ID"] = "<tend.999.0123456789abcdef@tend.test>"
    stray.set_content("http://tend.test/x")
    FileDropTransport(Path(tend_env["TEND_MAIL_DIR"])).send(stray)

    reset = ("Reset your Tend password", "a@example.org")
    invitation = next(m for m in _subjects_and_to(tx, a_reader) if m != reset)
    assert invitation[1] == "b@example.org"
    # Signed out: nothing, however the address was typed or what this browser asked for.
    assert _subjects_and_to(tx, MailboxReader()) == []
    assert _subjects_and_to(tx, MailboxReader(registrations=[pending + 1000])) == []
    # The browser that registered sees its confirmation, not the other registration's.
    [confirmation] = _subjects_and_to(tx, MailboxReader(registrations=[pending]))
    assert confirmation[1] == "new@example.org"
    with tx() as s:
        [mail] = visible_mails(s, get_settings().mail_dir, MailboxReader(registrations=[pending]))
        assert "Hi New," in mail.text
    # A: the reset to A's own address and the invitation A sent; never the stray.
    assert _subjects_and_to(tx, a_reader) == sorted([reset, invitation])
    # B: the mails to B's address (the invitation, "you already have an account"); not
    # A's reset, however B is signed in.
    b_sees = _subjects_and_to(tx, b_reader)
    assert reset not in b_sees and {to for _, to in b_sees} == {"b@example.org"}
    assert len(b_sees) == 2
