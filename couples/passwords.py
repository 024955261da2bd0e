"""Password hashing (argon2id) and the password rules.

The rules follow OWASP ASVS 2.1: at least 8 characters, long passwords welcome (up to
128), spaces and any Unicode allowed, no composition rules. What is refused is a
password that is easy to guess, estimated offline by zxcvbn (common passwords, words,
names, dates, keyboard patterns, repeats, and the person's own name and address)."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

MIN_LENGTH = 8
MAX_LENGTH = 128
# zxcvbn's scores: 3 means "safely unguessable" (at least 10^8 guesses). A partner who
# knows the person's name, pets and dates is the attacker Tend plans for, so 2
# ("somewhat guessable", e.g. "Pat Pat Pat" for Pat) is not enough.
MIN_SCORE = 3

# OWASP's minimum for argon2id: m=19456 KiB, t=2, p=1.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# Verified against for unknown emails so that both paths take the same time.
_DUMMY_HASH = _hasher.hash("tend-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def _personal_words(email: str, name: str) -> list[str]:
    """What a password must not lean on: the person's address, name, and their parts."""
    words = [email, name, *re.split(r"[\W_]+", f"{email} {name}")]
    return [w for w in dict.fromkeys(w.strip().lower() for w in words) if w]


def password_problem(password: str, *, email: str = "", name: str = "") -> str | None:
    """A message saying what is wrong with the password, or None if it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    estimate = zxcvbn(password, user_inputs=_personal_words(email, name), max_length=MAX_LENGTH)
    if estimate["score"] >= MIN_SCORE:
        return None
    feedback = estimate["feedback"]
    # The library's own advice, so the person knows what to change.
    lines = [feedback.get("warning") or "This password would be easy to guess."]
    if any(m.get("dictionary_name") == "user_inputs" for m in estimate["sequence"]):
        lines.append("Leave out your name and email address.")
    lines += feedback.get("suggestions") or []
    return " ".join(line.strip() for line in lines if line.strip())
