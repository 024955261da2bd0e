"""What a report is made of (sections of paragraphs, tables and charts, in Tend's words)
and the registry of sections other packages add: the charter registers its root causes
here (``register_section``, listed in tend/registry.py), and the couple then chooses it
at consent like any built-in section.

A section provider gets a :class:`ReportContext` and returns a :class:`Section`, or
None when there is nothing to show. It must read shared, revealed data only: never the
safety lane, never a private answer, and anything a partner typed only when
``context.shows_free_text(key)`` says both ticked it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: list[tuple[str, ...]]


@dataclass(frozen=True)
class Series:
    name: str
    points: list[tuple[dt.date, float]]


@dataclass(frozen=True)
class Chart:
    title: str
    y_label: str
    y_range: tuple[float, float]
    series: list[Series]
    kind: str = "line"  # line | bar


Block = Paragraph | Table | Chart


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass(frozen=True)
class ReportContext:
    """What a provider may use: the couple (already authorized), a member to read as
    (for services that take the acting user), the partners' names, the free-text
    choices both ticked, and the clock."""

    couple_id: int
    reader_id: int
    names: dict[int, str]
    free_text: frozenset[str]
    now: dt.datetime
    timezone: str

    def shows_free_text(self, key: str) -> bool:
        return key in self.free_text


SectionProvider = Callable[[Session, ReportContext], Section | None]


@dataclass(frozen=True)
class Choice:
    """One tick box at consent: a section, or a kind of typed text."""

    key: str
    label: str
    help: str = ""


@dataclass(frozen=True)
class _Registered:
    choice: Choice
    provider: SectionProvider
    free_text: Choice | None


_EXTRA: dict[str, _Registered] = {}


def register_section(
    key: str,
    label: str,
    provider: SectionProvider,
    *,
    help: str = "",
    free_text: Choice | None = None,
) -> None:
    """Add a section the couple can choose (again on reload: the last wins). With
    ``free_text``, a tick box for the section's typed words is offered beside it."""
    if not key.isidentifier():
        raise ValueError(f"section keys are identifiers, got {key!r}")
    _EXTRA[key] = _Registered(Choice(key, label, help), provider, free_text)


def registered_sections() -> dict[str, tuple[Choice, SectionProvider, Choice | None]]:
    return {k: (r.choice, r.provider, r.free_text) for k, r in _EXTRA.items()}
