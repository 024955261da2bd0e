"""The report's mails, registered with the mail machinery at import (listed in
tend/registry.py; their templates sit with the others in notifications/templates/): the
partner is asked for consent; the therapist gets the link once both consented. Names
and a date only, never anything from the report."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from infra.settings import Settings
from notifications import rendering
from notifications.models import OutboxMessage
from notifications.preferences import context_id, register_prompt_kind, register_still_due
from reports.models import PENDING, ReportShare

LINK_PATH = "/therapist/report"


def therapist_link(settings: Settings, secret: str | None) -> str:
    """The therapist's link: the token as ``t`` (it is stored only hashed)."""
    return settings.base_url + LINK_PATH + ("?" + urlencode({"t": secret}) if secret else "")


rendering.register_kind("report_proposed", lambda settings, _secret: settings.base_url + "/report")
rendering.register_kind("report_shared", therapist_link)
# The partner may switch the question off like any prompt (and a quiet pause holds it);
# the therapist's mail is not a prompt: it goes once both said yes.
register_prompt_kind(
    "report_proposed", "A report for your therapist awaits your answer", group="Therapy"
)


def _proposal_still_due(session: Session, message: OutboxMessage, _now: dt.datetime) -> str | None:
    """A proposal made at night waits for the partner's morning: not sent once it was
    withdrawn meanwhile."""
    share_id = context_id(message, "share_id")
    if share_id is None:
        return None
    share = session.get(ReportShare, share_id)
    if share is None or share.state != PENDING:
        return "the report proposal no longer waits for an answer"
    return None


register_still_due("report_proposed", _proposal_still_due)
