"""The charter in Tend's own words: the short list of what ends relationships, the limits
on what is typed, and the private safety question.
"""

from __future__ import annotations

KIND = "charter"  # the agreement kind that holds the charter's words
TITLE = "Our reconciliation charter"

# What ended it last time, in Tend's words (each partner picks privately, adds their own).
CAUSES: dict[str, str] = {
    "talking": "We stopped talking about what mattered",
    "trust": "Trust was broken",
    "lies": "Lies",
    "contempt": "Put-downs or contempt",
    "jealousy": "Jealousy",
    "family": "Family",
    "money": "Money",
    "distance": "Distance",
    "future": "Different plans for the future",
    "repair": "We fought without repairing it",
}
OWN = "own"  # a root cause in the couple's own words; its key is "own:<words, lowercase>"

MAX_CAUSES = 3  # root causes a charter names
MAX_TITLE = 80  # a root cause's name (it becomes a topic's title)
MAX_WORDS = 4000  # a reflection in one's own words
MAX_COMMITMENT = 500  # "what I will do", "how we will both notice"
MAX_NOTE = 4000  # the private safety note
NUL_PROBLEM = "This contains a character that cannot be saved (a NUL character). Remove it."

# The charter's private safety question: only its author ever sees the answer.
SAFETY_QUESTION = (
    "Only you will ever see this: before you split up, or since, has your partner hurt, "
    "threatened or frightened you, or controlled what you do?"
)
SAFETY_OPTIONS: dict[int, str] = {1: "Yes", 2: "I am not sure", 3: "No"}
SAFETY_CONCERNING = (1, 2)


def cause_key(choice: str, own_title: str = "") -> str:
    """The stable key of a root cause: a list key, or ``own:`` and its words."""
    if choice == OWN:
        return f"{OWN}:{' '.join(own_title.split()).lower()}"
    return choice


def cause_title(key: str, own_title: str = "") -> str:
    return CAUSES.get(key) or " ".join(own_title.split())
