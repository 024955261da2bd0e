"""Sharing a report with the couple's therapist: what both consented to, the therapist's
link (only its hash) and every visit to it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from couples import data_version
from infra.db import Base, UTCDateTime

# ReportShare.state
PENDING = "pending"  # proposed, waiting for the other partner's yes
ACTIVE = "active"  # both consented: the PDF and (until it expires) the link work
DECLINED = "declined"  # the other partner said no
WITHDRAWN = "withdrawn"  # either partner took their consent back: access ended at once
REPLACED = "replaced"  # answered with other choices (a newer proposal)
OPEN_STATES = (PENDING, ACTIVE)


class ReportShare(Base):
    """One proposal to share a report, and, once both said yes, the sharing itself."""

    __tablename__ = "report_shares"
    __table_args__ = (
        # One proposal or sharing at a time per couple, even when both press at once.
        Index(
            "uq_report_shares_one_open",
            "couple_id",
            unique=True,
            sqlite_where=text("state IN ('pending', 'active')"),
            postgresql_where=text("state IN ('pending', 'active')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    couple_id: Mapped[int] = mapped_column(ForeignKey("couples.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(20), default=PENDING)
    # The section keys both chose (reports.content.SECTIONS, FREE_TEXT, providers').
    contents: Mapped[list[str]] = mapped_column(JSON, default=list)
    therapist_name: Mapped[str] = mapped_column(String(120))
    therapist_email: Mapped[str] = mapped_column(String(254))
    # The last day the link works (in the proposer's zone); expires_at is the moment
    # after that day ends, in UTC.
    expires_on: Mapped[dt.date]
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    timezone: Mapped[str] = mapped_column(String(64))
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    proposed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The therapist's link: only the SHA-256 of its token. None: no link works (not
    # consented yet, revoked, or the sharing ended).
    link_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    link_issued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    link_revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    link_revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class ReportVisit(Base):
    """One opening of the therapist's link; both partners see the log."""

    __tablename__ = "report_visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    share_id: Mapped[int] = mapped_column(
        ForeignKey("report_shares.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


# A therapist opening the link changes nothing the couple's pages show.
data_version.not_couple_data(ReportVisit)  # couples/data_version.py
