"""Sharing a report with the couple's therapist, with both partners' consent.

The consent model is the agreements' (agreements.consent): one partner proposes what the
report holds, who receives it and until when; only the other can say yes, or answer with
other choices (which then need the first partner's yes). Nothing is shared before both
said yes. Either partner withdraws at any time, and access ends at once: the link's hash
is cleared in the same transaction, and every opening of the link checks the share again.

User-facing functions take the acting ``user_id`` and resolve the couple from it; a
share of another couple is ``NotFound``. No operator command makes a report: only the
couple can (the PDF needs a partner's session; the link, both partners' consent).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agreements import consent
from couples import accounts
from couples import service as couples
from couples.models import Couple
from infra.db import utcnow
from infra.errors import InvalidInput, NotAllowed, NotFound
from infra.tokens import new_token, token_hash
from notifications.outbox import enqueue
from notifications.preferences import after_quiet_hours
from reports import content
from reports.models import (
    ACTIVE,
    DECLINED,
    OPEN_STATES,
    PENDING,
    REPLACED,
    WITHDRAWN,
    ReportShare,
    ReportVisit,
)
from reports.sections import ReportContext

MAX_DAYS = 90
MAX_THERAPIST_NAME = 120
WHY_BOTH = "a report for your therapist needs both of you."


@dataclass(frozen=True)
class ShareInput:
    """What a partner chooses (the proposal form)."""

    contents: list[str]
    therapist_name: str
    therapist_email: str
    expires_on: dt.date | None


@dataclass(frozen=True)
class ShareView:
    id: int
    state: str
    contents: list[str]
    content_labels: list[str]
    therapist_name: str
    therapist_email: str
    expires_on: dt.date
    proposed_by: str
    proposed_by_me: bool
    proposed_at: dt.datetime
    answered_by: str | None
    answered_at: dt.datetime | None
    ended_by: str | None
    ended_at: dt.datetime | None
    link: str  # "none" | "live" | "expired" | "revoked" | "ended"
    visits: list[dt.datetime]

    @property
    def awaiting_my_answer(self) -> bool:
        return self.state == PENDING and not self.proposed_by_me


# --- reading ------------------------------------------------------------------------------


def _end_of(day: dt.date, timezone: str) -> dt.datetime:
    """The moment ``day`` ends in ``timezone`` (its next midnight), in UTC."""
    midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), ZoneInfo(timezone))
    return midnight.astimezone(dt.UTC)


def _open_share(session: Session, couple_id: int) -> ReportShare | None:
    return session.scalar(
        select(ReportShare).where(
            ReportShare.couple_id == couple_id, ReportShare.state.in_(OPEN_STATES)
        )
    )


def _own_share(session: Session, couple: Couple, share_id: int) -> ReportShare:
    share = session.get(ReportShare, share_id)
    if share is None or share.couple_id != couple.id:
        raise NotFound("No such report.")
    return share


def _link_state(share: ReportShare, now: dt.datetime) -> str:
    if share.state != ACTIVE:
        return "ended" if share.link_issued_at else "none"
    if share.link_hash is None:
        return "revoked" if share.link_revoked_at else "none"
    return "expired" if now >= share.expires_at else "live"


def _labels(keys: list[str]) -> list[str]:
    choices = {c.key: c.label for c in (*content.section_choices(), *content.free_text_choices())}
    return [choices[k] for k in keys if k in choices]


def _view(session: Session, share: ReportShare, user_id: int, now: dt.datetime) -> ShareView:
    def name(uid: int | None) -> str | None:
        return couples.shown_name(session, user_id, uid) if uid is not None else None

    visits = list(
        session.scalars(
            select(ReportVisit.at)
            .where(ReportVisit.share_id == share.id)
            .order_by(ReportVisit.at.desc(), ReportVisit.id.desc())
        )
    )
    return ShareView(
        id=share.id,
        state=share.state,
        contents=list(share.contents),
        content_labels=_labels(list(share.contents)),
        therapist_name=share.therapist_name,
        therapist_email=share.therapist_email,
        expires_on=share.expires_on,
        proposed_by=name(share.proposed_by_id) or "",
        proposed_by_me=share.proposed_by_id == user_id,
        proposed_at=share.proposed_at,
        answered_by=name(share.answered_by_id),
        answered_at=share.answered_at,
        ended_by=name(share.ended_by_id),
        ended_at=share.ended_at,
        link=_link_state(share, now),
        visits=visits,
    )


def current_share(
    session: Session, user_id: int, *, now: dt.datetime | None = None
) -> ShareView | None:
    """The proposal or sharing in progress, else the latest one that ended (with its
    visit log), else None."""
    now = now or utcnow()
    couple = couples.require_membership(session, user_id).couple
    share = _open_share(session, couple.id) or session.scalar(
        select(ReportShare)
        .where(ReportShare.couple_id == couple.id)
        .order_by(ReportShare.proposed_at.desc(), ReportShare.id.desc())
        .limit(1)
    )
    return _view(session, share, user_id, now) if share else None


def past_shares(
    session: Session, user_id: int, *, now: dt.datetime | None = None
) -> list[ShareView]:
    """Every share of the couple, newest first, each with its visit log."""
    now = now or utcnow()
    couple = couples.require_membership(session, user_id).couple
    rows = session.scalars(
        select(ReportShare)
        .where(ReportShare.couple_id == couple.id)
        .order_by(ReportShare.proposed_at.desc(), ReportShare.id.desc())
    )
    return [_view(session, share, user_id, now) for share in rows]


# --- choosing and consenting -------------------------------------------------------------


def _today(user_id: int, session: Session, now: dt.datetime) -> tuple[dt.date, str]:
    timezone = accounts.get_user(session, user_id).timezone
    return now.astimezone(ZoneInfo(timezone)).date(), timezone


def _clean(session: Session, user_id: int, choice: ShareInput, now: dt.datetime) -> ShareInput:
    problems: dict[str, str] = {}
    known = content.known_keys()
    contents = list(dict.fromkeys(choice.contents))
    sections = {c.key for c in content.section_choices()}
    if any(k not in known for k in contents):
        problems["contents"] = "Choose from the list."
    elif not any(k in sections for k in contents):
        problems["contents"] = "Choose at least one thing the report holds."
    name = " ".join((choice.therapist_name or "").split())
    if not name:
        problems["therapist_name"] = "Whom is the report for?"
    elif len(name) > MAX_THERAPIST_NAME or "\x00" in name:
        problems["therapist_name"] = f"Keep the name to {MAX_THERAPIST_NAME} characters."
    email = accounts.normalize_email(choice.therapist_email or "")
    email_problem = accounts.email_problem(email)
    if email_problem:
        problems["therapist_email"] = email_problem
    today, _zone = _today(user_id, session, now)
    if choice.expires_on is None:
        problems["expires_on"] = "Choose the last day the link works."
    elif choice.expires_on <= today:
        problems["expires_on"] = "Choose a day after today."
    elif choice.expires_on > today + dt.timedelta(days=MAX_DAYS):
        problems["expires_on"] = f"The link works for at most {MAX_DAYS} days."
    if problems:
        raise InvalidInput(problems)
    order = [c.key for c in (*content.section_choices(), *content.free_text_choices())]
    contents.sort(key=order.index)
    return ShareInput(contents, name, email, choice.expires_on)


def _new_share(
    session: Session, couple: Couple, user_id: int, choice: ShareInput, now: dt.datetime
) -> ReportShare:
    timezone = accounts.get_user(session, user_id).timezone
    assert choice.expires_on is not None
    share = ReportShare(
        couple_id=couple.id,
        state=PENDING,
        contents=choice.contents,
        therapist_name=choice.therapist_name,
        therapist_email=choice.therapist_email,
        expires_on=choice.expires_on,
        expires_at=_end_of(choice.expires_on, timezone),
        timezone=timezone,
        proposed_by_id=user_id,
        proposed_at=now,
    )
    try:
        # The one-open-share index settles two partners proposing at once.
        with session.begin_nested():
            session.add(share)
    except IntegrityError:
        raise NotAllowed(
            "Your partner just proposed a report. Reload to see it and answer."
        ) from None
    partner = consent.require_partner(session, user_id, WHY_BOTH)
    me = accounts.get_user(session, user_id)
    # Names only: what the report holds is read in Tend.
    enqueue(
        session,
        kind="report_proposed",
        to_address=partner.email,
        recipient_user_id=partner.id,
        dedupe_key=f"report_proposed:{share.id}",
        context={"name": partner.display_name, "partner": me.display_name, "share_id": share.id},
        send_after=after_quiet_hours(session, partner, now),  # proposed at night: at 07:00
    )
    return share


def propose_share(
    session: Session, user_id: int, choice: ShareInput, *, now: dt.datetime | None = None
) -> ShareView:
    """Propose sharing a report; nothing is shared until the partner says yes."""
    now = now or utcnow()
    couple = couples.require_active_couple(session, user_id)
    consent.require_partner(session, user_id, WHY_BOTH)
    if _open_share(session, couple.id) is not None:
        raise NotAllowed("A report is already proposed or shared. Answer it, or withdraw it first.")
    choice = _clean(session, user_id, choice, now)
    share = _new_share(session, couple, user_id, choice, now)
    session.flush()
    return _view(session, share, user_id, now)


def _pending_for_answer(session: Session, user_id: int, share_id: int) -> ReportShare:
    couple = couples.require_active_couple(session, user_id)
    share = _own_share(session, couple, share_id)
    if share.state != PENDING:
        raise NotAllowed("This proposal is no longer waiting for an answer. Reload to see why.")
    consent.refuse_own_answer(share.proposed_by_id, user_id, "this report")
    return share


def counter_propose(
    session: Session,
    user_id: int,
    share_id: int,
    choice: ShareInput,
    *,
    now: dt.datetime | None = None,
) -> ShareView:
    """Answer the partner's proposal with other choices; those need the partner's yes."""
    now = now or utcnow()
    share = _pending_for_answer(session, user_id, share_id)
    choice = _clean(session, user_id, choice, now)
    share.state = REPLACED
    share.answered_by_id = user_id
    share.answered_at = now
    session.flush()
    couple = couples.require_active_couple(session, user_id)
    return _view(session, _new_share(session, couple, user_id, choice, now), user_id, now)


def accept_share(
    session: Session, user_id: int, share_id: int, *, now: dt.datetime | None = None
) -> ShareView:
    """Say yes to the partner's proposal: the report is shared from now on, and the
    therapist is mailed the link."""
    now = now or utcnow()
    share = _pending_for_answer(session, user_id, share_id)
    if now >= share.expires_at:
        raise NotAllowed("The last day chosen for the link has passed. Propose a new date.")
    share.state = ACTIVE
    share.answered_by_id = user_id
    share.answered_at = now
    _issue_link(session, share, now)
    session.flush()
    return _view(session, share, user_id, now)


def decline_share(
    session: Session, user_id: int, share_id: int, *, now: dt.datetime | None = None
) -> ShareView:
    now = now or utcnow()
    share = _pending_for_answer(session, user_id, share_id)
    share.state = DECLINED
    share.answered_by_id = user_id
    share.answered_at = now
    session.flush()
    return _view(session, share, user_id, now)


def withdraw(
    session: Session, user_id: int, share_id: int, *, now: dt.datetime | None = None
) -> ShareView:
    """Either partner takes their consent back (or their proposal): access ends now."""
    now = now or utcnow()
    couple = couples.require_membership(session, user_id).couple
    share = _own_share(session, couple, share_id)
    if share.state not in OPEN_STATES:
        raise NotAllowed("This report is not shared any more.")
    _end(share, user_id, now)
    session.flush()
    return _view(session, share, user_id, now)


def _end(share: ReportShare, user_id: int | None, now: dt.datetime) -> None:
    share.state = WITHDRAWN
    share.ended_by_id = user_id
    share.ended_at = now
    share.link_hash = None


def revoke_link(
    session: Session, user_id: int, share_id: int, *, now: dt.datetime | None = None
) -> ShareView:
    """The link stops working now (say it was forwarded by mistake); the consent stays,
    and either partner can send the therapist a new link."""
    now = now or utcnow()
    couple = couples.require_membership(session, user_id).couple
    share = _own_share(session, couple, share_id)
    if share.state != ACTIVE or share.link_hash is None:
        raise NotAllowed("There is no working link to revoke.")
    share.link_hash = None
    share.link_revoked_at = now
    share.link_revoked_by_id = user_id
    session.flush()
    return _view(session, share, user_id, now)


def send_new_link(
    session: Session, user_id: int, share_id: int, *, now: dt.datetime | None = None
) -> ShareView:
    """A new link for the therapist (the old one stops working), by mail."""
    now = now or utcnow()
    couple = couples.require_active_couple(session, user_id)
    share = _own_share(session, couple, share_id)
    if share.state != ACTIVE:
        raise NotAllowed("Both of you need to consent first.")
    if now >= share.expires_at:
        raise NotAllowed("The link's last day has passed. Withdraw and propose a new report.")
    _issue_link(session, share, now)
    session.flush()
    return _view(session, share, user_id, now)


def _issue_link(session: Session, share: ReportShare, now: dt.datetime) -> None:
    token = new_token()
    share.link_hash = token_hash(token)
    share.link_issued_at = now
    share.link_revoked_at = None
    share.link_revoked_by_id = None
    members = [m.user.display_name for m in share_couple(session, share).members]
    # Neutral: no scores, no words of the couple; the raw token travels only in the
    # outbox row (cleared once sent) and the mail itself.
    enqueue(
        session,
        kind="report_shared",
        to_address=share.therapist_email,
        dedupe_key=f"report_shared:{share.id}:{now:%Y%m%d%H%M%S%f}",
        context={
            "therapist": share.therapist_name,
            "partners": " and ".join(members),
            "expires_on": f"{share.expires_on:%-d %B %Y}",
        },
        secret=token,
    )


def share_couple(session: Session, share: ReportShare) -> Couple:
    couple = session.get(Couple, share.couple_id)
    assert couple is not None
    return couple


# --- the report ---------------------------------------------------------------------------


def _context(
    session: Session, share: ReportShare, reader_id: int, now: dt.datetime
) -> ReportContext:
    couple = share_couple(session, share)
    names = {m.user_id: m.user.display_name for m in couple.members if m.left_at is None}
    return ReportContext(
        couple_id=couple.id,
        reader_id=reader_id,
        names=names,
        free_text=frozenset(share.contents),
        now=now,
        timezone=share.timezone,
    )


def report_for_partner(
    session: Session, user_id: int, *, now: dt.datetime | None = None
) -> content.Report:
    """The report both consented to, for either partner (the PDF download)."""
    now = now or utcnow()
    couple = couples.require_active_couple(session, user_id)
    share = _open_share(session, couple.id)
    if share is None or share.state != ACTIVE:
        raise NotAllowed("A report needs both of you to consent first.")
    return content.build_report(session, _context(session, share, user_id, now), share.contents)


class LinkNotValid(NotFound):
    """The therapist's link does not open (or no longer opens) a report."""


def report_for_link(
    session: Session, token: str, *, now: dt.datetime | None = None
) -> tuple[content.Report, ShareView]:
    """The therapist's link: the report while both still consent, the link is neither
    revoked nor past its last day, and the couple is still together in Tend. Each
    opening is logged for both partners to see."""
    now = now or utcnow()
    if not token or len(token) > 200:
        raise LinkNotValid("This link is not valid.")
    share = session.scalar(select(ReportShare).where(ReportShare.link_hash == token_hash(token)))
    if share is None or share.state != ACTIVE:
        raise LinkNotValid("This link no longer opens a report.")
    if now >= share.expires_at:
        raise LinkNotValid("This link has expired.")
    couple = share_couple(session, share)
    if couple.ended_at is not None:
        raise LinkNotValid("This link no longer opens a report.")
    session.add(ReportVisit(share_id=share.id, at=now))
    session.flush()
    report = content.build_report(
        session, _context(session, share, share.proposed_by_id, now), share.contents
    )
    return report, _view(session, share, share.proposed_by_id, now)
