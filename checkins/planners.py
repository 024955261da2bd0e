"""Check-ins' planning step for the scheduler, registered when this module is imported
(listed in tend/registry.py, which the scheduler imports).

One planner, :func:`checkins.rounds.plan_checkins`, in this order: close rounds past
their due date, open rounds that are due, write nudges and "closes tomorrow" reminders.
Each step derives what is due from the database and writes with dedupe keys, so it is
safe in any number of processes. A mail that asks someone to answer is asked again
when it is due (:func:`checkins.rounds.reminder_still_due`): one held for the morning
is not sent to someone who answered in the night, nor about a couple space that ended.
"""

from __future__ import annotations

from checkins.calendar import attachments_for, talk_attachments_for
from checkins.rounds import plan_checkins, reminder_still_due, round_mail_still_due
from checkins.solo import MAIL_KIND, notice_mail_still_due
from checkins.talk import action_reminder_still_due, talk_time_still_due
from notifications import preferences, rendering, scheduler

# In the order a round goes: it opens, a nudge, the day before it closes, the partner's
# answer, both answered; then the talk.
PROMPT_KINDS = {
    "round_opened": ("A new check-in round opens", "Check-ins"),
    "nudge": ("A reminder to answer the check-in", "Check-ins"),
    "round_closing": ("The check-in closes tomorrow", "Check-ins"),
    "partner_answered": ("Your partner has answered the check-in", "Check-ins"),
    "ready_to_review": ("You have both answered: ready to review", "Check-ins"),
    "answering_paused": ("One note when you have not answered two check-ins", "Check-ins"),
    "talk_scheduled": ("The time you agreed for your talk (with a calendar entry)", "Your talk"),
    "action_item_due": ("An action item from your talk is due", "Your talk"),
}

scheduler.register_planner("checkins", plan_checkins)
for _kind, (_label, _group) in PROMPT_KINDS.items():
    preferences.register_prompt_kind(_kind, _label, group=_group)
# Mails that ask the recipient to answer: skipped when due if they answered meanwhile,
# or the round closed, or its couple space ended.
for _kind in ("nudge", "round_closing", "partner_answered"):
    preferences.register_still_due(_kind, reminder_still_due)
# The others go even to someone who answered (the calendar entry is still wanted),
# but never about a couple space that ended.
for _kind in ("round_opened", "ready_to_review"):
    preferences.register_still_due(_kind, round_mail_still_due)
# An action item done, a talk's time changed, before the mail about it went out.
preferences.register_still_due("action_item_due", action_reminder_still_due)
preferences.register_still_due("talk_scheduled", talk_time_still_due)
# "You have not answered two check-ins", once they answered one.
preferences.register_still_due(MAIL_KIND, notice_mail_still_due)
rendering.register_attachments("round_opened", attachments_for)
rendering.register_attachments("talk_scheduled", talk_attachments_for)
