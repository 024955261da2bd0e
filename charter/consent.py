"""The charter's words as an agreement of kind ``charter``: the one to three root causes
the couple names together, what each partner will do and how both will notice, and the
day to review it. CONSENT is the agreements' (``agreements.proposals``): a version is
proposed, answered with changes, accepted or declined, and in force only once the
partner said yes. This module only shapes the words, checks them, and makes each root
cause a topic Tend tracks (``checkins`` topics) when a version comes into force.

Each partner writes only their own commitments; a change keeps the partner's as they
were. Saying yes to a charter needs a commitment of one's own in it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload

from agreements import in_force, proposals, reading, templates
from agreements.models import ACTIVE, PROPOSED, Agreement
from agreements.views import VersionView
from charter import reflections, review, words
from charter.models import Charter, CharterTopicLink
from charter.reflections import charter_row
from checkins import history as checkin_history
from couples import service as couples
from infra.db import utcnow
from infra.errors import InvalidInput, NotAllowed

# --- the words -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CauseInput:
    """One root cause as the charter form sends it, with my own commitment to it."""

    choice: str  # a key of words.CAUSES, or words.OWN
    own_title: str = ""
    what: str = ""  # what I will do
    notice: str = ""  # how we will both notice


@dataclass(frozen=True)
class Commitment:
    user_id: int
    who: str
    mine: bool
    what: str
    notice: str


@dataclass(frozen=True)
class RootCause:
    key: str
    title: str
    commitments: tuple[Commitment, ...]
    topic_id: int | None  # the topic Tend tracks for it (once a version was in force)


@dataclass(frozen=True)
class CharterWords:
    version_id: int
    number: int
    root_causes: tuple[RootCause, ...]
    review_on: dt.date | None
    proposed_by: str
    proposed_by_me: bool
    proposed_at: dt.datetime
    in_force_from: dt.datetime | None

    def has_commitment_of(self, user_id: int) -> bool:
        return any(c.user_id == user_id for r in self.root_causes for c in r.commitments)


@dataclass(frozen=True)
class CharterView:
    agreement_id: int | None
    in_force: CharterWords | None
    pending: CharterWords | None
    awaiting_me: bool
    awaiting_partner: bool
    review_due: bool  # the review day of the charter in force has come

    @property
    def latest(self) -> CharterWords | None:
        return self.pending or self.in_force


def _text_problem(text: str, limit: int, missing: str) -> str | None:
    if "\x00" in text:
        return words.NUL_PROBLEM
    if not text:
        return missing
    if len(text) > limit:
        return f"Keep it under {limit} characters."
    return None


def _clean_params(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The registered kind's check of a charter's structured words."""
    problems: dict[str, str] = {}
    causes = params.get("root_causes")
    if not isinstance(causes, list) or not 1 <= len(causes) <= words.MAX_CAUSES:
        return params, {"root_causes": "Name one to three root causes you will work on."}
    clean_causes, seen = [], set()
    for i, cause in enumerate(causes):
        if not isinstance(cause, dict):
            problems[f"cause{i}"] = "This root cause cannot be stored."
            continue
        key, title = str(cause.get("key", "")), " ".join(str(cause.get("title", "")).split())
        problem = _text_problem(title, words.MAX_TITLE, "Give this root cause a short name.")
        if problem:
            problems[f"cause{i}"] = problem
        if key in seen or not key or len(key) > 100:
            problems[f"cause{i}"] = "Name each root cause once."
        seen.add(key)
        commitments, people = [], set()
        for c in cause.get("commitments") or []:
            what, notice = str(c.get("what", "")).strip(), str(c.get("notice", "")).strip()
            for field, text, missing in (
                ("what", what, "Say what you will do."),
                ("notice", notice, "Say how you will both notice."),
            ):
                problem = _text_problem(text, words.MAX_COMMITMENT, missing)
                if problem:
                    problems[f"cause{i}.{field}"] = problem
            user = c.get("user_id")
            if not isinstance(user, int) or user in people:
                problems[f"cause{i}"] = "Each of you commits once to each root cause."
            people.add(user)
            commitments.append({"user_id": user, "what": what, "notice": notice})
        clean_causes.append({"key": key, "title": title, "commitments": commitments})
    try:
        review_on = dt.date.fromisoformat(str(params.get("review_on", "")))
    except ValueError:
        problems["review_on"] = "Pick a day to review the charter together."
        review_on = None
    clean = {"root_causes": clean_causes, "review_on": review_on.isoformat() if review_on else ""}
    return clean, problems


def _describe(params: dict[str, Any]) -> list[str]:
    lines = []
    for cause in params.get("root_causes") or []:
        lines.append(f"Root cause: {cause.get('title', '')}")
        for c in cause.get("commitments") or []:
            lines.append(f"Will do: {c.get('what', '')} (we will notice: {c.get('notice', '')})")
    if params.get("review_on"):
        lines.append(f"Review together on: {params['review_on']}")
    return lines


def _accept_problem(params: dict[str, Any], user_id: int) -> str | None:
    for cause in params.get("root_causes") or []:
        if any(c.get("user_id") == user_id for c in cause.get("commitments") or []):
            return None
    return (
        "Add what you will do first: answer with your own changes, and your partner "
        "says yes to the charter with both of you in it."
    )


templates.register_kind(
    templates.AgreementKind(
        key=words.KIND,
        title=words.TITLE,
        page="charter",
        clean_params=_clean_params,
        describe=_describe,
        accept_problem=_accept_problem,
    )
)


# --- reading -------------------------------------------------------------------------------


def _agreement(session: Session, couple_id: int) -> Agreement | None:
    row = session.get(Charter, couple_id)  # read only: the row is made when writing
    if row is None or row.agreement_id is None:
        return None
    # Without its versions (Agreement.versions loads by selectin): callers read the
    # agreement's id and status; its versions load if touched.
    return session.get(Agreement, row.agreement_id, options=[lazyload(Agreement.versions)])


def _links(session: Session, couple_id: int) -> dict[str, int]:
    return dict(
        session.execute(
            select(CharterTopicLink.cause_key, CharterTopicLink.topic_id).where(
                CharterTopicLink.couple_id == couple_id
            )
        ).all()
    )


def _root_causes(
    params: dict[str, Any], links: dict[str, int], names: dict[int, str], me: int | None
) -> tuple[RootCause, ...]:
    return tuple(
        RootCause(
            key=cause["key"],
            title=cause["title"],
            commitments=tuple(
                Commitment(
                    c["user_id"],
                    names.get(c["user_id"], couples.FORMER_PARTNER),
                    c["user_id"] == me,
                    c["what"],
                    c["notice"],
                )
                for c in cause.get("commitments") or []
            ),
            topic_id=links.get(cause["key"]),
        )
        for cause in params.get("root_causes") or []
    )


def _review_on(params: dict[str, Any]) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(params.get("review_on", "")))
    except ValueError:
        return None


def _words(
    version: VersionView, links: dict[str, int], names: dict[int, str], me: int
) -> CharterWords:
    return CharterWords(
        version_id=version.version_id,
        number=version.number,
        root_causes=_root_causes(version.params, links, names, me),
        review_on=_review_on(version.params),
        proposed_by=version.proposed_by,
        proposed_by_me=version.proposed_by_me,
        proposed_at=version.proposed_at,
        in_force_from=version.in_force_from,
    )


def charter_view(session: Session, user_id: int, *, now: dt.datetime | None = None) -> CharterView:
    """My couple's charter: the words in force, a version waiting for an answer."""
    now = now or utcnow()
    membership = couples.require_membership(session, user_id)
    couple = membership.couple
    agreement = _agreement(session, couple.id)
    if agreement is None or agreement.status not in (PROPOSED, ACTIVE):
        return CharterView(agreement.id if agreement else None, None, None, False, False, False)
    view = reading.get_agreement(session, user_id, agreement.id)
    links = _links(session, couple.id)
    names = checkin_history.shown_names(session, user_id)
    current = _words(view.in_force, links, names, user_id) if view.in_force else None
    return CharterView(
        agreement_id=agreement.id,
        in_force=current,
        pending=_words(view.pending, links, names, user_id) if view.pending else None,
        awaiting_me=view.awaiting_me,
        awaiting_partner=view.awaiting_partner,
        # In my own zone; a space my partner has left reviews nothing together.
        review_due=current is not None
        and couple.ended_at is None
        and review.review_due(current.review_on, membership.user.timezone, now=now),
    )


def root_causes(
    session: Session, couple_id: int, *, at: dt.datetime | None = None
) -> list[RootCause]:
    """The root causes of the charter in force (couple already resolved: for the talk's
    agenda and the warnings), each with the topic Tend tracks for it. Empty without one."""
    found = charter_in_force(session, couple_id, at=at)
    return found[1] if found else []


def charter_in_force(
    session: Session, couple_id: int, *, at: dt.datetime | None = None
) -> tuple[int, list[RootCause]] | None:
    """The agreement holding the charter in force at ``at`` and its root causes; None
    without one."""
    at = at or utcnow()
    charter = next(
        (a for a in in_force.agreements_in_force(session, couple_id, at) if a.kind == words.KIND),
        None,
    )
    if charter is None:
        return None
    causes = list(_root_causes(charter.params, _links(session, couple_id), {}, None))
    return charter.agreement_id, causes


# --- proposing and answering (the agreements' consent) ----------------------------------


def _body(causes: list[dict[str, Any]], review_on: dt.date) -> str:
    named = ", ".join(f"“{c['title']}”" for c in causes)
    return (
        f"What ended it last time, and what we will each change: {named}. "
        f"We review this charter together on {review_on:%d %B %Y}."
    )


def propose_charter(
    session: Session,
    user_id: int,
    causes: list[CauseInput],
    review_on: dt.date | None,
    *,
    now: dt.datetime | None = None,
) -> CharterView:
    """Propose the charter, or a change to it, or answer my partner's with changes: the
    root causes and my own commitments; my partner's commitments stay as they were."""
    now = now or utcnow()
    couple = couples.require_active_couple(session, user_id)
    user = couples.require_membership(session, user_id).user
    today = now.astimezone(ZoneInfo(user.timezone or "UTC")).date()
    problems: dict[str, str] = {}
    chosen = [c for c in causes if c.choice]
    if not chosen:
        problems["root_causes"] = "Name at least one root cause you will work on together."
    elif len(chosen) > words.MAX_CAUSES:
        problems["root_causes"] = f"Name at most {words.MAX_CAUSES}: fewer, worked on, is more."
    if review_on is None or review_on <= today:
        problems["review_on"] = "Pick a day after today to review the charter together."
    row = charter_row(session, couple.id, lock=True)
    agreement = session.get(Agreement, row.agreement_id) if row.agreement_id else None
    if agreement is not None and agreement.status not in (PROPOSED, ACTIVE):
        agreement = None  # declined, withdrawn or retired: a new charter starts over
    basis: dict[str, Any] = {}
    if agreement is not None:
        latest = proposals._pending(agreement) or proposals._in_force(agreement)
        basis = dict(latest.params or {}) if latest else {}
    theirs = {
        cause["key"]: [c for c in cause.get("commitments") or [] if c.get("user_id") != user_id]
        for cause in basis.get("root_causes") or []
    }
    built, mine = [], 0
    for i, c in enumerate(chosen[: words.MAX_CAUSES]):
        if c.choice != words.OWN and c.choice not in words.CAUSES:
            problems[f"cause{i}"] = "Choose from the list, or name it in your own words."
            continue
        if c.choice == words.OWN and not c.own_title.strip():
            problems[f"cause{i}"] = "Name this root cause in a few words."
            continue
        key = words.cause_key(c.choice, c.own_title)
        what, notice = c.what.strip(), c.notice.strip()
        commitments = list(theirs.get(key, []))
        if what or notice:
            commitments.append({"user_id": user_id, "what": what, "notice": notice})
            mine += 1
        built.append(
            {
                "key": key,
                "title": words.cause_title(key, c.own_title),
                "commitments": commitments,
            }
        )
    if chosen and not mine and not any(k.startswith("cause") for k in problems):
        problems["cause0.what"] = "Say what you will do for at least one of them."
    if problems:
        raise InvalidInput(problems)
    assert review_on is not None
    params = {"root_causes": built, "review_on": review_on.isoformat()}
    _, param_problems = _clean_params(params)
    if param_problems:
        raise InvalidInput(param_problems)
    if agreement is None:
        created = proposals.propose_agreement(
            session,
            user_id,
            kind=words.KIND,
            title=words.TITLE,
            body=_body(built, review_on),
            params=params,
            now=now,
        )
        row.agreement_id = created.id
    else:
        proposals.propose_change(
            session,
            user_id,
            agreement.id,
            title=words.TITLE,
            body=_body(built, review_on),
            params=params,
            now=now,
        )
    session.flush()
    return charter_view(session, user_id, now=now)


def _charter_agreement_for(session: Session, user_id: int) -> Agreement:
    couple = couples.require_active_couple(session, user_id)
    agreement = _agreement(session, couple.id)
    if agreement is None:
        raise NotAllowed("There is no charter yet. Propose one first.")
    return agreement


def agree(session: Session, user_id: int, *, now: dt.datetime | None = None) -> CharterView:
    """Say yes to the charter my partner proposed: it is in force from now, and each of
    its root causes becomes a topic Tend tracks."""
    now = now or utcnow()
    agreement = _charter_agreement_for(session, user_id)
    proposals.accept(session, user_id, agreement.id, now=now)
    version = proposals._in_force(agreement)
    assert version is not None
    link_topics(session, user_id, dict(version.params or {}), now=now)
    return charter_view(session, user_id, now=now)


def decline(
    session: Session, user_id: int, *, reason: str | None = None, now: dt.datetime | None = None
) -> CharterView:
    agreement = _charter_agreement_for(session, user_id)
    proposals.decline(session, user_id, agreement.id, reason=reason, now=now)
    return charter_view(session, user_id, now=now)


def withdraw(session: Session, user_id: int, *, now: dt.datetime | None = None) -> CharterView:
    agreement = _charter_agreement_for(session, user_id)
    proposals.withdraw(session, user_id, agreement.id, now=now)
    return charter_view(session, user_id, now=now)


def link_topics(
    session: Session, user_id: int, params: dict[str, Any], *, now: dt.datetime | None = None
) -> dict[str, int]:
    """Each root cause of ``params`` becomes a topic (an existing topic of the same name
    is reused); returns cause key -> topic id for all of the couple's links."""
    now = now or utcnow()
    couple = couples.require_active_couple(session, user_id)
    links = _links(session, couple.id)
    existing = {t.title.casefold(): t.id for t in checkin_history.topics(session, user_id)}
    for cause in params.get("root_causes") or []:
        if cause["key"] in links:
            continue
        topic_id = existing.get(cause["title"].casefold())
        if topic_id is None:
            topic_id = checkin_history.add_topic(session, user_id, cause["title"], now=now).id
        session.add(
            CharterTopicLink(
                couple_id=couple.id, cause_key=cause["key"], topic_id=topic_id, created_at=now
            )
        )
        links[cause["key"]] = topic_id
    session.flush()
    return links


def next_step(session: Session, user_id: int) -> str | None:
    """What the charter needs from me now, in a sentence for the dashboard, or None."""
    status = reflections.status(session, user_id)
    if not status.mine_written:
        return "Write what you think ended it last time: the first part of your charter."
    view = charter_view(session, user_id)
    if view.awaiting_me:
        return f"{status.partner_name} proposed your charter: answer it."
    if view.latest is None and status.revealed:
        return "You have both written what ended it: name the root causes you will work on."
    if view.review_due and view.pending is None:
        return "The review day of your charter has come: read it together."
    return None
