"""What the guided start has to remember beyond what other records already show.

Progress is derived where it can be (a couple space exists, an invitation is open, the
partner joined, agreements exist); only the chosen plan (agreements that cannot be
proposed before the partner is there) and "skipped"/"finished" live here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from infra.db import Base, UTCDateTime


class OnboardingProgress(Base):
    __tablename__ = "onboarding_progress"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # The agreements chosen and adjusted in the guided start: a list of
    # {"kind", "title", "body", "params"}. Proposed to the partner when they join.
    plan: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    plan_saved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    plan_proposed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    skipped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # "Later" on the charter step: the guided start goes on; the step stays offered.
    charter_skipped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
