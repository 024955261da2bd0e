"""The composition root: every module that registers something when imported, in one place.

Registries live low (the scheduler's planners, the prompt kinds a person can switch off,
mail attachments, data exporters and erasers, the couple space's partner-joined hooks,
the accounts port of the mail machinery); the modules that fill them live above. The
readers of those registries import this module first (``infra.composition``), so every
process (web, CLI, scheduler, a test) sees the same, complete set.

What is registered, and where:

- accounts port (notifications.accounts_port.install):
  couples.accounts (does a person exist; the single-use sign-in link of a mail; a
  person's time zone as a SQL expression)
- planners (notifications.scheduler.register_planner):
  "checkins" in checkins.planners; "therapy_reminders" in agreements.reminders;
  "charter_reviews" in charter.reminders
- prompt kinds (notifications.preferences.register_prompt_kind, each under one of the
  Notifications page's headings, notifications.preferences.PROMPT_GROUPS):
  round_opened, nudge, round_closing, partner_answered, ready_to_review, answering_paused,
  talk_scheduled, action_item_due in checkins.planners (and, with
  notifications.preferences.register_still_due, the send-time checks of all eight);
  agreement_proposed, agreement_flagged, cooldown_started, cooldown_extended,
  cooldown_ended, therapy_appointment in agreements.reminders (with the send-time checks
  of all but cooldown_ended, which always still applies);
  charter_review_due in charter.reminders (with its send-time check)
- mail attachments (notifications.rendering.register_attachments):
  "round_opened" and "talk_scheduled" (the calendar invitations) in checkins.planners
- exporters and erasers (privacy.export.register_exporter, privacy.erase.register_eraser):
  "account" in privacy.export; "notifications" in privacy.mail_hooks;
  "agreements" in agreements.privacy_hooks; "checkins" and "talks" in checkins.privacy_hooks;
  "onboarding" in onboarding.service; "charter" in charter.privacy_hooks
- agreement kinds (agreements.templates.register_kind):
  "charter" in charter.consent
- check-in warning sources (checkins.warning_sources.register_warning_source) and the
  talk's root-cause sources (checkins.talk.register_root_cause_source): charter.warnings
- partner-joined hooks (couples.service.register_partner_joined_hook):
  "onboarding" in onboarding.service
- mail kinds (notifications.rendering.register_kind):
  report_proposed, report_shared in reports.mail (report_proposed a prompt kind too, with
  its send-time check)
- report sections (reports.sections.register_section): "charter" in tend.charter_report
  (the charter sits below the reports, so its section is registered from the top)
- exporters and erasers also: "reports" in reports.privacy_hooks
"""

from __future__ import annotations

import agreements.privacy_hooks
import agreements.reminders
import charter.consent
import charter.privacy_hooks
import charter.reminders
import charter.warnings
import checkins.planners
import checkins.privacy_hooks
import couples.accounts
import onboarding.service
import privacy.export
import privacy.mail_hooks
import reports.mail
import reports.privacy_hooks
import tend.charter_report

REGISTERING_MODULES = (
    couples.accounts,
    checkins.planners,
    agreements.reminders,
    privacy.export,
    privacy.mail_hooks,
    agreements.privacy_hooks,
    checkins.privacy_hooks,
    onboarding.service,
    charter.consent,
    charter.privacy_hooks,
    charter.reminders,
    charter.warnings,
    reports.mail,
    reports.privacy_hooks,
    tend.charter_report,
)
