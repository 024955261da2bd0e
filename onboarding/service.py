"""The guided start: where someone is in it, their plan of agreements, what comes next.

Steps (in order): ``space`` (name the couple space and the date you got back together),
``agreements`` (choose and adjust agreements from the reconciliation plan), ``invite``
(invite the partner), ``charter`` (write what ended it last time, the first part of the
reconciliation charter; "Later" skips it and it can be taken up again), ``next`` (what
happens next). Each step's "done" is derived from
records that exist anyway, except the plan itself and "skipped"/"finished".

An agreement needs both partners' consent, so it cannot be proposed before the partner
has joined: the plan waits in :class:`OnboardingProgress` and is proposed, by the person
who made it, the moment the partner joins (a hook in ``couples.service``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from agreements import in_force, proposals, reading, templates
from agreements import views as agreement_views
from agreements.models import Agreement
from charter import consent as charter_consent
from charter import reflections
from checkins import recurrence
from couples import service as couples
from couples.models import Couple, Invitation
from infra.db import utcnow
from infra.errors import InvalidInput, NotAllowed
from onboarding.models import OnboardingProgress
from privacy import erase, export

STEPS = ("space", "agreements", "invite", "charter", "next")
STEP_TITLES = {
    "space": "Your couple space",
    "agreements": "Your plan",
    "invite": "Invite your partner",
    "charter": "What ended it last time",
    "next": "What happens next",
}
# Preselected in the plan: the three agreements most reconciliation advice starts with.
SUGGESTED = ("regular_checkin", "cooldown", "therapy")
PLAN_KINDS = tuple(templates.TEMPLATES)


@dataclass(frozen=True)
class PlanItem:
    kind: str
    title: str
    body: str
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, "body": self.body, "params": self.params}


@dataclass(frozen=True)
class OnboardingState:
    done: dict[str, bool]
    plan: list[PlanItem]
    plan_saved: bool
    plan_proposed: bool
    skipped: bool
    finished: bool
    # "Later" on the charter step (its reflection not written): it can be taken up again.
    charter_skipped: bool
    # Whether this person goes through the guided start at all: the one who creates the
    # couple space does; a partner who joined by invitation finds everything set up.
    applies: bool

    @property
    def current(self) -> str | None:
        return next((step for step in STEPS if not self.done[step]), None)

    @property
    def active(self) -> bool:
        """Not finished, not skipped: the dashboard points to it."""
        return self.applies and not self.skipped and not self.finished

    @property
    def resumable(self) -> bool:
        return self.applies and self.skipped and not self.finished

    @property
    def step_number(self) -> int:
        current = self.current
        return STEPS.index(current) + 1 if current else len(STEPS)


def _progress(session: Session, user_id: int) -> OnboardingProgress | None:
    return session.get(OnboardingProgress, user_id)


def _progress_for_update(session: Session, user_id: int) -> OnboardingProgress:
    row = _progress(session, user_id)
    if row is None:
        row = OnboardingProgress(user_id=user_id, plan=[])
        session.add(row)
        session.flush()
    return row


def state(session: Session, user_id: int, *, now: dt.datetime | None = None) -> OnboardingState:
    now = now or utcnow()
    row = _progress(session, user_id)
    membership = couples.membership_of(session, user_id)
    couple = membership.couple if membership else None
    has_agreements = (
        couple is not None
        and session.scalar(select(Agreement.id).where(Agreement.couple_id == couple.id).limit(1))
        is not None
    )
    partner = couples.partner_of(session, user_id) if couple else None
    open_invitation = (
        couple is not None
        and session.scalar(
            select(Invitation.id)
            .where(
                Invitation.couple_id == couple.id,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at > now,
            )
            .limit(1)
        )
        is not None
    )
    plan_saved = row is not None and row.plan_saved_at is not None
    finished = row is not None and row.finished_at is not None
    charter_skipped = row is not None and row.charter_skipped_at is not None
    reflected = couple is not None and reflections.my_reflection(session, user_id) is not None
    done = {
        "space": couple is not None,
        "agreements": plan_saved or has_agreements,
        "invite": partner is not None or open_invitation,
        "charter": reflected or charter_skipped,
        "next": finished,
    }
    applies = (membership is None or membership.seat == 1) and (
        couple is None or couple.ended_at is None
    )
    return OnboardingState(
        done=done,
        plan=[PlanItem(**item) for item in (row.plan if row else [])],
        plan_saved=plan_saved,
        plan_proposed=row is not None and row.plan_proposed_at is not None,
        skipped=row is not None and row.skipped_at is not None,
        finished=finished,
        charter_skipped=charter_skipped and not reflected,
        applies=applies,
    )


def template_item(kind: str, *, timezone: str = "UTC") -> PlanItem:
    """A plan item as the template words it; the check-in uses the person's time zone."""
    template = templates.TEMPLATES[kind]
    params = dict(template.params)
    if kind == "regular_checkin":
        params["timezone"] = timezone
    return PlanItem(kind, template.title, template.body, params)


def _clean(item: PlanItem) -> tuple[PlanItem, dict[str, str]]:
    problems: dict[str, str] = {}
    title, body = (item.title or "").strip(), (item.body or "").strip()
    if item.kind not in templates.TEMPLATES:
        problems[f"{item.kind}.kind"] = "Choose one of the agreements offered."
        return item, problems
    if not title:
        problems[f"{item.kind}.title"] = "Give the agreement a short title."
    elif len(title) > agreement_views.MAX_TITLE:
        problems[f"{item.kind}.title"] = (
            f"Keep the title to {agreement_views.MAX_TITLE} characters."
        )
    if not body:
        problems[f"{item.kind}.body"] = "Say what you each commit to."
    elif len(body) > agreement_views.MAX_BODY:
        problems[f"{item.kind}.body"] = f"Keep it to {agreement_views.MAX_BODY} characters."
    params, param_problems = templates.param_problems(item.kind, item.params)
    problems.update({f"{item.kind}.{name}": msg for name, msg in param_problems.items()})
    return PlanItem(item.kind, title, body, params), problems


def save_plan(
    session: Session, user_id: int, items: list[PlanItem], *, now: dt.datetime | None = None
) -> OnboardingState:
    """Keep the chosen agreements (an empty list: "we'll choose later"). If the partner is
    already there, they are proposed at once."""
    now = now or utcnow()
    couple = couples.require_active_couple(session, user_id)
    current = state(session, user_id, now=now)
    if current.plan_proposed:
        raise NotAllowed(
            "Your plan was already proposed to your partner. Change agreements on the "
            "Agreements page."
        )
    kinds = [item.kind for item in items]
    if len(set(kinds)) != len(kinds):
        raise InvalidInput({"plan": "Each agreement can be chosen once."})
    cleaned, problems = [], {}
    for item in items:
        clean, item_problems = _clean(item)
        cleaned.append(clean)
        problems.update(item_problems)
    if problems:
        raise InvalidInput(problems)
    row = _progress_for_update(session, user_id)
    row.plan = [item.as_dict() for item in cleaned]
    row.plan_saved_at = now
    session.flush()
    if couples.partner_of(session, user_id) is not None:
        propose_plan(session, couple, now=now)
    return state(session, user_id, now=now)


def propose_plan(session: Session, couple: Couple, *, now: dt.datetime | None = None) -> int:
    """Propose every planned agreement of this couple's planner to the partner, once.
    Returns how many were proposed."""
    now = now or utcnow()
    proposed = 0
    for member in couple.members:
        if member.left_at is not None:
            continue
        row = _progress(session, member.user_id)
        if row is None or row.plan_saved_at is None or row.plan_proposed_at is not None:
            continue
        row.plan_proposed_at = now
        for item in row.plan:
            proposals.propose_agreement(
                session,
                member.user_id,
                kind=item["kind"],
                title=item["title"],
                body=item["body"],
                params=item["params"],
                now=now,
            )
            proposed += 1
    return proposed


def _on_partner_joined(session: Session, couple: Couple, user_id: int, now: dt.datetime) -> None:
    propose_plan(session, couple, now=now)


couples.register_partner_joined_hook("onboarding", _on_partner_joined)


def skip(session: Session, user_id: int, *, now: dt.datetime | None = None) -> None:
    row = _progress_for_update(session, user_id)
    row.skipped_at = now or utcnow()


def resume(session: Session, user_id: int) -> None:
    row = _progress_for_update(session, user_id)
    row.skipped_at = None
    row.finished_at = None


def skip_charter(session: Session, user_id: int, *, now: dt.datetime | None = None) -> None:
    """ "Later" on the charter step: the guided start goes on; the charter page and
    :func:`resume_charter` bring it back."""
    row = _progress_for_update(session, user_id)
    row.charter_skipped_at = now or utcnow()


def resume_charter(session: Session, user_id: int) -> None:
    row = _progress_for_update(session, user_id)
    row.charter_skipped_at = None


def finish(session: Session, user_id: int, *, now: dt.datetime | None = None) -> None:
    row = _progress_for_update(session, user_id)
    row.finished_at = now or utcnow()


@dataclass(frozen=True)
class PlannedSchedule:
    """Enough of a check-in schedule for checkins.recurrence (before anything is agreed)."""

    cadence: str
    weekday: int
    day_of_month: int
    local_time: dt.time
    timezone: str
    active_since: dt.datetime


def first_checkin(
    session: Session, user_id: int, *, now: dt.datetime | None = None
) -> tuple[dt.datetime, bool] | None:
    """When the next (or first) check-in opens, and whether that schedule is agreed (True)
    or still the plan (False); None without any check-in agreement or plan."""
    now = now or utcnow()
    couple = couples.couple_of(session, user_id)
    if couple is None:
        return None
    schedule = in_force.checkin_schedule(session, couple.id, now)
    if schedule is not None:
        return recurrence.next_start(schedule, now), True
    for item in state(session, user_id, now=now).plan:
        if item.kind == "regular_checkin":
            params = item.params
            hours, minutes = (int(x) for x in str(params.get("local_time", "19:00")).split(":"))
            planned = PlannedSchedule(
                cadence=str(params.get("cadence", "monthly")),
                weekday=int(params.get("weekday", 6)),
                day_of_month=int(params.get("day_of_month", 1)),
                local_time=dt.time(hours, minutes),
                timezone=str(params.get("timezone", "UTC")),
                active_since=now,
            )
            return recurrence.next_start(planned, now), False
    return None


@dataclass(frozen=True)
class JoinedStart:
    """What is the joining partner's own to do in a space the other one set up: their
    answer to the agreements proposed, their side of the charter, and when the first (or
    next) check-in opens."""

    partner_name: str
    awaiting_my_answer: int
    wrote_reflection: bool
    next_checkin: tuple[dt.datetime, bool] | None


def joined_start(
    session: Session, user_id: int, *, now: dt.datetime | None = None
) -> JoinedStart | None:
    """For the partner who joined by invitation (seat 2) of a space in force; None for
    anyone else (the one who made the space has the guided start itself)."""
    now = now or utcnow()
    membership = couples.membership_of(session, user_id)
    if membership is None or membership.seat == 1 or membership.couple.ended_at is not None:
        return None
    names = couples.shown_names(membership.couple, user_id)
    return JoinedStart(
        partner_name=next((n for uid, n in names.items() if uid != user_id), "Your partner"),
        awaiting_my_answer=reading.awaiting_my_answer_count(session, user_id),
        wrote_reflection=reflections.my_reflection(session, user_id) is not None,
        next_checkin=first_checkin(session, user_id, now=now),
    )


# --- privacy: the plan is words this person wrote ----------------------------------------
def _export(session: Session, user_id: int) -> dict[str, list[dict[str, Any]]]:
    row = _progress(session, user_id)
    if row is None:
        return {}
    return {
        "onboarding": [
            {
                "plan": row.plan,
                "plan_saved_at": row.plan_saved_at,
                "plan_proposed_at": row.plan_proposed_at,
                "skipped_at": row.skipped_at,
                "finished_at": row.finished_at,
                "charter_skipped_at": row.charter_skipped_at,
            }
        ]
    }


def _erase(session: Session, user_id: int, now: dt.datetime) -> None:
    session.execute(delete(OnboardingProgress).where(OnboardingProgress.user_id == user_id))


export.register_exporter("onboarding", _export)
erase.register_eraser("onboarding", _erase)


# --- the dashboard: what is next for this person ------------------------------------------
@dataclass(frozen=True)
class Dashboard:
    onboarding: OnboardingState
    awaiting_my_answer: int
    agreements_in_force: int
    round_phase: str | None  # answer | waiting | review | closed | None (no round yet)
    round_reviewed: bool
    round_due_at: dt.datetime | None
    next_checkin: tuple[dt.datetime, bool] | None
    warnings: list[Any]
    open_topics: int
    talked_about: list[Any]
    charter_step: str | None = None  # what the charter needs from me now


def dashboard(
    session: Session,
    user_id: int,
    *,
    now: dt.datetime | None = None,
    start: OnboardingState | None = None,
) -> Dashboard:
    """Everything the home page shows, for a member of a couple with a partner;
    ``start``: this person's :func:`state`, when the caller read it already."""
    from checkins import history as checkin_history
    from checkins import rounds
    from checkins import warnings as checkin_warnings

    now = now or utcnow()
    couple = couples.require_membership(session, user_id).couple
    status = rounds.current_status(session, user_id)
    topics = checkin_history.topics(session, user_id)
    board = checkin_warnings.warning_board(session, user_id, now=now, topics=topics)
    return Dashboard(
        onboarding=start if start is not None else state(session, user_id, now=now),
        awaiting_my_answer=reading.awaiting_my_answer_count(session, user_id),
        agreements_in_force=len(in_force.agreements_in_force(session, couple.id, now)),
        round_phase=status.phase if status else None,
        round_reviewed=bool(status and status.round.reviewed_at is not None),
        round_due_at=status.round.due_at if status else None,
        next_checkin=first_checkin(session, user_id, now=now),
        warnings=board.shown,
        open_topics=sum(1 for t in topics if t.status != "resolved"),
        charter_step=charter_consent.next_step(session, user_id),
        talked_about=board.talked_about,
    )
