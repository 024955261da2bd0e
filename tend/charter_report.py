"""The charter's section of a therapist report: the root causes the couple named and how
often each came back. Registered here, at the top, because the charter sits below the
reports (reports.sections.register_section; listed in tend/registry.py).

Typed words (a root cause named in the couple's own words, what each will change) are
shown only when both ticked "our charter's words as we wrote them"."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from charter import consent, words
from charter import warnings as charter_warnings
from checkins.models import Round
from reports.sections import Choice, Paragraph, ReportContext, Section, Table, register_section

SECTION = "charter"
CHARTER_WORDS = "charter_words"


def charter_section(session: Session, context: ReportContext) -> Section | None:
    causes = consent.root_causes(session, context.couple_id, at=context.now)
    if not causes:
        return None
    typed = context.shows_free_text(CHARTER_WORDS)
    own = iter(range(1, len(causes) + 1))
    names = {
        c.key: c.title if typed or c.key in words.CAUSES else f"Own root cause {next(own)}"
        for c in causes
    }
    rounds = session.scalars(
        select(Round.id)
        .where(Round.couple_id == context.couple_id, Round.revealed_at.is_not(None))
        .order_by(Round.opened_at)
    ).all()
    raised: dict[str, int] = dict.fromkeys(names, 0)
    not_kept = 0
    for round_id in rounds:
        back = charter_warnings.came_back(session, context.couple_id, round_id)
        for b in back:
            if b.why == charter_warnings.RAISED and b.cause_key in raised:
                raised[b.cause_key] += 1
        not_kept += any(b.why == charter_warnings.NOT_KEPT for b in back)
    blocks: list[Paragraph | Table] = [
        Paragraph(
            "The root causes of our breakup we named together in our charter, each with a "
            "change each of us committed to, and how many check-ins brought each back (its "
            "topic raised again)."
        ),
        Table(
            ("Root cause", "Check-ins that brought it back"),
            [(names[c.key], str(raised[c.key])) for c in causes],
        ),
        Paragraph(
            f"Check-ins in which one of us rated the charter's changes as not kept: {not_kept}."
        ),
    ]
    if typed:
        blocks.append(
            Table(
                ("Root cause", "Who", "What I will do", "How we will both notice"),
                [
                    (names[c.key], context.names.get(m.user_id, "Former partner"), m.what, m.notice)
                    for c in causes
                    for m in c.commitments
                ],
            )
        )
    return Section(SECTION, "Our reconciliation charter", blocks)


register_section(
    SECTION,
    "Our reconciliation charter: root causes and how often they came back",
    charter_section,
    help="The root causes we named, and how many check-ins brought each back.",
    free_text=Choice(
        CHARTER_WORDS,
        "Our charter's words as we wrote them",
        "Root causes in our own words, and what each of us will change. Otherwise only "
        "Tend's names for root causes are shown.",
    ),
)
