"""The built-in check-in, in Tend's own words.

Everything a round asks is defined here, so the wording and the scales stay the same
from one round to the next and the trend stays comparable over years. The couple's own
extra questions live in the database (``CustomQuestion``); agreement adherence questions
are made per round from the agreements in force when the round opened.

Visibility of every answer:
- ``revealed``: shown to the partner once both have submitted;
- ``private``: shown only to its author, never to the partner;
- ``safety``: like private, and additionally never used in shared warnings or mail.
"""

from __future__ import annotations

from dataclasses import dataclass

REVEALED = "revealed"
PRIVATE = "private"
SAFETY = "safety"
VISIBILITIES = (REVEALED, PRIVATE, SAFETY)

SCALE = "scale"
TEXT = "text"
CHOICE = "choice"


@dataclass(frozen=True)
class Question:
    key: str
    prompt: str
    kind: str  # scale | text | choice
    visibility: str
    # For scales and choices: (value, label) pairs, lowest first.
    options: tuple[tuple[int, str], ...] = ()
    required: bool = True
    help: str = ""

    @property
    def values(self) -> tuple[int, ...]:
        return tuple(value for value, _ in self.options)

    def label(self, value: int | None) -> str:
        return dict(self.options).get(value, "") if value is not None else ""


# --- relationship satisfaction: four items, 0-5 each, total 0-20 -------------------------

_SATISFACTION_OPTIONS = (
    (0, "Not at all"),
    (1, "A little"),
    (2, "Somewhat"),
    (3, "Mostly"),
    (4, "Very"),
    (5, "Completely"),
)

SATISFACTION = (
    Question(
        "sat_happy",
        "All in all, how happy are you with our relationship right now?",
        SCALE,
        REVEALED,
        _SATISFACTION_OPTIONS,
    ),
    Question(
        "sat_needs",
        "How well does our relationship give you what you need from it?",
        SCALE,
        REVEALED,
        _SATISFACTION_OPTIONS,
    ),
    Question(
        "sat_close",
        "How close and warm have you felt towards each other since the last check-in?",
        SCALE,
        REVEALED,
        _SATISFACTION_OPTIONS,
    ),
    Question(
        "sat_glad",
        "How glad are you that we got back together?",
        SCALE,
        REVEALED,
        _SATISFACTION_OPTIONS,
    ),
)
SATISFACTION_KEYS = tuple(q.key for q in SATISFACTION)
SATISFACTION_MAX = 5 * len(SATISFACTION)  # 20

CERTAINTY = Question(
    "certainty",
    "How certain do you feel about our future together?",
    SCALE,
    REVEALED,
    (
        (1, "Very unsure"),
        (2, "Rather unsure"),
        (3, "In between"),
        (4, "Fairly certain"),
        (5, "Very certain"),
    ),
)

WENT_WELL = Question(
    "went_well",
    "What went well since the last check-in? Anything you appreciate about your partner?",
    TEXT,
    REVEALED,
    required=False,
)

# Never shown to the partner, never in mail, never in a shared warning.
SAFETY_QUESTION = Question(
    "safety",
    "Only you will ever see this answer: do you feel safe with your partner, in body and mind?",
    CHOICE,
    SAFETY,
    ((1, "No"), (2, "Not always"), (3, "Mostly"), (4, "Yes")),
    help="Your partner never sees this answer, and it is never used in anything you share.",
)

SAFETY_HAPPENED = Question(
    "safety_happened",
    "Only you will ever see this answer: since the last check-in, has anything happened "
    "that frightened you, or that you felt pressured into?",
    CHOICE,
    SAFETY,
    ((1, "Yes"), (2, "I am not sure"), (3, "No")),
    required=False,
    help="Your partner never sees this answer, and it is never used in anything you share.",
)

SAFETY_NOTE = Question(
    "safety_note",
    "Anything you want to write down for yourself (only you will ever see it)",
    TEXT,
    SAFETY,
    required=False,
    help="A note for you alone: never shown to your partner, never in a mail or a shared "
    "chart, and never in your partner's data export.",
)

# The private safety lane: the partner-facing code never reads these (see docs/privacy.md).
SAFETY_LANE: tuple[Question, ...] = (SAFETY_QUESTION, SAFETY_HAPPENED, SAFETY_NOTE)
SAFETY_KEYS = frozenset(q.key for q in SAFETY_LANE)

BUILT_IN: tuple[Question, ...] = (*SATISFACTION, CERTAINTY, WENT_WELL, *SAFETY_LANE)
BY_KEY = {q.key: q for q in BUILT_IN}

# How well an agreement was kept (asked twice: about myself, about my partner).
ADHERENCE_OPTIONS = (
    (1, "Not at all"),
    (2, "Rarely"),
    (3, "Partly"),
    (4, "Mostly"),
    (5, "Fully"),
)
CUSTOM_SCALE_OPTIONS = ADHERENCE_OPTIONS
MAX_TEXT = 4000
MAX_PROMPT = 300


def satisfaction_total(values: dict[str, int | None]) -> int | None:
    """The total score 0-20: the sum of the four items, or None if any is missing."""
    items = [values.get(key) for key in SATISFACTION_KEYS]
    if any(v is None for v in items):
        return None
    return sum(int(v) for v in items)  # type: ignore[arg-type]


def custom_key(question_id: int) -> str:
    return f"custom:{question_id}"


def safety_is_concerning(values: dict[str, int | None]) -> bool:
    """True when the person's own safety answers call for the support panel: not feeling
    safe (always), or something frightening or pressured happened (or may have)."""
    return values.get(SAFETY_QUESTION.key) in (1, 2) or values.get(SAFETY_HAPPENED.key) in (1, 2)
