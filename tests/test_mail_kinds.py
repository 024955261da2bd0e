"""Every kind of mail has its three templates, renders, and carries the unsubscribe
headers and link (a kind added without them fails here)."""

from __future__ import annotations

import pytest

from couples.settings import Settings
from notifications.models import OutboxMessage
from notifications.rendering import KINDS, TEMPLATE_DIR, TEMPLATE_PARTS, render

SETTINGS = Settings(base_url="http://tend.test", secret_key="k", mail_from="Tend <tend@tend.test>")
CONTEXT = {"name": "Sam", "inviter": "Kim", "couple": "Kim & Sam"}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_renders_with_unsubscribe(kind: str) -> None:
    for part in TEMPLATE_PARTS:
        assert (TEMPLATE_DIR / kind / part).is_file(), f"{kind}/{part} missing"
    message = OutboxMessage(
        id=7,
        kind=kind,
        to_address="sam@example.org",
        dedupe_key=f"{kind}:7",
        context=CONTEXT,
        secret="s3cret",
        recipient_user_id=3,
    )
    email = render(message, SETTINGS)
    unsubscribe = str(email["List-Unsubscribe"]).strip("<>")
    assert unsubscribe.startswith("http://tend.test/unsubscribe?token=")
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = email.get_body(("plain",)).get_content()
    html = email.get_body(("html",)).get_content()
    assert unsubscribe in text and unsubscribe in html
    assert "\n" not in str(email["Subject"])
    assert email["Message-ID"] == render(message, SETTINGS)["Message-ID"]  # stable
