"""Shared bits for the notification tests: a prompt kind with its own templates."""

from __future__ import annotations

from pathlib import Path

from notifications import preferences, rendering

TEST_PROMPT = "test_prompt"
TEMPLATES = Path(__file__).with_name("mail_templates")


def register_test_prompt() -> None:
    rendering.add_template_dir(TEMPLATES)
    rendering.register_kind(TEST_PROMPT)
    preferences.register_prompt_kind(TEST_PROMPT, "Test reminders", group="Check-ins")


def unregister_test_prompt() -> None:
    rendering.KINDS.pop(TEST_PROMPT, None)
    preferences.PROMPT_KINDS.pop(TEST_PROMPT, None)
    preferences.PROMPT_GROUP.pop(TEST_PROMPT, None)
