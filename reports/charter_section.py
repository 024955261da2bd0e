"""The charter's part of the therapist report, through the section hook
(``reports.sections.register_section``; listed in tend/registry.py): the root causes of
the charter in force and how each has gone since (the topic Tend tracks for it).

A root cause from Tend's list is named in Tend's words; one the couple wrote, and what
each partner committed to, appear only when both ticked "the charter's words".
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from charter import consent, words
from checkins import history
from checkins.models import RESOLVED
from reports.sections import Choice, Paragraph, ReportContext, Section, Table, register_section

CHARTER = "charter"
CHARTER_WORDS = "charter_words"
STATUS = {"open": "open", "working": "working on it", RESOLVED: "resolved"}


def charter_section(session: Session, context: ReportContext) -> Section | None:
    causes = consent.root_causes(session, context.couple_id, at=context.now)
    title = "The charter's root causes and how they have gone"
    if not causes:
        return Section(CHARTER, title, [Paragraph("No charter is agreed yet.")])
    shows_words = context.shows_free_text(CHARTER_WORDS)
    topics = {t.id: t for t in history.topics(session, context.reader_id)}
    rows, commitments = [], []
    own = 0
    for cause in causes:
        if cause.key in words.CAUSES:
            name = words.CAUSES[cause.key]
        else:
            own += 1
            name = cause.title if shows_words else f"Own root cause {own}"
        topic = topics.get(cause.topic_id) if cause.topic_id is not None else None
        rows.append(
            (
                name,
                STATUS.get(topic.status, topic.status) if topic else "–",
                str(topic.times_raised) if topic else "0",
                f"{topic.last_raised:%Y-%m-%d}" if topic and topic.last_raised else "–",
                "yes" if topic and topic.keeps_coming_back else "no",
            )
        )
        commitments += [(name, c.who, c.what, c.notice) for c in cause.commitments]
    blocks: list[Paragraph | Table] = [
        Paragraph(
            "The root causes both partners named in their charter (what ended it last "
            "time), each tracked as a topic at their check-ins since."
        ),
        Table(("Root cause", "Status", "Times raised", "Last raised", "Keeps coming back"), rows),
    ]
    if shows_words and commitments:
        blocks.append(Table(("Root cause", "Who", "Will do", "How both will notice"), commitments))
    return Section(CHARTER, title, blocks)


register_section(
    CHARTER,
    "The charter's root causes and how they have gone",
    charter_section,
    help="Each root cause: whether it is resolved, how often it came up again.",
    free_text=Choice(
        CHARTER_WORDS,
        "The charter's words as we wrote them",
        "Root causes in your own words, and what each of you committed to.",
    ),
)
