"""The talk after a check-in: one shared conversation per revealed round.

Both partners' sessions (one screen or each on their own device) read and move the same
row: the agenda position, each one's notes per item, the action items with an owner and
a day. While a cooldown runs the talk is paused: nobody moves on, and when it ends both
come back to the item they were on. Finishing the talk marks the round reviewed (the
review service) and plans the action items' reminders through the outbox. The talk's time
is agreed in Tend (one proposes, the other accepts) and lands in both calendars (.ics).

Every function takes the acting user's id and resolves the couple from it; a round of
another couple is "not found". The agenda is built from revealed answers only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from checkins import agenda, agreements_port, survey
from checkins import review as checkin_review
from checkins.history import _topic_views
from checkins.models import ActionItem, Round
from checkins.rounds import _round_of_user
from checkins.talk_models import SoloNotice, Talk, TalkNote
from checkins.views import _text_problem
from couples import service as couples
from couples.models import User
from infra.composition import load_registrations
from infra.db import utcnow
from infra.errors import InvalidInput, NotAllowed
from notifications.models import OutboxMessage
from notifications.preferences import context_id, plan_reminder

MAX_NOTE = 2000
TALK_PAGE = "/talk"
TALK_LENGTH = dt.timedelta(hours=1)
ACTION_REMINDER_HOUR = 9  # the morning of the day an action item is due, in the owner's zone
PAUSED = "The talk is paused while the cooldown runs. You will both come back to this item."

# --- the hook for root causes (the reconciliation charter feeds it) --------------------------
RootCauseSource = Callable[[Session, int, int], list[agenda.RootCauseFact]]
_ROOT_CAUSE_SOURCES: list[RootCauseSource] = []


def register_root_cause_source(source: RootCauseSource) -> None:
    """``source(session, couple_id, round_id)`` names the couple's root causes, each with
    whether this round brought it back (its topic raised, its change rated not kept).
    Those that came back open the "What came back" part of the agenda."""
    if source not in _ROOT_CAUSE_SOURCES:
        _ROOT_CAUSE_SOURCES.append(source)


def root_causes(session: Session, couple_id: int, round_id: int) -> list[agenda.RootCauseFact]:
    load_registrations()  # the sources register from above (the charter), in any process
    return [fact for source in _ROOT_CAUSE_SOURCES for fact in source(session, couple_id, round_id)]


# --- views ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ActionView:
    item_id: int
    text: str
    owner: str  # a name, or "Both of you"
    due_on: dt.date | None
    done: bool


@dataclass(frozen=True)
class TalkView:
    round_id: int
    talk_id: int | None  # None until someone starts it
    position: int
    items: list[agenda.AgendaItem]
    names: dict[int, str]  # user id -> "You" / the partner's name as I may see it
    my_notes: dict[str, str]  # item key -> my note
    partner_notes: dict[str, str]  # item key -> the partner's note (the talk is shared)
    actions: list[ActionView]
    finished_at: dt.datetime | None
    paused_by_cooldown: bool
    proposed_for: dt.datetime | None
    proposed_by_me: bool
    agreed: bool
    partner_id: int

    @property
    def current(self) -> agenda.AgendaItem:
        return self.items[min(self.position, len(self.items) - 1)]

    @property
    def at_end(self) -> bool:
        return self.position >= len(self.items) - 1


def _revealed(session: Session, user_id: int, round_id: int) -> Round:
    round_ = _round_of_user(session, user_id, round_id)
    if round_.revealed_at is None:
        raise NotAllowed("The talk opens once you have both answered this check-in.")
    return round_


def _talk_of(session: Session, round_id: int) -> Talk | None:
    return session.scalar(select(Talk).where(Talk.round_id == round_id))


def _facts(session: Session, user_id: int, round_: Round, talk: Talk | None) -> agenda.RoundFacts:
    """The agenda's facts from the review (the reveal rule: my own sheet and only the
    revealed answers of my partner's), the topic log and the earlier action items."""
    review = checkin_review.review(session, user_id, round_.id)
    partner_id = next(p.user_id for p in round_.participations if p.user_id != user_id)
    partners = tuple(sorted((user_id, partner_id)))
    sheets = {user_id: review.mine, partner_id: review.theirs}
    scales = [
        agenda.ScaleFact(q.key, q.prompt, {uid: s.values.get(q.key) for uid, s in sheets.items()})
        for q in (*survey.SATISFACTION, survey.CERTAINTY)
    ] + [
        agenda.ScaleFact(
            survey.custom_key(q.id),
            q.prompt,
            {uid: s.values.get(survey.custom_key(q.id)) for uid, s in sheets.items()},
        )
        for q in review.custom_questions
        if q.kind == survey.SCALE
    ]
    kept = []
    for aid, title in review.agreement_titles.items():
        for about, other in ((user_id, partner_id), (partner_id, user_id)):
            own = sheets[about].adherence.get(aid)
            seen = sheets[other].adherence.get(aid)
            kept.append(
                agenda.KeptFact(
                    aid,
                    title,
                    about,
                    own.kept_self if own else None,
                    seen.kept_partner if seen else None,
                )
            )
    views = {v.id: v for v in _topic_views(session, round_.couple_id)}
    raised: dict[int, dict[int, str]] = {}
    for uid, sheet in sheets.items():
        for c in sheet.concerns:
            if c.topic_id is not None:
                raised.setdefault(c.topic_id, {})[uid] = checkin_review._concern_text(c)
    topics = [
        agenda.TopicFact(tid, views[tid].title, by, views[tid].keeps_coming_back)
        for tid, by in raised.items()
        if tid in views
    ]
    solo_raised = session.scalar(
        select(SoloNotice.id)
        .where(
            SoloNotice.couple_id == round_.couple_id,
            SoloNotice.raise_requested_at.is_not(None),
            SoloNotice.raised_in_talk_id.is_(None)
            | (SoloNotice.raised_in_talk_id == (talk.id if talk else -1)),
        )
        .limit(1)
    )
    return agenda.RoundFacts(
        partners=partners,  # type: ignore[arg-type]
        appreciations={uid: s.texts.get("went_well", "") for uid, s in sheets.items()},
        scales=scales,
        kept=kept,
        topics=topics,
        root_causes=root_causes(session, round_.couple_id, round_.id),
        previous_actions=[
            agenda.ActionFact(a.id, a.text, a.owner_user_id, a.due_on, a.done_at is not None)
            for a in _previous_actions(session, round_)
        ],
        solo_raised=bool(solo_raised),
    )


def _previous_actions(session: Session, round_: Round) -> list[ActionItem]:
    """Last time's action items: those agreed in the revealed round before this one, and
    any older ones still open."""
    previous = session.scalar(
        select(Round.id)
        .where(
            Round.couple_id == round_.couple_id,
            Round.revealed_at.is_not(None),
            Round.opened_at < round_.opened_at,
        )
        .order_by(Round.opened_at.desc())
        .limit(1)
    )
    return list(
        session.scalars(
            select(ActionItem)
            .join(Round, Round.id == ActionItem.round_id)
            .where(
                ActionItem.couple_id == round_.couple_id,
                Round.opened_at < round_.opened_at,
                (ActionItem.round_id == previous) | ActionItem.done_at.is_(None),
            )
            .order_by(ActionItem.created_at, ActionItem.id)
        )
    )


def talk_view(
    session: Session, user_id: int, round_id: int, *, now: dt.datetime | None = None
) -> TalkView:
    """Everything the talk page draws, for either partner (writes nothing)."""
    round_ = _revealed(session, user_id, round_id)
    couple = couples.require_membership(session, user_id).couple
    talk = _talk_of(session, round_.id)
    items = agenda.build(_facts(session, user_id, round_, talk))
    names = couples.shown_names(couple, user_id)
    names[user_id] = "You"
    partner_id = next(p.user_id for p in round_.participations if p.user_id != user_id)
    mine: dict[str, str] = {}
    theirs: dict[str, str] = {}
    if talk is not None:
        for note in session.scalars(select(TalkNote).where(TalkNote.talk_id == talk.id)):
            (mine if note.author_id == user_id else theirs)[note.item_key] = note.text
    actions = [
        ActionView(
            a.id,
            a.text,
            names.get(a.owner_user_id, "Both of you") if a.owner_user_id else "Both of you",
            a.due_on,
            a.done_at is not None,
        )
        for a in session.scalars(
            select(ActionItem).where(ActionItem.round_id == round_.id).order_by(ActionItem.id)
        )
    ]
    cooldown = agreements_port.current_cooldown(session, user_id, now)
    return TalkView(
        round_id=round_.id,
        talk_id=talk.id if talk else None,
        position=min(talk.position, len(items) - 1) if talk else 0,
        items=items,
        names=names,
        my_notes=mine,
        partner_notes=theirs,
        actions=actions,
        finished_at=talk.finished_at if talk else None,
        paused_by_cooldown=cooldown is not None and (talk is None or talk.finished_at is None),
        proposed_for=talk.proposed_for if talk else None,
        proposed_by_me=bool(talk and talk.proposed_by_id == user_id),
        agreed=bool(talk and talk.agreed_at),
        partner_id=partner_id,
    )


def talk_round_id(session: Session, user_id: int) -> int | None:
    """The round whose talk is next: the latest revealed round of my couple."""
    couple = couples.couple_of(session, user_id)
    if couple is None:
        return None
    return session.scalar(
        select(Round.id)
        .where(Round.couple_id == couple.id, Round.revealed_at.is_not(None))
        .order_by(Round.opened_at.desc(), Round.id.desc())
        .limit(1)
    )


# --- acting on the talk ---------------------------------------------------------------------
def _open_talk(session: Session, user_id: int, round_id: int, now: dt.datetime) -> Talk:
    """The round's talk, created by whoever acts first, and locked for this change (two
    sessions moving at once queue on the row)."""
    couples.require_active_couple(session, user_id)
    round_ = _revealed(session, user_id, round_id)
    talk = _talk_of(session, round_.id)
    if talk is None:
        try:
            with session.begin_nested():
                talk = Talk(
                    round_id=round_.id,
                    couple_id=round_.couple_id,
                    position=0,
                    started_at=now,
                    updated_at=now,
                )
                session.add(talk)
        except IntegrityError:  # the partner started it at the same moment
            talk = _talk_of(session, round_.id)
    assert talk is not None
    session.execute(select(Talk.id).where(Talk.id == talk.id).with_for_update())
    session.refresh(talk)
    return talk


def _agenda(session: Session, user_id: int, talk: Talk) -> list[agenda.AgendaItem]:
    return agenda.build(_facts(session, user_id, _revealed(session, user_id, talk.round_id), talk))


def _not_paused(session: Session, user_id: int, now: dt.datetime) -> None:
    if agreements_port.current_cooldown(session, user_id, now) is not None:
        raise NotAllowed(PAUSED)


def move(
    session: Session,
    user_id: int,
    round_id: int,
    *,
    seen_position: int,
    step: int,
    now: dt.datetime | None = None,
) -> int:
    """Go to the next (step 1) or previous (step -1) item from the one the person saw.
    If the partner moved meanwhile, nothing changes (both pressing "Next" at once move
    once). Refused while a cooldown runs and once the talk is finished. Returns the
    position now shared by both."""
    now = now or utcnow()
    talk = _open_talk(session, user_id, round_id, now)
    if talk.finished_at is not None:
        raise NotAllowed("This talk is finished.")
    _not_paused(session, user_id, now)
    count = len(_agenda(session, user_id, talk))
    if talk.position != seen_position:
        return talk.position
    talk.position = max(0, min(count - 1, talk.position + step))
    talk.updated_at = now
    return talk.position


def save_note(
    session: Session,
    user_id: int,
    round_id: int,
    item_key: str,
    text: str,
    *,
    now: dt.datetime | None = None,
) -> None:
    """My note on one item (empty removes it). Kept while a cooldown runs: writing
    something down is what a pause is for."""
    now = now or utcnow()
    text = (text or "").strip()
    problem = _text_problem(text, MAX_NOTE)
    if problem:
        raise InvalidInput({"note": problem})
    talk = _open_talk(session, user_id, round_id, now)
    if talk.finished_at is not None:
        raise NotAllowed("This talk is finished; its notes are kept as they were.")
    if item_key not in {i.key for i in _agenda(session, user_id, talk)}:
        raise InvalidInput({"note": "That item is not on this talk's agenda."})
    note = session.scalar(
        select(TalkNote).where(
            TalkNote.talk_id == talk.id,
            TalkNote.item_key == item_key,
            TalkNote.author_id == user_id,
        )
    )
    if not text:
        if note is not None:
            session.delete(note)
        return
    if note is None:
        session.add(
            TalkNote(
                talk_id=talk.id, item_key=item_key, author_id=user_id, text=text, updated_at=now
            )
        )
    else:
        note.text, note.updated_at = text, now


def _local_today(user: User, now: dt.datetime) -> dt.date:
    return now.astimezone(ZoneInfo(user.timezone or "UTC")).date()


def add_action(
    session: Session,
    user_id: int,
    round_id: int,
    text: str,
    owner_user_id: int | None,
    due_on: dt.date | None,
    *,
    now: dt.datetime | None = None,
) -> ActionItem:
    """An action item agreed in the talk, with an owner (or both) and a day."""
    now = now or utcnow()
    user = couples.require_membership(session, user_id).user
    if due_on is not None and due_on < _local_today(user, now):
        raise InvalidInput({"due_on": "Pick today or a day to come."})
    talk = _open_talk(session, user_id, round_id, now)
    if talk.finished_at is not None:
        raise NotAllowed("This talk is finished. Add it to the next one.")
    item = checkin_review.add_action_item(session, user_id, round_id, text, owner_user_id, now=now)
    item.due_on = due_on
    return item


def finish(
    session: Session, user_id: int, round_id: int, *, now: dt.datetime | None = None
) -> Talk:
    """End the talk: the round is marked reviewed, the action items' reminders are
    planned, a raised "answering alone" is settled. Finishing twice is one finish."""
    now = now or utcnow()
    talk = _open_talk(session, user_id, round_id, now)
    if talk.finished_at is not None:
        return talk
    _not_paused(session, user_id, now)
    talk.finished_at = now
    talk.finished_by_id = user_id
    talk.updated_at = now
    # The talk is held by both: it confirms "reviewed together" for the two of them.
    checkin_review.mark_reviewed(session, user_id, round_id, now=now, by_both=True)
    for notice in session.scalars(
        select(SoloNotice).where(
            SoloNotice.couple_id == talk.couple_id,
            SoloNotice.raise_requested_at.is_not(None),
            SoloNotice.raised_in_talk_id.is_(None),
        )
    ):
        notice.raised_in_talk_id = talk.id
    plan_action_reminders(session, talk.round_id, now=now)
    return talk


def action_reminder_at(due_on: dt.date, timezone: str) -> dt.datetime:
    """The morning of ``due_on`` in the person's zone, as an aware UTC moment (whatever
    the offset that day: DST changes are the zone's business)."""
    local = dt.datetime.combine(due_on, dt.time(ACTION_REMINDER_HOUR), tzinfo=ZoneInfo(timezone))
    return local.astimezone(dt.UTC)


def plan_action_reminders(session: Session, round_id: int, *, now: dt.datetime) -> int:
    """One reminder per action item with a day, to its owner (or to both), on the
    morning of that day in their own zone. Names and dates only, never the item's text."""
    round_ = session.get(Round, round_id)
    assert round_ is not None
    people = {p.user_id for p in round_.participations}
    written = 0
    for item in session.scalars(
        select(ActionItem).where(
            ActionItem.round_id == round_id,
            ActionItem.due_on.is_not(None),
            ActionItem.done_at.is_(None),
        )
    ):
        assert item.due_on is not None
        for uid in sorted({item.owner_user_id} if item.owner_user_id else people):
            user = session.get(User, uid)
            if user is None:
                continue
            message = plan_reminder(
                session,
                user,
                kind="action_item_due",
                dedupe_key=f"talk:action:{item.id}:{uid}",
                due_utc=action_reminder_at(item.due_on, user.timezone or "UTC"),
                context={
                    "name": user.display_name,
                    "due": f"{item.due_on:%A %d %B}",
                    "item_id": item.id,
                },
                now=now,
                sign_in_target=TALK_PAGE,
            )
            written += message is not None
    return written


def action_reminder_still_due(
    session: Session, message: OutboxMessage, _now: dt.datetime
) -> str | None:
    """An action item's reminder is planned at the talk for the morning of its day: not
    sent if the item was done (or removed) by then."""
    item_id = context_id(message, "item_id")
    if item_id is None:
        return None
    item = session.get(ActionItem, item_id)
    if item is None:
        return "the action item is gone"
    if item.done_at is not None:
        return "the action item is done"
    return None


def talk_time_still_due(session: Session, message: OutboxMessage, _now: dt.datetime) -> str | None:
    """The agreed time of the talk, with its calendar entry, when it waited for the
    morning: not sent if the time was changed meanwhile (the entry would be wrong)."""
    talk_id = context_id(message, "talk_id")
    if talk_id is None:
        return None
    talk = session.get(Talk, talk_id)
    if talk is None or talk.finished_at is not None:
        return "the talk is over"
    agreed_for = talk.proposed_for.isoformat() if talk.proposed_for else None
    if talk.agreed_at is None or agreed_for != message.context.get("talk_at"):
        return "the talk's time has changed"
    return None


# --- when to hold it --------------------------------------------------------------------------
SUGGESTED_TALK_TIME = dt.time(19, 0)
# A suggestion closer than this is too soon to agree on: the next day's is offered.
SUGGESTION_LEAD = dt.timedelta(hours=1)


def suggested_time(timezone: str, now: dt.datetime | None = None) -> dt.datetime:
    """The time the "When to talk" form offers first: 19:00 in the person's own time zone,
    today's if it is at least an hour away, else tomorrow's. In their zone, not the
    server's: the server's date is yesterday or tomorrow for half the world."""
    now = now or utcnow()
    zone = ZoneInfo(timezone or "UTC")
    day = now.astimezone(zone).date()
    at = dt.datetime.combine(day, SUGGESTED_TALK_TIME, tzinfo=zone)
    # Compared in UTC: aware datetimes in one zone subtract by the wall clock.
    if at.astimezone(dt.UTC) - now.astimezone(dt.UTC) < SUGGESTION_LEAD:
        at = dt.datetime.combine(day + dt.timedelta(days=1), SUGGESTED_TALK_TIME, tzinfo=zone)
    return at


def propose_time(
    session: Session,
    user_id: int,
    round_id: int,
    when: dt.datetime,
    *,
    now: dt.datetime | None = None,
) -> Talk:
    """Propose a time for the talk (a new proposal replaces the last one)."""
    now = now or utcnow()
    if when.tzinfo is None:
        raise InvalidInput({"when": "Pick a day and a time."})
    if when <= now:
        raise InvalidInput({"when": "Pick a time that is still to come."})
    talk = _open_talk(session, user_id, round_id, now)
    if talk.finished_at is not None:
        raise NotAllowed("This talk is finished.")
    talk.proposed_for = when.astimezone(dt.UTC)
    talk.proposed_by_id = user_id
    talk.agreed_at = None
    talk.updated_at = now
    return talk


def accept_time(
    session: Session, user_id: int, round_id: int, *, now: dt.datetime | None = None
) -> Talk:
    """The partner accepts the proposed time: both get it in their calendar (.ics)."""
    now = now or utcnow()
    talk = _open_talk(session, user_id, round_id, now)
    if talk.proposed_for is None:
        raise NotAllowed("No time has been proposed yet.")
    if talk.proposed_by_id == user_id:
        raise NotAllowed("Your partner accepts the time you proposed.")
    if talk.agreed_at is None:
        talk.agreed_at = now
        couple = couples.require_membership(session, user_id).couple
        for m in couple.members:
            if m.left_at is not None:
                continue
            user = m.user
            local = talk.proposed_for.astimezone(ZoneInfo(user.timezone or "UTC"))
            plan_reminder(
                session,
                user,
                kind="talk_scheduled",
                dedupe_key=f"talk:{talk.id}:time:{talk.proposed_for.isoformat()}:{user.id}",
                due_utc=now,
                context={
                    "name": user.display_name,
                    "couple": couple.name,
                    "talk_id": talk.id,
                    "when": f"{local:%A %d %B, %H:%M}",
                    "talk_at": talk.proposed_for.isoformat(),
                },
                now=now,
                sign_in_target=TALK_PAGE,
            )
    return talk
