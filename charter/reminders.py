"""What the charter asks of the scheduler: the review-day reminder's planner, its
prompt kind (one people can switch off) and its check when due. Listed in
tend/registry.py."""

from __future__ import annotations

from charter.review import KIND, LABEL, plan_review_reminders, review_reminder_still_due
from notifications.preferences import register_prompt_kind, register_still_due
from notifications.scheduler import register_planner

register_prompt_kind(KIND, LABEL, group="Agreements and the charter")
register_still_due(KIND, review_reminder_still_due)
register_planner("charter_reviews", plan_review_reminders)
