"""Mails due for one person at one moment go out as one mail.

A partner who joins finds the three or four agreements their partner proposed, each of
which writes "something is waiting for your answer" into the outbox; a reminder held
back by quiet hours comes due at 07:00 beside another. Each stays its own outbox row
(its own dedupe key, so it is written once); the dispatch pass that claims them sends
the rows of one recipient together, as one mail listing each (``notifications.dispatch``
claims a recipient's due rows together and records them sent in one fenced statement,
so the group goes out once and no row is lost).

Only prompts group (the kinds a person can switch off, ``preferences.PROMPT_KINDS``):
a sign-in, reset, confirmation or invitation mail always travels alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage

from jinja2 import TemplateNotFound

from infra.settings import Settings
from notifications import rendering
from notifications.models import OutboxMessage
from notifications.preferences import PROMPT_KINDS, kind_label


def groupable(kind: str) -> bool:
    return kind in PROMPT_KINDS


def groupable_kinds() -> list[str]:
    return sorted(PROMPT_KINDS)


@dataclass(frozen=True)
class Row:
    """What grouping needs of a claimed outbox row."""

    id: int
    kind: str
    recipient_user_id: int | None
    to_address: str


def groups(rows: Iterable[Row]) -> list[tuple[int, ...]]:
    """The rows in the order given, those of one recipient that may group joined into
    one tuple where the first of them stood; every other row alone."""
    result: list[list[int]] = []
    by_recipient: dict[tuple[int, str], list[int]] = {}
    for row in rows:
        if not groupable(row.kind) or row.recipient_user_id is None:
            result.append([row.id])
            continue
        key = (row.recipient_user_id, row.to_address.lower())
        if key in by_recipient:
            by_recipient[key].append(row.id)
        else:
            by_recipient[key] = [row.id]
            result.append(by_recipient[key])
    return [tuple(group) for group in result]


@dataclass(frozen=True)
class Item:
    """One row's line in a grouped mail."""

    row_id: int
    kind: str
    summary: str
    link: str
    unsubscribe_link: str


def _item(message: OutboxMessage, settings: Settings, secret: str | None) -> Item:
    link = rendering.link_for(message, settings, secret)
    unsubscribe = rendering.unsubscribe_url(message, settings)
    context = {
        **message.context,
        "link": link,
        "base_url": settings.base_url,
        "unsubscribe_link": unsubscribe,
    }
    try:
        summary = rendering.env().get_template(f"{message.kind}/item.txt").render(**context)
    except TemplateNotFound:
        summary = rendering.render_parts(message.kind, context)[0]
    return Item(message.id, message.kind, rendering.one_line(summary), link, unsubscribe)


@dataclass
class Grouped:
    email: EmailMessage | None  # None when no item rendered
    row_ids: tuple[int, ...]  # the rows the email carries
    failed: dict[int, Exception]  # rows whose line could not be rendered (template bugs)


def render_group(
    messages: list[OutboxMessage], settings: Settings, secrets: dict[int, str | None]
) -> Grouped:
    """One mail for several rows of one recipient: a line and a link for each (lines
    that say the same thing to the same page once, with how many), the attachments of
    all, and a way to stop each kind. Its Message-ID is the first row's, so a retry of
    the same group is recognisable. ``secrets``: row id -> a sign-in token issued now.
    A row whose line fails to render is left out and returned in ``failed``."""
    items: list[Item] = []
    failed: dict[int, Exception] = {}
    for message in messages:
        try:
            items.append(_item(message, settings, secrets.get(message.id)))
        except Exception as exc:  # a template bug: only that row fails
            failed[message.id] = exc
    if not items:
        return Grouped(None, (), failed)
    carried = {item.row_id for item in items}
    kept = [m for m in messages if m.id in carried]
    lines: dict[tuple[str, str], list[Item]] = {}
    for item in items:
        lines.setdefault((item.summary, item.link), []).append(item)
    stops: dict[str, str] = {}
    for item in items:
        stops.setdefault(item.kind, item.unsubscribe_link)
    context = {
        "name": next((m.context.get("name") for m in kept if m.context.get("name")), ""),
        "count": len(items),
        "lines": [
            {"summary": summary, "link": link, "times": len(same)}
            for (summary, link), same in lines.items()
        ],
        "stops": [{"label": kind_label(kind), "link": link} for kind, link in stops.items()],
        "base_url": settings.base_url,
    }
    subject, text, html = (
        rendering.env().get_template(f"_grouped_{part}").render(**context)
        for part in rendering.TEMPLATE_PARTS
    )
    single_kind = len(stops) == 1
    email = rendering.envelope(
        kept[0],
        settings,
        subject=subject,
        text=text,
        html=html,
        # One-click unsubscribe names one kind of mail; a mail of several kinds offers
        # a link per kind in its body instead.
        unsubscribe=next(iter(stops.values())) if single_kind else None,
    )
    for message in kept:
        rendering.attach(email, message, settings)
    return Grouped(email, tuple(m.id for m in kept), failed)
