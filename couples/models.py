"""Accounts, sign-in sessions, one-time tokens, couples and invitations."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from infra.db import Base, UTCDateTime, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased: addresses are compared case-insensitively everywhere.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    password_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PendingRegistration(Base):
    """A registration waiting for its email link, so an address is proven before use."""

    __tablename__ = "pending_registrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AuthSession(Base):
    """A signed-in browser; the cookie holds the token, the database only its hash."""

    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class OneTimeToken(Base):
    """Single-use secrets sent by mail or handed to the browser (only the hash is kept).

    purpose: 'password_reset', 'sign_in_link' (from a mail), 'session_ticket' (a
    just-verified sign-in on its way to becoming a cookie).
    """

    __tablename__ = "one_time_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    target: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class KnownDevice(Base):
    """A browser that has signed in to this account before. Failed sign-ins made on
    other devices never lock it out. Only a hash of the device cookie is kept."""

    __tablename__ = "known_devices"
    __table_args__ = (UniqueConstraint("user_id", "device", name="uq_known_devices_user_device"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The throttling key of the device (couples.clients.device_key), a hash of its cookie.
    device: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class FailedSignIn(Base):
    """A failed sign-in, kept briefly to slow guessing down without locking anyone out."""

    __tablename__ = "failed_sign_ins"
    __table_args__ = (
        Index("ix_failed_sign_ins_email_client_at", "email", "client", "at"),
        Index("ix_failed_sign_ins_client_at", "client", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    client: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Couple(Base):
    __tablename__ = "couples"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    reunited_on: Mapped[dt.date | None]
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when a partner leaves: the space then stays readable but frozen.
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Moves on with every write about the couple (couples/data_version.py). It starts
    # anywhere, so a new couple given a deleted one's id (SQLite reuses the highest) does
    # not meet what was kept for the old one.
    data_version: Mapped[int] = mapped_column(
        BigInteger, default=lambda: secrets.randbits(40), server_default="0"
    )

    members: Mapped[list[Membership]] = relationship(
        back_populates="couple", order_by="Membership.seat", lazy="selectin"
    )


class Membership(Base):
    """A partner's seat in a couple. Two seats per couple, enforced by a unique key."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("couple_id", "seat"),
        UniqueConstraint("couple_id", "user_id"),
        # A person belongs to at most one couple that they have not left.
        Index(
            "uq_memberships_active_user",
            "user_id",
            unique=True,
            sqlite_where=text("left_at IS NULL"),
            postgresql_where=text("left_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    couple_id: Mapped[int] = mapped_column(ForeignKey("couples.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    seat: Mapped[int]  # 1 = who created the space, 2 = who joined
    joined_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    left_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    couple: Mapped[Couple] = relationship(back_populates="members")
    user: Mapped[User] = relationship(lazy="joined")


class Invitation(Base):
    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    couple_id: Mapped[int] = mapped_column(ForeignKey("couples.id", ondelete="CASCADE"), index=True)
    invited_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
