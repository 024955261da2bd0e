"""What agreements ask of the scheduler: the prompts people can switch off, and the
planner for the day-before therapy reminder. Listed in tend/registry.py."""

from __future__ import annotations

from agreements.therapy import plan_therapy_reminders
from notifications.preferences import register_prompt_kind
from notifications.scheduler import register_planner

register_prompt_kind("agreement_proposed", "An agreement awaits your answer")
register_prompt_kind("agreement_flagged", "An agreement was flagged for review")
register_prompt_kind("cooldown_started", "Your partner started a cooldown")
register_prompt_kind("cooldown_extended", "Your partner extended a cooldown")
register_prompt_kind("cooldown_ended", "A cooldown ended early")
register_prompt_kind("therapy_appointment", "Therapy appointment tomorrow")
register_planner("therapy_reminders", plan_therapy_reminders)
