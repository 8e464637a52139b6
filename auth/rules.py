"""What a username, an email and a password must look like (pure, no I/O)."""

from __future__ import annotations

import re

USERNAME = re.compile(r"[A-Za-z0-9_.-]{3,32}")
# Deliberately loose: one @, something on each side, a dot in the domain. The
# only real check of an address is mail reaching it.
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
MAX_EMAIL = 320
MIN_PASSWORD, MAX_PASSWORD = 8, 1024


def registration_problems(username: object, email: object, password: object) -> dict[str, str]:
    """Every bad field of a registration, by name; empty when all are good."""
    problems: dict[str, str] = {}
    if not isinstance(username, str) or not USERNAME.fullmatch(username):
        problems["username"] = "must be 3-32 characters of letters, digits, '_', '.' or '-'"
    if not isinstance(email, str) or len(email) > MAX_EMAIL or not EMAIL.fullmatch(email):
        problems["email"] = "must be an email address"
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        problems["password"] = f"must be {MIN_PASSWORD}-{MAX_PASSWORD} characters"
    return problems
