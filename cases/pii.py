"""Personal data rules: validation of Chinese ID numbers and phones, and the masked forms shown to people.

Pure functions, no I/O. Masked forms are what the read model, the dashboard and the `summary` query
carry; the clear values only travel inside encrypted Temporal payloads and encrypted PostgreSQL columns.
"""

from __future__ import annotations

import re
from datetime import date

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"^\d{17}[\dX]$")
_MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE_RE = re.compile(r"^0\d{2,3}-?\d{7,8}$")


def id_number_check_digit(first17: str) -> str:
    """The GB 11643-1999 check character for the first 17 digits of a resident ID number."""
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def id_number_problem(value: str) -> str | None:
    """Why `value` is not a valid 18-digit resident ID number (GB 11643), or None if it is."""
    v = value.strip().upper()
    if not _ID_RE.match(v):
        return "must be 18 characters: 17 digits then a digit or X"
    try:
        date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        return f"birth date {v[6:14]} is not a real date"
    if id_number_check_digit(v[:17]) != v[17]:
        return "check digit does not match (GB 11643)"
    return None


def phone_problem(value: str) -> str | None:
    """Why `value` is not a mainland mobile (11 digits, 1[3-9]...) or landline (0xx-xxxxxxx), or None."""
    v = value.strip().replace(" ", "")
    if _MOBILE_RE.match(v) or _LANDLINE_RE.match(v):
        return None
    return "must be an 11-digit mobile number starting 13-19, or a landline like 0351-1234567"


def mask_id_number(value: str) -> str:
    """`140105199003071234` -> `1401**********1234`: region prefix and last four kept."""
    v = value.strip().upper()
    if len(v) <= 8:
        return "*" * len(v)
    return v[:4] + "*" * (len(v) - 8) + v[-4:]


def mask_phone(value: str) -> str:
    """`13812345678` -> `138****5678`; landlines keep the area code and last four."""
    v = value.strip().replace(" ", "")
    if len(v) <= 7:
        return "*" * len(v)
    return v[:3] + "*" * (len(v) - 7) + v[-4:]


def mask_name(value: str) -> str:
    """`张三丰` -> `张**`: the family name only."""
    v = value.strip()
    if not v:
        return ""
    return v[0] + "*" * max(1, len(v) - 1)


def mask_card_number(value: str) -> str:
    """Insurance card numbers keep their last four characters."""
    v = value.strip()
    if len(v) <= 4:
        return "*" * len(v)
    return "*" * (len(v) - 4) + v[-4:]
