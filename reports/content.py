"""What the therapist report holds: the built-in sections, in Tend's words, built from
shared and revealed data only.

Never read here: the safety lane, private answers, answers before the reveal, cooldown
notes. Everything a partner typed (agreement and topic names, "what went well") is
shown only when both ticked it; otherwise an agreement is named by its kind and a topic
by its number, and the warnings are worded from those neutral names (their rules are
pure, so they are handed the neutral names instead of the typed ones).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from agreements import cooldowns
from agreements.models import Agreement, TherapySession
from agreements.templates import TEMPLATES
from agreements.therapy import ATTENDANCE
from checkins import history, review, rules, survey, warnings
from checkins.models import RESOLVED
from infra.composition import load_registrations
from reports.sections import (
    Chart,
    Choice,
    Paragraph,
    ReportContext,
    Section,
    SectionProvider,
    Series,
    Table,
    registered_sections,
)

SCORES = "scores"
ADHERENCE = "adherence"
WARNINGS = "warnings"
TOPICS = "topics"
COOLDOWNS = "cooldowns"
THERAPY = "therapy"

AGREEMENT_NAMES = "agreement_names"
TOPIC_NAMES = "topic_names"
WENT_WELL = "went_well"

BUILT_IN_SECTIONS: tuple[Choice, ...] = (
    Choice(
        SCORES,
        "Satisfaction and certainty over time",
        "Each of your scores at every check-in you both answered, and the gap between them.",
    ),
    Choice(ADHERENCE, "How well each agreement was kept", "Your ratings, averaged per check-in."),
    Choice(
        WARNINGS,
        "Early warnings, current and past",
        "Tend's warnings with the numbers behind them.",
    ),
    Choice(TOPICS, "Recurring topics and their history", "When each was raised and resolved."),
    Choice(COOLDOWNS, "Cooldowns", "How many you took each month (never your notes)."),
    Choice(THERAPY, "Therapy sessions logged", "Dates and who went (never your ratings)."),
)
BUILT_IN_FREE_TEXT: tuple[Choice, ...] = (
    Choice(
        AGREEMENT_NAMES,
        "The names of our agreements as we wrote them",
        "Otherwise an agreement is named by its kind (“Cooldown”, “Own agreement 2”).",
    ),
    Choice(
        TOPIC_NAMES,
        "The names of our topics as we wrote them",
        "Otherwise topics are numbered (“Topic 3”).",
    ),
    Choice(
        WENT_WELL,
        "Our answers to “what went well”, once both of us had answered",
        "Only that question; private answers and the safety questions are never included.",
    ),
)

# The neutral default when a couple has not chosen yet.
DEFAULT_SECTIONS = (SCORES, ADHERENCE, WARNINGS, TOPICS, COOLDOWNS, THERAPY)


def section_choices() -> list[Choice]:
    load_registrations()
    return [*BUILT_IN_SECTIONS, *(c for c, _p, _f in registered_sections().values())]


def free_text_choices() -> list[Choice]:
    load_registrations()
    extra = [f for _c, _p, f in registered_sections().values() if f is not None]
    return [*BUILT_IN_FREE_TEXT, *extra]


def known_keys() -> set[str]:
    return {c.key for c in (*section_choices(), *free_text_choices())}


# --- the report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    partners: tuple[str, ...]
    generated_on: dt.date
    first_checkin: dt.date | None
    last_checkin: dt.date | None
    sections: list[Section]
    shown_free_text: list[str]  # labels of the typed text both chose to include


def _local(moment: dt.datetime, zone: str) -> dt.date:
    return moment.astimezone(ZoneInfo(zone)).date()


@dataclass
class _Facts:
    """Everything the built-in sections read, loaded once: the facts of every closed
    round (revealed answers only) with neutral or typed agreement names."""

    context: ReportContext
    rounds: list[rules.RoundFacts]  # oldest first
    agreement_names: dict[int, str]
    topics: list[history.TopicView]
    topic_names: dict[int, str]

    def day(self, moment: dt.datetime) -> dt.date:
        return _local(moment, self.context.timezone)


def _agreement_names(session: Session, context: ReportContext) -> dict[int, str]:
    rows = session.execute(
        select(Agreement.id, Agreement.kind)
        .where(Agreement.couple_id == context.couple_id)
        .order_by(Agreement.created_at, Agreement.id)
    ).all()
    names: dict[int, str] = {}
    own = 0
    for agreement_id, kind in rows:
        if kind in TEMPLATES:
            names[agreement_id] = TEMPLATES[kind].title
        else:
            own += 1
            names[agreement_id] = f"Own agreement {own}"
    return names


def _facts(session: Session, context: ReportContext) -> _Facts:
    rounds = sorted(
        warnings.round_facts(session, context.couple_id, every_round=True),
        key=lambda r: r.opened_at,
    )
    names = _agreement_names(session, context)
    if context.shows_free_text(AGREEMENT_NAMES):
        for r in rounds:  # the titles as they were at each round
            for agreement_id, title in r.agreement_titles.items():
                names.setdefault(agreement_id, title)
        latest = {aid: t for r in rounds for aid, t in r.agreement_titles.items()}
        names.update(latest)
    else:
        rounds = [
            dataclasses.replace(
                r, agreement_titles={aid: names.get(aid, "An agreement") for aid in r.adherence}
            )
            for r in rounds
        ]
    topics = history.topics(session, context.reader_id)
    numbered = sorted(topics, key=lambda t: (t.created_at, t.id))
    topic_names = {
        t.id: t.title if context.shows_free_text(TOPIC_NAMES) else f"Topic {n}"
        for n, t in enumerate(numbered, start=1)
    }
    return _Facts(context, rounds, names, topics, topic_names)


def _scores(facts: _Facts) -> Section | None:
    revealed = [r for r in facts.rounds if r.revealed]
    if not revealed:
        return None
    names = facts.context.names
    satisfaction = [
        Series(name, [(facts.day(r.opened_at), r.totals[uid]) for r in revealed if uid in r.totals])
        for uid, name in names.items()
    ]
    certainty = [
        Series(
            name,
            [(facts.day(r.opened_at), r.certainty[uid]) for r in revealed if uid in r.certainty],
        )
        for uid, name in names.items()
    ]
    both = [r for r in revealed if len(r.totals) == 2]
    gap = Series(
        "Gap",
        [
            (facts.day(r.opened_at), abs(float(a - b)))
            for r in both
            for a, b in [tuple(r.totals.values())]
        ],
    )
    rows = [
        (
            facts.day(r.opened_at).isoformat(),
            *(str(r.totals.get(uid, "–")) for uid in names),
            *(str(r.certainty.get(uid, "–")) for uid in names),
        )
        for r in revealed
    ]
    return Section(
        SCORES,
        "Satisfaction and certainty over time",
        [
            Paragraph(
                "Satisfaction is the sum of four questions answered 0–5 each (0–20; 9 or "
                "less is the distressed range). Certainty about the future is one question, "
                "1 (very unsure) to 5 (very certain). Only check-ins both partners answered "
                "are shown."
            ),
            Chart("Satisfaction (0–20)", "score", (0, 20), satisfaction),
            Chart("Gap between the partners' satisfaction", "points", (0, 20), [gap], "bar"),
            Chart("Certainty about the future (1–5)", "certainty", (1, 5), certainty),
            Table(
                (
                    "Check-in",
                    *(f"{n}: satisfaction" for n in names.values()),
                    *(f"{n}: certainty" for n in names.values()),
                ),
                rows,
            ),
        ],
    )


def _adherence(facts: _Facts) -> Section | None:
    per: dict[int, list[tuple[dt.date, float]]] = defaultdict(list)
    for r in facts.rounds:
        if r.revealed:
            for agreement_id, mean in r.adherence.items():
                per[agreement_id].append((facts.day(r.opened_at), round(mean, 2)))
    if not per:
        return None
    series = [
        Series(facts.agreement_names.get(aid, "An agreement"), pts) for aid, pts in per.items()
    ]
    rows = [
        (
            s.name,
            str(len(s.points)),
            f"{sum(v for _d, v in s.points) / len(s.points):.1f}",
            f"{s.points[-1][1]:.1f}",
        )
        for s in series
    ]
    return Section(
        ADHERENCE,
        "How well each agreement was kept",
        [
            Paragraph(
                "At each check-in both partners rate how well each agreement in force was "
                "kept, by themselves and by the other, 1 (not at all) to 5 (fully). Shown: "
                f"the mean of those four ratings. {rules.POOR_ADHERENCE:g} or less counts as "
                "poorly kept."
            ),
            Chart("Adherence per agreement (1–5)", "mean rating", (1, 5), series),
            Table(("Agreement", "Check-ins", "Mean", "Latest"), rows),
        ],
    )


def _warnings(facts: _Facts) -> Section | None:
    names = facts.context.names
    recurring = [
        (t.id, facts.topic_names[t.id])
        for t in facts.topics
        if t.keeps_coming_back and t.status != RESOLVED
    ]
    closed = [r for r in facts.rounds if r.closed]
    current = rules.early_warnings(closed[-warnings.WARNING_LOOKBACK :], names, recurring)
    # Past warnings: the rules replayed at every check-in over what was known then; a
    # warning is listed at the check-in where it first held (again after a pause).
    past: list[tuple[dt.date, rules.EarlyWarning]] = []
    held: set[tuple[str, int | None, int | None]] = set()
    for index, r in enumerate(closed):
        window = closed[max(0, index + 1 - warnings.WARNING_LOOKBACK) : index + 1]
        now_held = {}
        for w in rules.early_warnings(window, names):
            now_held[(w.code, w.user_id, w.subject_id)] = w
        for key, w in now_held.items():
            if key not in held:
                past.append((facts.day(r.opened_at), w))
        held = set(now_held)
    blocks: list = [
        Paragraph(
            "Tend's early warnings are fixed rules over the check-ins both partners "
            "answered (thresholds in Tend's documentation). Each line gives the numbers "
            "that raised it."
        )
    ]
    if current:
        blocks.append(
            Table(("Current warning", "Evidence"), [(w.title, w.explanation) for w in current])
        )
    else:
        blocks.append(Paragraph("No warning holds at the latest check-in."))
    if past:
        blocks.append(
            Table(
                ("First raised", "Warning", "Evidence"),
                [(day.isoformat(), w.title, w.explanation) for day, w in past],
            )
        )
    return Section(WARNINGS, "Early warnings, current and past", blocks)


def _topics(session: Session, facts: _Facts) -> Section | None:
    if not facts.topics:
        return None
    labels = {"open": "open", "working": "working on it", RESOLVED: "resolved"}
    rows = []
    for t in sorted(facts.topics, key=lambda t: (t.created_at, t.id)):
        _view, events = history.topic_history(session, facts.context.reader_id, t.id)
        steps = "; ".join(
            f"{facts.day(e.at).isoformat()} "
            + ("raised" if e.event == "raised" else labels.get(e.status or "", e.event))
            for e in events
            if e.event in ("raised", "status")
        )
        rows.append(
            (
                facts.topic_names[t.id],
                labels.get(t.status, t.status),
                str(t.times_raised),
                "yes" if t.keeps_coming_back else "no",
                steps or "–",
            )
        )
    return Section(
        TOPICS,
        "Recurring topics and their history",
        [
            Paragraph(
                f"A topic “keeps coming back” when it was raised in {rules.RECURRING_MIN} of "
                f"the last {rules.RECURRING_WINDOW} check-ins, or again after it was resolved."
            ),
            Table(("Topic", "Status", "Times raised", "Keeps coming back", "History"), rows),
        ],
    )


def _cooldowns(session: Session, facts: _Facts) -> Section | None:
    context = facts.context
    months = cooldowns.cooldowns_per_month_of(
        session, context.couple_id, context.timezone, now=context.now, months=12
    )
    total = sum(count for _m, count in months)
    return Section(
        COOLDOWNS,
        "Cooldowns",
        [
            Paragraph(
                f"A cooldown is the agreed pause when an argument heats up. {total} in the "
                "last twelve months. Notes written during a cooldown are private and never "
                "part of this report."
            ),
            Chart(
                "Cooldowns per month",
                "cooldowns",
                (0, max(4, max((c for _m, c in months), default=0) + 1)),
                [Series("Cooldowns", [(m, float(c)) for m, c in months])],
                "bar",
            ),
        ],
    )


def _therapy(session: Session, facts: _Facts) -> Section | None:
    rows = session.execute(
        select(TherapySession.held_on, TherapySession.attendance)
        .join(Agreement, Agreement.id == TherapySession.agreement_id)
        .where(Agreement.couple_id == facts.context.couple_id)
        .order_by(TherapySession.held_on, TherapySession.id)
    ).all()
    if not rows:
        return Section(THERAPY, "Therapy sessions logged", [Paragraph("No session logged yet.")])
    return Section(
        THERAPY,
        "Therapy sessions logged",
        [Table(("Date", "Attendance"), [(d.isoformat(), ATTENDANCE.get(a, a)) for d, a in rows])],
    )


def _went_well(session: Session, facts: _Facts) -> Section | None:
    """Each partner's revealed "what went well", read as the other partner reads it (the
    reveal rule of checkins.review), so nothing unrevealed can come through."""
    context = facts.context
    members = list(context.names)
    rows = []
    for r in facts.rounds:
        if not r.revealed or len(members) != 2:
            continue
        for reader, author in (members, members[::-1]):
            text = review.review(session, reader, r.round_id).theirs.texts.get(survey.WENT_WELL.key)
            if text:
                rows.append((facts.day(r.opened_at).isoformat(), context.names[author], text))
    if not rows:
        return None
    return Section(
        WENT_WELL,
        "What went well, in their own words",
        [
            Paragraph(f"Their answers to “{survey.WENT_WELL.prompt}”, shown as written."),
            Table(("Check-in", "Who", "What went well"), rows),
        ],
    )


_BUILT_IN = {
    SCORES: lambda s, f: _scores(f),
    ADHERENCE: lambda s, f: _adherence(f),
    WARNINGS: lambda s, f: _warnings(f),
    TOPICS: _topics,
    COOLDOWNS: _cooldowns,
    THERAPY: _therapy,
}


def build_report(session: Session, context: ReportContext, contents: list[str]) -> Report:
    """The report holding ``contents`` (section keys, in the order Tend lists them)."""
    chosen = set(contents)
    facts = _facts(session, context)
    sections: list[Section] = []
    for choice in BUILT_IN_SECTIONS:
        if choice.key in chosen:
            section = _BUILT_IN[choice.key](session, facts)
            if section is not None:
                sections.append(section)
    extra: dict[str, SectionProvider] = {k: p for k, (_c, p, _f) in registered_sections().items()}
    for key, provider in extra.items():
        if key in chosen:
            section = provider(session, context)
            if section is not None:
                sections.append(section)
    if WENT_WELL in chosen:
        section = _went_well(session, facts)
        if section is not None:
            sections.append(section)
    revealed = [r for r in facts.rounds if r.revealed]
    return Report(
        partners=tuple(context.names.values()),
        generated_on=_local(context.now, context.timezone),
        first_checkin=facts.day(revealed[0].opened_at) if revealed else None,
        last_checkin=facts.day(revealed[-1].opened_at) if revealed else None,
        sections=sections,
        shown_free_text=[c.label for c in free_text_choices() if c.key in chosen],
    )
