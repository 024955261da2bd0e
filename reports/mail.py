"""The report's mails, registered with the mail machinery at import (listed in
tend/registry.py; their templates sit with the others in notifications/templates/): the
partner is asked for consent; the therapist gets the link once both consented. Names
and a date only, never anything from the report."""

from __future__ import annotations

from urllib.parse import urlencode

from infra.settings import Settings
from notifications import rendering
from notifications.preferences import register_prompt_kind

LINK_PATH = "/therapist/report"


def therapist_link(settings: Settings, secret: str | None) -> str:
    """The therapist's link: the token as ``t`` (it is stored only hashed)."""
    return settings.base_url + LINK_PATH + ("?" + urlencode({"t": secret}) if secret else "")


rendering.register_kind("report_proposed", lambda settings, _secret: settings.base_url + "/report")
rendering.register_kind("report_shared", therapist_link)
# The partner may switch the question off like any prompt (and a quiet pause holds it);
# the therapist's mail is not a prompt: it goes once both said yes.
register_prompt_kind("report_proposed", "A report for your therapist awaits your answer")
