"""The report's mails (registered with the mail machinery at import; listed in
tend/registry.py): the partner is asked for consent; the therapist gets the link once
both consented. Names and a date only, never anything from the report."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from infra.settings import Settings
from notifications import rendering

LINK_PATH = "/therapist/report"
TEMPLATES = Path(__file__).with_name("templates") / "mail"


def therapist_link(settings: Settings, secret: str | None) -> str:
    """The therapist's link: the token as ``t`` (it is stored only hashed)."""
    return settings.base_url + LINK_PATH + ("?" + urlencode({"t": secret}) if secret else "")


rendering.add_template_dir(TEMPLATES)
rendering.register_kind("report_proposed", lambda settings, _secret: settings.base_url + "/report")
rendering.register_kind("report_shared", therapist_link)
