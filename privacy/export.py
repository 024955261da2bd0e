"""Data export: everything a person may take with them, as one zip of JSON and CSV.

Each domain package registers an *exporter*: ``fn(session, user_id) -> {table: rows}``
returning only what that person may take with them (what they wrote, including their
own private answers; shared records of their couple; revealed answers) and never the
partner's unrevealed or private answers. The rows are plain dicts of JSON-friendly
values (str, int, float, bool, None, date/datetime, or lists/dicts of those).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from couples import service as couples
from couples.accounts import get_user
from couples.models import AuthSession, Couple, Invitation, KnownDevice, Membership
from infra.composition import load_registrations
from infra.db import utcnow
from notifications.models import OutboxMessage
from privacy import pause

Rows = list[dict[str, Any]]
Exporter = Callable[[Session, int], dict[str, Rows]]

EXPORT_FORMAT = "tend-export"
EXPORT_VERSION = 1
JSON_NAME = "tend-export.json"

_EXPORTERS: dict[str, Exporter] = {}


def register_exporter(name: str, fn: Exporter) -> None:
    """Add (or replace, for reloads) the exporter ``name``; its tables appear in the zip
    as ``<name>/<table>.csv`` and under ``tables[name][table]`` in the JSON."""
    if not name.isidentifier():
        raise ValueError(f"exporter names are identifiers, got {name!r}")
    _EXPORTERS[name] = fn


def exporters() -> dict[str, Exporter]:
    load_providers()
    return dict(_EXPORTERS)


def load_providers() -> None:
    """Import every module that registers exporters and erasers (tend/registry.py), so
    they are known before an export or a deletion, whichever process (web, CLI,
    scheduler) asks."""
    load_registrations()


def collect(session: Session, user_id: int) -> dict[str, dict[str, Rows]]:
    """Every registered exporter's tables for this person."""
    load_providers()
    get_user(session, user_id)
    out: dict[str, dict[str, Rows]] = {}
    for name, fn in _EXPORTERS.items():
        tables = fn(session, user_id)
        for table in tables:
            if not table.isidentifier():
                raise ValueError(f"exporter {name!r} returned a bad table name {table!r}")
        out[name] = {table: [dict(row) for row in rows] for table, rows in tables.items()}
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return value


# A cell starting with one of these is a formula to a spreadsheet. Text a partner wrote
# must not run when the other opens the CSV, so such cells get a leading apostrophe
# (the JSON file keeps every value exactly as stored).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False)
    text = value if isinstance(value, str) else json.dumps(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def _csv(rows: Rows) -> bytes:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    # With a byte-order mark, spreadsheet programs read the file as UTF-8.
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


README = """Your data from Tend
===================

tend-export.json holds everything in one file: "tables" maps each part of Tend
(account, agreements, checkins, ...) to its tables, each a list of rows.
The folders hold the same tables as CSV files (UTF-8), one per table.

In the CSV files, a cell that would start with = + - or @ starts with an apostrophe
so that a spreadsheet shows it as text instead of running it as a formula; the JSON
file has every value exactly as it was stored.

Times are in UTC (ISO 8601).
"""


def export_data(
    session: Session,
    user_id: int,
    *,
    now: dt.datetime | None = None,
    tables: dict[str, dict[str, Rows]] | None = None,
) -> dict[str, Any]:
    """The export as one JSON-ready document."""
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": (now or utcnow()).isoformat(),
        "tables": _plain(tables if tables is not None else collect(session, user_id)),
    }


def export_zip(session: Session, user_id: int, *, now: dt.datetime | None = None) -> bytes:
    """A zip with README.txt, tend-export.json and ``<exporter>/<table>.csv`` files."""
    tables = collect(session, user_id)
    document = export_data(session, user_id, now=now, tables=tables)
    stamp = dt.datetime.fromisoformat(document["exported_at"])
    date_time = (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:

        def add(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(name, date_time=date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)

        add("README.txt", README.encode("utf-8"))
        add(JSON_NAME, json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8"))
        for exporter, its_tables in tables.items():
            for table, rows in its_tables.items():
                add(f"{exporter}/{table}.csv", _csv(rows))
    return buffer.getvalue()


def export_file_name(now: dt.datetime | None = None) -> str:
    return f"tend-export-{(now or utcnow()):%Y-%m-%d}.zip"


# --- the foundation's own tables ----------------------------------------------------


def _account_tables(session: Session, user_id: int) -> dict[str, Rows]:
    user = get_user(session, user_id)
    profile = {
        "email": user.email,
        "display_name": user.display_name,
        "timezone": user.timezone,
        "created_at": user.created_at,
        "password_changed_at": user.password_changed_at,
        "reminders_paused_at": pause.paused_since(session, user_id),
    }
    sessions = [
        {
            "created_at": s.created_at,
            "last_seen_at": s.last_seen_at,
            "expires_at": s.expires_at,
            "ended_at": s.ended_at,
        }
        for s in session.scalars(
            select(AuthSession).where(AuthSession.user_id == user_id).order_by(AuthSession.id)
        )
    ]
    # Browsers that signed in to the account: when, never the cookie's hash.
    devices = [
        {"first_signed_in_at": d.first_seen_at, "last_signed_in_at": d.last_seen_at}
        for d in session.scalars(
            select(KnownDevice).where(KnownDevice.user_id == user_id).order_by(KnownDevice.id)
        )
    ]
    own_memberships = list(
        session.scalars(
            select(Membership).where(Membership.user_id == user_id).order_by(Membership.id)
        )
    )
    my_memberships = [
        {
            "couple": m.couple.name,
            "seat": m.seat,
            "joined_at": m.joined_at,
            "left_at": m.left_at,
            "current": m.left_at is None,
        }
        for m in own_memberships
    ]
    couple: Couple | None = couples.couple_of(session, user_id)
    couple_rows: Rows = []
    member_rows: Rows = []
    if couple is not None:
        couple_rows.append(
            {
                "name": couple.name,
                "reunited_on": couple.reunited_on,
                "created_at": couple.created_at,
                "ended_at": couple.ended_at,
            }
        )
        member_rows = [
            {
                "name": couples.member_name(m, user_id),
                "seat": m.seat,
                "you": m.user_id == user_id,
                "joined_at": m.joined_at,
            }
            for m in couple.members
        ]
    # The address typed stays the inviter's own data while nobody has joined with it;
    # once the partner joined, it is their account's address, which an export never
    # holds (and blanking it then also keeps a later deletion from showing).
    invitations = [
        {
            "email": i.email if i.accepted_at is None else "",
            "created_at": i.created_at,
            "expires_at": i.expires_at,
            "accepted_at": i.accepted_at,
            "revoked_at": i.revoked_at,
        }
        for i in session.scalars(
            select(Invitation)
            .where(Invitation.invited_by_id == user_id)
            .order_by(Invitation.created_at, Invitation.id)
        )
    ]
    # Mails Tend wrote to this person: what kind and when, not the links they carried.
    mails = [
        {"kind": m.kind, "status": m.status, "created_at": m.created_at, "sent_at": m.sent_at}
        for m in session.scalars(
            select(OutboxMessage)
            .where(
                or_(
                    OutboxMessage.recipient_user_id == user_id,
                    OutboxMessage.to_address == user.email,
                )
            )
            .order_by(OutboxMessage.id)
        )
    ]
    return {
        "profile": [profile],
        "sign_in_sessions": sessions,
        "known_devices": devices,
        "my_memberships": my_memberships,
        "couple": couple_rows,
        "couple_members": member_rows,
        "invitations_sent": invitations,
        "mails_to_me": mails,
    }


register_exporter("account", _account_tables)
