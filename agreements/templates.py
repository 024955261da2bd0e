"""Agreement templates, in Tend's own words, with their parameters and defaults.

A template is only a starting point: the proposer can change every word, and what
both partners accept is what counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agreements.views import DEFAULT_COOLDOWN_EXTENSIONS, MAX_COOLDOWN_EXTENSIONS
from infra.composition import load_registrations

CUSTOM = "custom"
CADENCES = {"weekly": "every week", "biweekly": "every two weeks", "monthly": "every month"}
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
THERAPY_FREQUENCIES = {
    "weekly": "every week",
    "biweekly": "every two weeks",
    "monthly": "every month",
    "as_needed": "when we book it",
}
COOLDOWN_MIN, COOLDOWN_MAX = 1, 120


@dataclass(frozen=True)
class Template:
    key: str
    title: str
    body: str
    params: dict[str, Any] = field(default_factory=dict)
    # Shown beside the form, not stored in the agreement.
    note: str = ""
    summary: str = ""


TEMPLATES: dict[str, Template] = {
    t.key: t
    for t in [
        Template(
            key="regular_checkin",
            title="Regular check-in",
            summary="A set time to talk about how we are doing.",
            body=(
                "We each answer Tend's check-in on our own, then sit down together at the time "
                "below to talk it through. We come to it curious, not with a list of charges. "
                "If the time doesn't work, we move it rather than skip it."
            ),
            params={
                "cadence": "monthly",
                "weekday": 6,
                "day_of_month": 1,
                "local_time": "19:00",
                "timezone": "UTC",
            },
            note=(
                "Many couples start monthly and move to every two weeks when there is a lot "
                "going on. Tend's check-in schedule follows this agreement."
            ),
        ),
        Template(
            key="cooldown",
            title="Cooldown when an argument heats up",
            summary="A pause when one of us is flooded, and a promise to come back.",
            body=(
                "When either of us says 'I need a cooldown', we both stop, without a last word. "
                "During the pause we each do something that calms us (a walk, breathing, "
                "music), not rehearse our case. When the time is up we come back and carry on, "
                "gently."
            ),
            params={"minutes": 5, "during": "Take a walk, breathe, drink some water."},
            note=(
                "Five minutes is what many couples agree on. Research on 'flooding' by John "
                "Gottman found that the body usually needs about 20 minutes to calm down after "
                "the heart starts racing, so some couples choose longer. Pick what fits you; "
                "you can change it later, together."
            ),
        ),
        Template(
            key="therapy",
            title="Couples therapy",
            summary="Working with a therapist, and how often.",
            body=(
                "We go to couples therapy together and treat the sessions as ours, not as a "
                "place to win. We keep the appointments, and if one of us wants to stop we "
                "talk about it together first."
            ),
            params={"therapist": "", "frequency": "biweekly"},
            note="Log sessions and the next appointment on the Therapy page.",
        ),
        Template(
            key="speak_up",
            title="Say what bothers us while it is small",
            summary="No storing things up.",
            body=(
                "When something bothers one of us, we bring it up within a few days, calmly, "
                "instead of storing it up. The other listens first and answers second."
            ),
        ),
        Template(
            key="no_secrets",
            title="No secrets about contact with others",
            summary="Openness about exes and anyone who matters to the break-up.",
            body=(
                "We are open about contact with exes and with anyone who played a part in our "
                "break-up. If the other asks, we answer honestly; we don't hide messages or "
                "meetings."
            ),
        ),
        Template(
            key="ask_for_needs",
            title="Say what I need instead of hinting",
            summary="Asking plainly, and answering when asked.",
            body=(
                "We each say plainly what we need ('I need a hug', 'I need time alone "
                "tonight'), and when the other asks, we respond: with yes, or with an honest "
                "'not now, but ...'."
            ),
        ),
        Template(
            key="time_together",
            title="Regular time together",
            summary="Time for us, not for logistics.",
            body=(
                "We keep a regular time for just the two of us, without phones or household "
                "planning. We protect it like any other appointment."
            ),
            params={"how_often": "once a week"},
        ),
        Template(
            key="own_life",
            title="Each keeps their own friends and interests",
            summary="Room for each of us.",
            body=(
                "We each keep our own friends, hobbies and time. Wanting time apart is not a "
                "warning sign, and we don't need to justify it."
            ),
        ),
        Template(
            key="repair",
            title="Repair after a hard moment",
            summary="Coming back to it once things are calm.",
            body=(
                "After a fight or a hurtful moment, we come back to it within a day once we "
                "are calm: what happened for each of us, and what we would do differently."
            ),
        ),
    ]
}


@dataclass(frozen=True)
class AgreementKind:
    """A kind of agreement another package defines on top of the consent machinery (the
    reconciliation charter): it is proposed, countered, accepted and versioned like any
    agreement, but written and answered on its own page, not offered as a template.

    ``clean_params(params) -> (clean, problems)`` checks its structured words;
    ``describe(params) -> lines`` says them in plain language (what history diffs);
    ``accept_problem(params, user_id)`` says why this person cannot say yes to these
    words yet (None: they can)."""

    key: str
    title: str
    page: str  # the url path of the page that writes and answers it
    clean_params: Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, str]]]
    describe: Callable[[dict[str, Any]], list[str]]
    accept_problem: Callable[[dict[str, Any], int], str | None] | None = None


_KINDS: dict[str, AgreementKind] = {}


def register_kind(kind: AgreementKind) -> None:
    """Add (or replace, for reloads) a kind defined by another package; listed in
    tend/registry.py."""
    if kind.key in TEMPLATES or kind.key == CUSTOM:
        raise ValueError(f"{kind.key!r} is already a template")
    _KINDS[kind.key] = kind


def registered_kind(key: str) -> AgreementKind | None:
    """The kind another package registered under ``key``, or None (templates, custom)."""
    if key in TEMPLATES or key == CUSTOM:
        return None
    load_registrations()
    return _KINDS.get(key)


def known_kind(key: str) -> bool:
    return key == CUSTOM or key in TEMPLATES or registered_kind(key) is not None


def param_problems(kind: str, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Clean the parameters for ``kind``; return (clean params, problems by field)."""
    registered = registered_kind(kind)
    if registered is not None:
        return registered.clean_params(dict(params))
    problems: dict[str, str] = {}
    clean = dict(params)
    if kind == "regular_checkin":
        from zoneinfo import available_timezones

        cadence = clean.get("cadence", "monthly")
        if cadence not in CADENCES:
            problems["cadence"] = "Choose weekly, every two weeks or monthly."
        clean["cadence"] = cadence
        try:
            weekday = int(clean.get("weekday", 6))
            if not 0 <= weekday <= 6:
                raise ValueError
            clean["weekday"] = weekday
        except (TypeError, ValueError):
            problems["weekday"] = "Choose a day of the week."
        try:
            day = int(clean.get("day_of_month", 1))
            if not 1 <= day <= 28:
                raise ValueError
            clean["day_of_month"] = day
        except (TypeError, ValueError):
            problems["day_of_month"] = "Choose a day between 1 and 28, so it exists every month."
        local_time = str(clean.get("local_time", "19:00"))
        try:
            hours, minutes = (int(x) for x in local_time.split(":"))
            if not (0 <= hours < 24 and 0 <= minutes < 60):
                raise ValueError
            clean["local_time"] = f"{hours:02d}:{minutes:02d}"
        except ValueError:
            problems["local_time"] = "Give the time as HH:MM, e.g. 19:30."
        tz = str(clean.get("timezone", "UTC"))
        if tz not in available_timezones():
            problems["timezone"] = "Choose a time zone from the list."
        clean["timezone"] = tz
    elif kind == "cooldown":
        try:
            minutes = int(clean.get("minutes", 5))
            if not COOLDOWN_MIN <= minutes <= COOLDOWN_MAX:
                raise ValueError
            clean["minutes"] = minutes
        except (TypeError, ValueError):
            problems["minutes"] = (
                f"Choose between {COOLDOWN_MIN} and {COOLDOWN_MAX} minutes for a cooldown."
            )
        try:
            extensions = int(clean.get("extensions", DEFAULT_COOLDOWN_EXTENSIONS))
            if not 0 <= extensions <= MAX_COOLDOWN_EXTENSIONS:
                raise ValueError
            clean["extensions"] = extensions
        except (TypeError, ValueError):
            problems["extensions"] = (
                "Choose how often a cooldown may be extended: "
                f"0 to {MAX_COOLDOWN_EXTENSIONS} times."
            )
        during = str(clean.get("during", "")).strip()
        if len(during) > 500:
            problems["during"] = "Keep what you do meanwhile to 500 characters."
        clean["during"] = during
    elif kind == "therapy":
        clean["therapist"] = str(clean.get("therapist", "")).strip()[:200]
        frequency = clean.get("frequency", "biweekly")
        if frequency not in THERAPY_FREQUENCIES:
            problems["frequency"] = "Choose how often you go."
        clean["frequency"] = frequency
    else:
        # Other templates and custom agreements carry short free-text parameters only.
        for name, value in list(clean.items()):
            if not isinstance(value, str | int | float | bool):
                problems[name] = "This value cannot be stored."
            elif isinstance(value, str):
                clean[name] = value.strip()[:200]
    return clean, problems


def describe_params(kind: str, params: dict[str, Any]) -> list[str]:
    """Plain-language lines for an agreement's parameters (also what history diffs)."""
    registered = registered_kind(kind)
    if registered is not None:
        return registered.describe(params)
    if kind == "regular_checkin":
        cadence = params.get("cadence", "monthly")
        if cadence == "monthly":
            when = f"on day {params.get('day_of_month', 1)} of the month"
        else:
            when = f"on {WEEKDAYS[int(params.get('weekday', 6))]}"
        return [
            f"How often: {CADENCES.get(cadence, cadence)}",
            f"When: {when} at {params.get('local_time', '')} ({params.get('timezone', 'UTC')})",
        ]
    if kind == "cooldown":
        lines = [f"Cooldown length: {params.get('minutes', 5)} minutes"]
        extensions = int(params.get("extensions", DEFAULT_COOLDOWN_EXTENSIONS))
        lines.append(
            "May be extended: "
            + {0: "never", 1: "once"}.get(extensions, f"up to {extensions} times")
        )
        if params.get("during"):
            lines.append(f"Meanwhile: {params['during']}")
        return lines
    if kind == "therapy":
        lines = [f"How often: {THERAPY_FREQUENCIES.get(params.get('frequency', ''), '-')}"]
        if params.get("therapist"):
            lines.append(f"Therapist or practice: {params['therapist']}")
        return lines
    return [f"{name.replace('_', ' ').capitalize()}: {value}" for name, value in params.items()]
