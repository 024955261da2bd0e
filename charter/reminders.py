"""What the charter asks of the scheduler: the review-day reminder's planner and its
prompt kind (one people can switch off). Listed in tend/registry.py."""

from __future__ import annotations

from charter.review import KIND, LABEL, plan_review_reminders
from notifications.preferences import register_prompt_kind
from notifications.scheduler import register_planner

register_prompt_kind(KIND, LABEL)
register_planner("charter_reviews", plan_review_reminders)
