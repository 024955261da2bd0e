"""`tend demo`: a demo couple with a history to look around with. Running it again
changes nothing.

The history is built through the real services (agreements, cooldowns, therapy,
check-in rounds, answers, the reveal, topics) with an injected clock that walks month by
month from the past to today, so everything the pages show was made by the same rules a
real couple goes through. Mails that the services plan along the way are marked skipped
at the end, in the same transaction: nobody is ever mailed about a made-up past.

The story (default 24 months, ``years=N`` for longer): a steady start; a rough patch
around month 7 in which one topic keeps coming back, scores drop and the cooldown is not
kept; a therapy agreement added then; improvement; then a quiet relapse over the last
eight months (both scores sliding slowly, Sam stepping back from the check-ins) that only
the quiet warnings catch; and at the end a new, milder topic that has come up twice, plus
one open round that Alex has answered and Sam has not.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from couples import accounts
from couples import service as couples
from couples.models import Membership, User
from infra.db import transaction, utcnow
from onboarding import service as onboarding

DEMO_PASSWORD = "tend-demo-password"
DEMO_PARTNERS = (
    ("alex@demo.tend.example", "Alex", "Europe/Berlin"),
    ("sam@demo.tend.example", "Sam", "America/New_York"),
)
DEMO_COUPLE = "Alex & Sam"
DEFAULT_MONTHS = 24
# Month indexes (0 = the first round) of the rough patch: warnings are meant to show here
# and only here (plus the mild topic of the last two rounds, see RECENT_TOPIC).
ROUGH_PATCH = range(6, 11)
RECURRING_TOPIC = "Contact with Jordan"
RECENT_TOPIC = "Holidays with both families"
THERAPY_START = 7  # the month the therapy agreement is added
# The quiet relapse of the last months: no single round alarming, both scores sliding a
# point every round or two, and Sam stepping back (writing nothing under "What went well"
# in the last rounds, answering at the last moment). Only the quiet warnings catch it.
RELAPSE_ROUNDS = 8
RELAPSE_ALEX = (16, 16, 15, 15, 14, 14, 13, 13)
RELAPSE_SAM = (16, 15, 14, 13, 12, 11, 11, 10)
SAM_SILENT_ROUNDS = 3
COOLDOWN_LONGER = 9  # the month the cooldown goes from 10 to 20 minutes
# The round of month k opens at this local time on the check-in day (Alex's zone).
ROUND_HOUR_UTC = 17


@dataclass(frozen=True)
class Month:
    """What each partner answers in one round."""

    alex: int  # satisfaction total 0-20
    sam: int
    alex_certainty: int  # 1-5
    sam_certainty: int
    kept: int  # how well the agreements were kept, 1-5 (the cooldown may differ)
    cooldown_kept: int
    cooldowns: int  # cooldowns started during the month


# Months 0-12 of the story, scripted; later months are steady (see _month).
_SCRIPT = [
    Month(15, 14, 4, 4, 4, 4, 1),
    Month(16, 15, 5, 4, 5, 4, 0),
    Month(15, 15, 4, 4, 4, 4, 1),
    Month(16, 14, 4, 4, 4, 5, 0),
    Month(15, 15, 5, 4, 4, 4, 1),
    Month(16, 15, 4, 4, 5, 4, 1),
    # The rough patch: Jordan comes up, Sam's certainty falls, the cooldown is not kept.
    Month(13, 12, 4, 3, 4, 3, 3),
    Month(10, 6, 3, 2, 3, 2, 4),
    Month(9, 7, 3, 2, 3, 2, 4),
    Month(11, 10, 3, 3, 4, 3, 2),
    Month(13, 12, 4, 3, 4, 4, 2),
    # Better: therapy helps, the longer cooldown works.
    Month(14, 14, 4, 4, 4, 4, 1),
    Month(15, 15, 4, 4, 5, 4, 1),
]
_NOISE = (0, 1, 0, -1, 1, 0, 0, 1, -1, 0, 1, 0)

WENT_WELL = [
    "Sunday breakfast together, phones away. That was lovely.",
    "You listened when I talked about work without trying to fix it.",
    "The walk by the river. I liked how we laughed about the old flat.",
    "You remembered my sister's birthday before I did.",
    "Cooking together on Thursday felt easy again.",
    "Thank you for telling me when you were tired instead of going quiet.",
    "Our weekend away. I want more of those.",
    "You asked how my day was and really waited for the answer.",
]
ROUGH_WENT_WELL = [
    "Honestly not much. The evening with your parents was nice.",
    "We managed the cooldown once and came back calmer.",
    "Therapy on Tuesday was hard but I'm glad we went.",
    "You said sorry first. That mattered.",
]
ONE_OFF_TOPICS = [
    ("Who does the dishes", "I end up doing the dishes most nights.", "A rota we both keep."),
    ("Money for the holiday", "I'm not sure we can afford the trip.", "Look at the budget."),
    ("Sleep schedule", "Your late nights wake me up.", "A quieter routine after 23:00."),
    ("Time with friends", "I miss seeing my friends on weekends.", "One free evening each."),
    ("Moving in plans", "I don't know where we stand on moving in.", "A real talk about it."),
]


def _month(k: int) -> Month:
    if k < len(_SCRIPT):
        return _SCRIPT[k]
    noise = _NOISE[k % len(_NOISE)]
    return Month(
        16 + noise,
        15 + _NOISE[(k + 5) % len(_NOISE)],
        5 if k % 4 == 0 else 4,
        4,
        5 if k % 3 == 0 else 4,
        4,
        1 if k % 2 == 0 else 0,
    )


def _items(total: int) -> dict[str, int]:
    """Four 0-5 satisfaction items that add up to ``total``."""
    from checkins.survey import SATISFACTION_KEYS

    base, extra = divmod(total, 4)
    return {key: base + (1 if i < extra else 0) for i, key in enumerate(SATISFACTION_KEYS)}


def _users(session: Session, now: dt.datetime) -> list[User]:
    users = []
    for email, name, tz in DEMO_PARTNERS:
        user = accounts.user_by_email(session, email) or accounts.create_confirmed_user(
            session,
            accounts.Registration(
                email=email, display_name=name, password=DEMO_PASSWORD, timezone=tz
            ),
            now=now,
        )
        users.append(user)
    return users


def _has_history(session: Session, couple_id: int) -> bool:
    from checkins.models import Round

    return session.scalar(select(Round.id).where(Round.couple_id == couple_id).limit(1)) is not None


def create_demo(now: dt.datetime | None = None, *, years: int | None = None) -> list[str]:
    """Create the demo couple (once) and return the lines to print."""
    now = now or utcnow()
    months = years * 12 if years else DEFAULT_MONTHS
    with transaction() as session:
        alex, sam = _users(session, now)
        start = (now - relativedelta(months=months)).replace(
            hour=ROUND_HOUR_UTC, minute=0, second=0, microsecond=0
        )
        couple = couples.couple_of(session, alex.id)
        if couple is None:
            couple = couples.create_couple(
                session,
                alex.id,
                name=DEMO_COUPLE,
                reunited_on=(start - dt.timedelta(days=45)).date(),
                now=start - dt.timedelta(days=30),
            )
            session.add(
                Membership(
                    couple_id=couple.id,
                    user_id=sam.id,
                    seat=2,
                    joined_at=start - dt.timedelta(days=29),
                )
            )
            # Years in, Alex is long past the guided start: the dashboard shows the couple's
            # life, not "step 5 of 5" (the guided start stays one menu entry away).
            onboarding.finish(session, alex.id, now=start - dt.timedelta(days=29))
            session.flush()
            session.refresh(couple)
        built = False
        if not _has_history(session, couple.id):
            _History(session, alex.id, sam.id, start, months, now).build()
            built = True
    head = (
        f"Demo couple '{DEMO_COUPLE}' created with {months} months of history."
        if built
        else f"Demo couple '{DEMO_COUPLE}' already exists (nothing changed)."
    )
    return [
        head,
        "Sign in as either partner:",
        *(f"  {email}  password: {DEMO_PASSWORD}" for email, _, _ in DEMO_PARTNERS),
    ]


# The demo couple's charter: per root cause, (what I will do, how we will both notice);
# True: Alex's words, False: Sam's.
DEMO_CHARTER: dict[bool, dict[str, tuple[str, str]]] = {
    True: {
        "talking": (
            "I say what bothers me within a few days, instead of going quiet.",
            "Fewer silent evenings; it comes up at our check-in.",
        ),
        RECURRING_TOPIC: (
            "I tell you when I have been in touch with Jordan, before you hear it elsewhere.",
            "No surprises from friends.",
        ),
    },
    False: {
        "talking": (
            "I ask how you are, and listen to the answer before giving mine.",
            "You finish your sentences.",
        ),
        RECURRING_TOPIC: (
            "I ask you directly instead of checking your phone.",
            "My questions come to you, not to your phone.",
        ),
    },
}


def _causes(words: dict[str, tuple[str, str]]) -> list[Any]:
    from charter import words as charter_words
    from charter.consent import CauseInput

    return [
        CauseInput(key, what=what, notice=notice)
        if key in charter_words.CAUSES
        else CauseInput(charter_words.OWN, own_title=key, what=what, notice=notice)
        for key, (what, notice) in words.items()
    ]


class _History:
    """Walks the clock from ``start`` to ``now``, one month at a time."""

    def __init__(
        self,
        session: Session,
        alex: int,
        sam: int,
        start: dt.datetime,
        months: int,
        now: dt.datetime,
    ) -> None:
        self.s = session
        self.alex, self.sam = alex, sam
        self.start, self.months, self.now = start, months, now
        self.agreements: dict[str, int] = {}
        self.one_off_index = 0
        self.therapy_item: Any = None

    def at(self, k: int, days: float = 0, hours: float = 0) -> dt.datetime:
        return self.start + relativedelta(months=k) + dt.timedelta(days=days, hours=hours)

    # --- agreements ------------------------------------------------------------------------
    def _agree(self, proposer: int, kind: str, at: dt.datetime, params: dict | None = None) -> int:
        from agreements import proposals
        from agreements.templates import TEMPLATES

        template = TEMPLATES[kind]
        other = self.sam if proposer == self.alex else self.alex
        agreement = proposals.propose_agreement(
            self.s,
            proposer,
            kind=kind,
            title=template.title,
            body=template.body,
            params={**template.params, **(params or {})},
            now=at,
        )
        proposals.accept(self.s, other, agreement.id, now=at + dt.timedelta(hours=5))
        self.agreements[kind] = agreement.id
        return agreement.id

    def _change(self, proposer: int, kind: str, at: dt.datetime, params: dict) -> None:
        from agreements import proposals, reading

        view = reading.get_agreement(self.s, proposer, self.agreements[kind])
        current = view.in_force
        assert current is not None
        proposals.propose_change(
            self.s,
            proposer,
            view.agreement_id,
            title=current.title,
            body=current.body,
            params={**current.params, **params},
            now=at,
        )
        other = self.sam if proposer == self.alex else self.alex
        proposals.accept(self.s, other, view.agreement_id, now=at + dt.timedelta(hours=20))

    def agreements_before(self) -> None:
        from agreements import proposals
        from agreements.templates import TEMPLATES

        t0 = self.at(0, days=-25)
        self._agree(
            self.alex,
            "regular_checkin",
            t0,
            {
                "cadence": "monthly",
                "day_of_month": min(self.start.day, 28),
                "local_time": "19:00",
                "timezone": "Europe/Berlin",
            },
        )
        # The cooldown: Sam proposes five minutes, Alex answers with ten, Sam says yes.
        cooldown = TEMPLATES["cooldown"]
        proposal = proposals.propose_agreement(
            self.s,
            self.sam,
            kind="cooldown",
            title=cooldown.title,
            body=cooldown.body,
            params=dict(cooldown.params),
            now=t0 + dt.timedelta(days=1),
        )
        proposals.propose_change(
            self.s,
            self.alex,
            proposal.id,
            title=cooldown.title,
            body=cooldown.body,
            params={**cooldown.params, "minutes": 10},
            now=t0 + dt.timedelta(days=1, hours=6),
        )
        proposals.accept(self.s, self.sam, proposal.id, now=t0 + dt.timedelta(days=2))
        self.agreements["cooldown"] = proposal.id
        self._agree(self.alex, "speak_up", t0 + dt.timedelta(days=3))
        self._agree(self.sam, "time_together", t0 + dt.timedelta(days=3, hours=2))
        self._agree(self.sam, "no_secrets", t0 + dt.timedelta(days=4))

    def charter(self) -> None:
        """Before the first round: each writes what ended it (revealed once both have),
        Alex proposes the charter, Sam answers with their own changes, Alex agrees; its
        root causes become topics ("Contact with Jordan" is the one that comes back)."""
        from charter import consent, reflections

        t0 = self.at(0, days=-24)
        reflections.write_reflection(
            self.s,
            self.alex,
            ["talking", "trust"],
            "I went quiet for months instead of saying I was unhappy, and I kept in touch "
            "with Jordan without telling you.",
            now=t0,
        )
        reflections.write_reflection(
            self.s,
            self.sam,
            ["trust", "talking", "jealousy"],
            "When I found the messages from Jordan I stopped believing what you said, and "
            "I started checking your phone.",
            now=t0 + dt.timedelta(hours=20),
        )
        review = (self.start + relativedelta(months=3)).date()
        for who, at, words in (
            (self.alex, t0 + dt.timedelta(days=1), DEMO_CHARTER[True]),
            (self.sam, t0 + dt.timedelta(days=2), DEMO_CHARTER[False]),
        ):
            consent.propose_charter(self.s, who, _causes(words), review, now=at)
        consent.agree(self.s, self.alex, now=t0 + dt.timedelta(days=2, hours=4))

    def review_charter(self, k: int) -> None:
        """Review days: a new review date, and Sam's change made more concrete."""
        from charter import consent

        if k not in (3, 12):
            return
        at = self.at(k, -5)
        words = {**DEMO_CHARTER[False]}
        if k == 12:
            words["talking"] = (
                "I ask how you are on our Friday evenings, and listen before I answer.",
                "You finish your sentences.",
            )
        review = (at + relativedelta(months=9 if k == 12 else 6)).date()
        consent.propose_charter(self.s, self.sam, _causes(words), review, now=at)
        consent.agree(self.s, self.alex, now=at + dt.timedelta(hours=6))

    def events_of_month(self, k: int) -> None:
        """Agreement changes, therapy and cooldowns during month ``k`` (before its round)."""
        from agreements import cooldowns as agreement_cooldowns
        from agreements import therapy

        if k == 3:
            self._change(self.alex, "time_together", self.at(k, -12), {"how_often": "Fridays"})
        if k == THERAPY_START:
            self._agree(
                self.sam,
                "therapy",
                self.at(k, -20),
                {"therapist": "Riverside Couples Practice", "frequency": "biweekly"},
            )
        if k == COOLDOWN_LONGER:
            self._change(self.sam, "cooldown", self.at(k, -15), {"minutes": 20})
        if k == THERAPY_START + 8:
            self._change(self.alex, "therapy", self.at(k, -10), {"frequency": "monthly"})
        if "therapy" in self.agreements and k > THERAPY_START:
            # Sessions: every two weeks at first, monthly once they changed it.
            days = (-18, -4) if k <= THERAPY_START + 8 else (-10,)
            for offset in days:
                held = self.at(k, offset)
                row = therapy.log_therapy_session(
                    self.s,
                    self.sam,
                    self.agreements["therapy"],
                    held_on=held.date(),
                    attendance="together",
                    now=held + dt.timedelta(hours=3),
                )
                rough = k in ROUGH_PATCH
                therapy.rate_therapy_session(
                    self.s, self.sam, row.id, 3 if rough else 4, now=held + dt.timedelta(hours=4)
                )
                therapy.rate_therapy_session(
                    self.s, self.alex, row.id, 2 if rough else 3, now=held + dt.timedelta(hours=5)
                )
        month = _month(k)
        for n in range(month.cooldowns):
            started = self.at(k, -22 + n * 5, hours=3)
            who = self.alex if n % 2 == 0 else self.sam
            agreement_cooldowns.start_cooldown(self.s, who, now=started)
            if k in ROUGH_PATCH and n == 0:
                agreement_cooldowns.extend_cooldown(
                    self.s, who, now=started + dt.timedelta(minutes=4)
                )
            elif n % 3 == 1:
                other = self.sam if who == self.alex else self.alex
                agreement_cooldowns.end_cooldown(
                    self.s, other, now=started + dt.timedelta(minutes=3)
                )

    # --- rounds ------------------------------------------------------------------------------
    def _concerns(self, k: int, user_id: int) -> list:
        from checkins.views import ConcernInput

        concerns = []
        if k in ROUGH_PATCH and k != 10:
            if user_id == self.sam:
                concerns.append(
                    ConcernInput(
                        "I found out later that you had been texting Jordan again.",
                        "Tell me when you are in touch, before I hear it elsewhere.",
                        new_topic=RECURRING_TOPIC,
                    )
                )
            elif k >= 8:
                concerns.append(
                    ConcernInput(
                        "I feel watched when you ask about my phone.",
                        "Trust that I tell you, and ask me directly.",
                        new_topic=RECURRING_TOPIC,
                    )
                )
        if k >= self.months - 2 and user_id == self.alex:
            concerns.append(
                ConcernInput(
                    "I dread splitting the holidays between your family and mine again.",
                    "Decide together early, not in the last week.",
                    new_topic=RECENT_TOPIC,
                )
            )
        # Now and then a small one-off topic, raised once and resolved afterwards.
        if k % 5 == 2 and k not in ROUGH_PATCH and k < self.months - 2 and user_id == self.alex:
            title, bothering, need = ONE_OFF_TOPICS[self.one_off_index % len(ONE_OFF_TOPICS)]
            cycle = self.one_off_index // len(ONE_OFF_TOPICS)
            if cycle:
                title = f"{title} ({self.at(k).year})"
            concerns.append(ConcernInput(bothering, need, new_topic=title))
            self.one_off_index += 1
        return concerns

    def _sheet(self, k: int, round_id: int, user_id: int):  # type: ignore[no-untyped-def]
        from checkins import rounds
        from checkins.views import AdherenceInput, Sheet

        month = _month(k)
        me_alex = user_id == self.alex
        total = month.alex if me_alex else month.sam
        relapse = k - (self.months - RELAPSE_ROUNDS)
        if 0 <= relapse < RELAPSE_ROUNDS:
            total = (RELAPSE_ALEX if me_alex else RELAPSE_SAM)[relapse]
        texts = ROUGH_WENT_WELL if k in ROUGH_PATCH else WENT_WELL
        went_well = texts[(k * 2 + (0 if me_alex else 1)) % len(texts)]
        if not me_alex and k >= self.months - SAM_SILENT_ROUNDS:
            went_well = ""
        sheet = Sheet(
            values={
                **_items(total),
                "certainty": month.alex_certainty if me_alex else month.sam_certainty,
                "safety": 4,
            },
            texts={"went_well": went_well},
        )
        questions = rounds.round_questions(self.s, user_id, round_id)
        for agreement in questions.agreements:
            kept = month.cooldown_kept if agreement.kind == "cooldown" else month.kept
            sheet.adherence[agreement.agreement_id] = AdherenceInput(kept, kept)
        sheet.concerns = self._concerns(k, user_id)
        return sheet

    def round_of_month(self, k: int) -> None:
        from checkins import answers, review, rounds

        opened = self.at(k)
        round_ = rounds.start_round_now(self.s, self.alex, now=opened)
        first, second = (self.alex, self.sam) if k % 2 else (self.sam, self.alex)
        for n, user_id in enumerate((first, second)):
            answered = opened + dt.timedelta(days=1 + 2 * n, hours=3)
            if user_id == self.sam and k >= self.months - SAM_SILENT_ROUNDS:
                answered = opened + dt.timedelta(days=3, hours=20)  # at the last moment
            answers.save_answers(
                self.s, user_id, round_.id, self._sheet(k, round_.id, user_id), now=answered
            )
            answers.submit(self.s, user_id, round_.id, now=answered + dt.timedelta(minutes=7))
        talked = opened + dt.timedelta(days=4, hours=2)
        if k == 8:
            self.therapy_item = review.add_action_item(
                self.s, self.sam, round_.id, "Book a first therapy session", None, now=talked
            )
        if k == 12:
            review.add_action_item(
                self.s, self.alex, round_.id, "Plan a weekend away", self.alex, now=talked
            )
        if k == THERAPY_START + 3 and self.therapy_item is not None:
            # Done: they went.
            review.set_action_done(self.s, self.sam, self.therapy_item.id, True, now=talked)
        if k == self.months - 1:
            self._talk(round_.id, talked)
        review.mark_reviewed(self.s, self.alex, round_.id, now=talked)
        review.mark_reviewed(self.s, self.sam, round_.id, now=talked)
        self._topic_statuses(k, talked)

    def _talk(self, round_id: int, at: dt.datetime) -> None:
        """Last month's talk: a time agreed, under way on its second item, with notes."""
        from checkins import talk

        talk.propose_time(self.s, self.sam, round_id, at, now=at - dt.timedelta(days=1))
        talk.accept_time(self.s, self.alex, round_id, now=at - dt.timedelta(hours=20))
        talk.save_note(
            self.s, self.alex, round_id, "appreciation", "Thank you for the Sunday walks.", now=at
        )
        talk.move(self.s, self.sam, round_id, seen_position=0, step=1, now=at)
        position = talk.talk_view(self.s, self.sam, round_id, now=at).current.key
        talk.save_note(
            self.s, self.sam, round_id, position, "I was tired, not unhappy with us.", now=at
        )
        talk.add_action(
            self.s,
            self.sam,
            round_id,
            "Phone-free dinner on Thursdays",
            None,
            (at + dt.timedelta(days=10)).date(),
            now=at,
        )

    def _topic_statuses(self, k: int, at: dt.datetime) -> None:
        from checkins import history as checkin_history

        by_title = {t.title: t for t in checkin_history.topics(self.s, self.alex)}
        jordan = by_title.get(RECURRING_TOPIC)
        if jordan is not None and k == 9:
            checkin_history.set_topic_status(self.s, self.sam, jordan.id, "working", now=at)
        if jordan is not None and k == 12:
            checkin_history.set_topic_status(self.s, self.sam, jordan.id, "resolved", now=at)
        # One-off topics are resolved at the review after they came up.
        for topic in by_title.values():
            settled = topic.last_raised is not None and topic.last_raised < at - dt.timedelta(
                days=20
            )
            one_off = topic.title not in (RECURRING_TOPIC, RECENT_TOPIC)
            if topic.status == "open" and one_off and settled:
                checkin_history.set_topic_status(self.s, self.alex, topic.id, "resolved", now=at)

    def open_round(self) -> None:
        """Today's round: opened two days ago, Alex has answered, Sam not yet."""
        from checkins import answers, rounds

        k = self.months
        opened = self.now - dt.timedelta(days=2)
        round_ = rounds.start_round_now(self.s, self.alex, now=opened)
        answers.save_answers(
            self.s, self.alex, round_.id, self._sheet(k, round_.id, self.alex), now=opened
        )
        answers.submit(self.s, self.alex, round_.id, now=opened + dt.timedelta(hours=1))

    def build(self) -> None:
        from notifications.models import PENDING, SKIPPED, OutboxMessage

        self.agreements_before()
        self.charter()
        for k in range(self.months):
            self.review_charter(k)
            self.events_of_month(k)
            self.round_of_month(k)
        self.open_round()
        # Everything the services planned while the clock walked through the past stays
        # unsent: marked skipped, with any sign-in secret wiped.
        self.s.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.recipient_user_id.in_((self.alex, self.sam)),
                OutboxMessage.status == PENDING,
            )
            .values(status=SKIPPED, secret=None)
        )
