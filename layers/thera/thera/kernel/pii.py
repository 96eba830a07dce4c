"""Personal data in company records and pages: find it, keep it out of public places, mask it (pure).

The policy, applied by the gold and publish stages:

- Gold profile texts (description, page excerpt, the text sent for embedding) carry no
  e-mail address or phone number: they are replaced by ``[email]`` / ``[phone]``.
  Contacts found in the source go to the profile's ``emails`` / ``phones`` columns only.
- The public read model has an allow-list of company fields and no contact at all;
  a value that still looks like an e-mail or phone number is dropped from it.
- The private read model keeps role addresses (``info@``, ``sales@``: published by the
  company to be contacted) in full and masks personal addresses to their first letter
  and domain; phone numbers keep their country code and last four digits.
- Raw and silver objects keep what the source said; access to them is the lake's IAM.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

EMAIL = re.compile(r"(?<![\w.%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24}(?![\w-])")
# What counts as a phone number is decided by the candidate's digit count.
# Digit groups joined by single separators (each group must follow a separator, so matching stays linear).
_PHONE_CANDIDATE = re.compile(r"(?<![\w+.])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d+(?:[\s.-]\d+)*(?!\w)")
# Nine digits with at most two separator characters between neighbours: every phone number has
# such a run, most texts do not, and this one scan is far cheaper than matching candidates.
_NINE_DIGITS = re.compile(r"\d(?:[\s().+-]{0,2}\d){8}")
MIN_PHONE_DIGITS = 9  # fewer would take year ranges such as "2012-2020" (8 digits) for phone numbers
MAX_PHONE_DIGITS = 15  # E.164
MAX_CONTACTS = 10

ROLE_MAILBOXES = frozenset(
    {
        "admin",
        "careers",
        "contact",
        "enquiries",
        "hello",
        "help",
        "hi",
        "info",
        "inquiries",
        "investors",
        "jobs",
        "media",
        "office",
        "partners",
        "press",
        "sales",
        "support",
        "team",
    }
)


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def _is_phone(candidate: str) -> bool:
    return MIN_PHONE_DIGITS <= len(_digits(candidate)) <= MAX_PHONE_DIGITS


def find_emails(text: str) -> list[str]:
    if "@" not in text:
        return []
    return dedupe(m.group().lower() for m in EMAIL.finditer(text))


def find_phones(text: str) -> list[str]:
    if not _NINE_DIGITS.search(text):
        return []
    without_emails = EMAIL.sub(" ", text) if "@" in text else text
    return dedupe(m.group().strip() for m in _PHONE_CANDIDATE.finditer(without_emails) if _is_phone(m.group()))


def dedupe(values: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        seen.setdefault(value, None)
        if len(seen) == MAX_CONTACTS:
            break
    return list(seen)


def scrub(text: str) -> str:
    """The text with every e-mail address and phone number replaced by a placeholder."""
    if "@" in text:
        text = EMAIL.sub("[email]", text)
    if not _NINE_DIGITS.search(text):
        return text
    return _PHONE_CANDIDATE.sub(lambda m: "[phone]" if _is_phone(m.group()) else m.group(), text)


def contains_pii(text: str) -> bool:
    return scrub(text) != text


def is_role_address(email: str) -> bool:
    return email.split("@", 1)[0].lower() in ROLE_MAILBOXES


def mask_email(email: str) -> str:
    """Role addresses stay whole; a personal one keeps its first letter and its domain."""
    local, _, domain = email.lower().partition("@")
    if local in ROLE_MAILBOXES:
        return f"{local}@{domain}"
    return f"{local[:1]}{'*' * max(3, len(local) - 1)}@{domain}"


def mask_phone(phone: str) -> str:
    """``+55 (11) 91234-5678`` → ``+55 *******5678``: the country code and the last four digits."""
    digits = _digits(phone)
    country = ""
    match = re.match(r"\s*\+(\d{1,3})", phone)
    if match:
        country = f"+{match.group(1)} "
        digits = digits[len(match.group(1)) :]
    return f"{country}{'*' * max(0, len(digits) - 4)}{digits[-4:]}"
